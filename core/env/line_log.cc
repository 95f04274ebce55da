#include "core/env/line_log.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

#include "core/env/fd.h"
#include "core/env/file_io.h"

namespace dr {

namespace {

// Whether the file's last byte is a newline (true for an empty file).
Result<bool> EndsWithNewline(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::FromErrno(errno, "stat " + path);
  if (st.st_size == 0) return true;
  char last = 0;
  ASSIGN_OR_RETURN(size_t n, PreadFull(fd, &last, 1, st.st_size - 1, path));
  return n == 1 && last == '\n';
}

}  // namespace

Status AppendLogLine(const std::string& path, std::string_view record) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return Status::FromErrno(errno, "open " + path);
  ASSIGN_OR_RETURN(bool fresh_line, EndsWithNewline(fd.get(), path));
  const std::string line = (fresh_line ? "" : "\n") + std::string(record) + "\n";
  RETURN_IF_ERROR(WriteFull(fd.get(), line, "append " + path));
  return Fsync(fd.get(), path);
}

Status ReadLogLines(const std::string& path,
                    const std::function<Status(std::string_view line)>& decode,
                    std::vector<std::string>* warnings) {
  auto text = ReadWholeFile(path);
  if (!text.ok()) return text.status().IsNotFound() ? Status::OK() : text.status();
  size_t pos = 0, line_no = 0;
  while (pos < text->size()) {
    size_t end = text->find('\n', pos);
    const bool torn = end == std::string::npos;
    if (torn) end = text->size();
    const std::string_view line(text->data() + pos, end - pos);
    pos = end + 1;
    line_no++;
    if (line.empty()) continue;
    if (Status s = decode(line); !s.ok()) {
      warnings->push_back(
          path + ":" + std::to_string(line_no) + ": skipped: " +
          (torn ? "incomplete last line (a crash during an append?)" : s.message()));
    }
  }
  return Status::OK();
}

}  // namespace dr
