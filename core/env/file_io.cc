#include "core/env/file_io.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <random>

namespace dr {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Result<size_t> PreadFull(int fd, char* buf, size_t len, uint64_t offset, const std::string& what) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = ::pread(fd, buf + got, len - got, static_cast<off_t>(offset + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "read " + what);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return got;
}

Status PreadExact(int fd, char* buf, size_t len, uint64_t offset, const std::string& what) {
  ASSIGN_OR_RETURN(size_t got, PreadFull(fd, buf, len, offset, what));
  if (got == len) return Status::OK();
  return Status::Corruption(what + ": object is shorter than expected (wanted bytes " +
                            std::to_string(offset) + ".." + std::to_string(offset + len) +
                            ", got " + std::to_string(offset + got) + ")");
}

Status PwriteFull(int fd, std::string_view data, uint64_t offset, const std::string& what) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n =
        ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "write " + what);
    }
    done += static_cast<size_t>(n);
  }
  return Status::OK();
}

Status WriteFull(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "write " + what);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::OK();
}

Result<std::string> ReadWholeFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "open " + path);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Status::FromErrno(errno, "stat " + path);
  std::string out(static_cast<size_t>(st.st_size), '\0');
  ASSIGN_OR_RETURN(size_t got, PreadFull(fd.get(), out.data(), out.size(), 0, path));
  out.resize(got);
  return out;
}

Result<std::string> ReadFirstLine(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path));
  text.resize(std::min(text.size(), text.find('\n')));
  return text;
}

Status FsyncDir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "open directory " + dir);
  if (::fsync(fd.get()) != 0) return Status::FromErrno(errno, "fsync directory " + dir);
  return Status::OK();
}

Status Fsync(int fd, const std::string& what) {
  if (::fsync(fd) != 0) return Status::FromErrno(errno, "fsync " + what);
  return Status::OK();
}

namespace {

// Writes zeros over the data regions (SEEK_DATA/SEEK_HOLE) of [pos, end),
// in pieces no larger than one fixed buffer.
Status WriteZerosOverData(int fd, off_t pos, off_t end, const std::string& what) {
  static const std::string kZeros(1 << 20, '\0');
  while (pos < end) {
    off_t data = ::lseek(fd, pos, SEEK_DATA);
    if (data < 0 || data >= end) return Status::OK();  // ENXIO: no data up to the end
    off_t hole = std::min(::lseek(fd, data, SEEK_HOLE), end);
    if (hole <= data) hole = end;  // SEEK_HOLE failed: treat the rest as data
    for (pos = data; pos < hole;) {
      size_t n = static_cast<size_t>(std::min<off_t>(hole - pos, kZeros.size()));
      RETURN_IF_ERROR(
          PwriteFull(fd, std::string_view(kZeros.data(), n), static_cast<uint64_t>(pos), what));
      pos += static_cast<off_t>(n);
    }
  }
  return Status::OK();
}

}  // namespace

Status ZeroRange(int fd, uint64_t offset, uint64_t length, const std::string& what) {
  if (length == 0) return Status::OK();
  const auto start = static_cast<off_t>(offset), end = static_cast<off_t>(offset + length);
  // Already a hole (the usual case on a second restore): nothing to do.
  off_t data = ::lseek(fd, start, SEEK_DATA);
  if ((data < 0 && errno == ENXIO) || data >= end) return Status::OK();
  if (::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, start, end - start) == 0) {
    return Status::OK();
  }
  if (errno != EOPNOTSUPP && errno != ENOSYS)
    return Status::FromErrno(errno, "punch hole in " + what);
  return WriteZerosOverData(fd, start, end, what);
}

namespace {

constexpr std::string_view kTempPrefix = ".tmp.";

std::string TempName() {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::string(kTempPrefix) + std::to_string(::getpid()) + "." + std::to_string(counter++) +
         "." + std::to_string(rng() % 1000000);
}

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

std::string AtomicWriteTempName() { return TempName(); }

bool IsAtomicWriteTemp(std::string_view name) {
  return name.substr(0, kTempPrefix.size()) == kTempPrefix;
}

Status WriteFileAtomically(const std::string& path, std::string_view data, ReplaceMode mode,
                           unsigned mode_bits) {
  const std::string dir = DirOf(path);
  const std::string tmp = dir + "/" + TempName();
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_bits));
  if (!fd.valid()) return Status::FromErrno(errno, "create " + tmp);
  Status st = WriteFull(fd.get(), data, tmp);
  if (st.ok() && ::fsync(fd.get()) != 0) st = Status::FromErrno(errno, "fsync " + tmp);
  if (st.ok() && ::close(fd.release()) != 0) st = Status::FromErrno(errno, "close " + tmp);
  // rename replaces atomically; link refuses an existing name atomically.
  if (st.ok() && mode == ReplaceMode::kReplace && ::rename(tmp.c_str(), path.c_str()) != 0)
    st = Status::FromErrno(errno, "rename " + tmp + " to " + path);
  if (st.ok() && mode == ReplaceMode::kCreateIfAbsent && ::link(tmp.c_str(), path.c_str()) != 0)
    st = Status::FromErrno(errno, "create " + path);
  if (!st.ok() || mode == ReplaceMode::kCreateIfAbsent) ::unlink(tmp.c_str());
  RETURN_IF_ERROR(st);
  return FsyncDir(dir);
}

Result<UniqueFd> LockFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return Status::FromErrno(errno, "open " + path);
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return Status::FromErrno(errno, "lock " + path);
  }
  return fd;
}

}  // namespace dr
