#include "catalog/store/dir_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <random>

#include "core/env/fd.h"
#include "core/env/file_io.h"

namespace dr {

namespace fs = std::filesystem;

DirStore::DirStore(std::string root) : root_(std::move(root)) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

Status DirStore::EnsureDir(const std::string& dir) {
  {
    std::lock_guard l(dirs_mu_);
    if (durable_dirs_.count(dir)) return Status::OK();
  }
  std::string parent = fs::path(dir).parent_path();
  if (parent != dir && !parent.empty() && dir != root_) RETURN_IF_ERROR(EnsureDir(parent));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::FromErrno(errno, "create directory " + dir);
  }
  // The entry must be durable in its parent before anything inside it is
  // promised, even if another thread or process created it a moment ago: so
  // every directory is fsynced in its parent once per process, not just when
  // this call created it.
  RETURN_IF_ERROR(FsyncDir(parent.empty() ? "." : parent));
  std::lock_guard l(dirs_mu_);
  durable_dirs_.insert(dir);
  return Status::OK();
}

Status DirStore::Put(const std::string& key, std::string_view data) {
  return Write(key, data, /*exclusive=*/false);
}

Status DirStore::PutIfAbsent(const std::string& key, std::string_view data) {
  return Write(key, data, /*exclusive=*/true);
}

Status DirStore::Write(const std::string& key, std::string_view data, bool exclusive) {
  const std::string path = PathOf(key);
  const std::string dir = fs::path(path).parent_path();
  RETURN_IF_ERROR(EnsureDir(dir));
  return WriteFileAtomically(path, data,
                             exclusive ? ReplaceMode::kCreateIfAbsent : ReplaceMode::kReplace);
}

Result<std::string> DirStore::Get(const std::string& key) { return ReadWholeFile(PathOf(key)); }

DirStore::~DirStore() {
  for (auto& [path, fd] : read_fds_) ::close(fd);
}

Result<int> DirStore::CachedReadFd(const std::string& path) {
  constexpr size_t kMaxCachedFds = 64;
  std::lock_guard l(fds_mu_);
  auto it = read_fds_.find(path);
  if (it == read_fds_.end()) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::FromErrno(errno, "open " + path);
    if (read_fds_.size() >= kMaxCachedFds) {
      ::close(read_fds_.begin()->second);
      read_fds_.erase(read_fds_.begin());
    }
    it = read_fds_.emplace(path, fd).first;
  }
  // The caller gets its own duplicate, made under the lock, so an eviction by
  // another thread can never close (or recycle) the descriptor it reads.
  int dup = ::fcntl(it->second, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return Status::FromErrno(errno, "open " + path);
  return dup;
}

Status DirStore::ReadRangeInto(const std::string& key, uint64_t offset, uint64_t length,
                               char* out) {
  const std::string path = PathOf(key);
  ASSIGN_OR_RETURN(int dup, CachedReadFd(path));
  UniqueFd fd(dup);
  return PreadExact(fd.get(), out, length, offset, path);
}

Result<std::string> DirStore::GetRange(const std::string& key, uint64_t offset, uint64_t length) {
  std::string out(static_cast<size_t>(length), '\0');
  RETURN_IF_ERROR(ReadRangeInto(key, offset, length, out.data()));
  return out;
}

Result<std::vector<ObjectInfo>> DirStore::List(const std::string& prefix) {
  std::vector<ObjectInfo> out;
  // Walk the deepest directory named by the prefix, then filter by the rest.
  std::string dir_part =
      prefix.substr(0, prefix.rfind('/') == std::string::npos ? 0 : prefix.rfind('/'));
  fs::path start = dir_part.empty() ? fs::path(root_) : fs::path(root_) / dir_part;
  std::error_code ec;
  if (!fs::exists(start, ec)) return out;
  fs::recursive_directory_iterator it(start, ec), end;
  if (ec) return Status::FromErrno(ec.value(), "list " + start.string());
  for (; it != end; it.increment(ec)) {
    if (ec) return Status::FromErrno(ec.value(), "list " + start.string());
    if (!it->is_regular_file(ec)) continue;
    std::string name = it->path().filename();
    if (IsAtomicWriteTemp(name)) continue;
    std::string key = fs::relative(it->path(), root_, ec).generic_string();
    if (key.rfind(prefix, 0) != 0) continue;
    out.push_back({key, it->file_size(ec)});
  }
  return out;
}

Status DirStore::Delete(const std::string& key) {
  const std::string path = PathOf(key);
  {
    std::lock_guard l(fds_mu_);
    auto it = read_fds_.find(path);
    if (it != read_fds_.end()) {
      ::close(it->second);
      read_fds_.erase(it);
    }
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Status::FromErrno(errno, "delete " + path);
  }
  return FsyncDir(fs::path(path).parent_path());
}

Result<uint64_t> DirStore::Size(const std::string& key) {
  struct stat st;
  const std::string path = PathOf(key);
  if (::stat(path.c_str(), &st) != 0) return Status::FromErrno(errno, "stat " + path);
  return static_cast<uint64_t>(st.st_size);
}

Result<int> DirStore::RemoveLeftovers(std::chrono::seconds min_age) {
  int removed = 0;
  std::error_code ec;
  if (!fs::exists(root_, ec)) return 0;
  const time_t cutoff = ::time(nullptr) - static_cast<time_t>(min_age.count());
  for (fs::recursive_directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec)) {
    struct stat st;
    if (!IsAtomicWriteTemp(it->path().filename().string()) || ::lstat(it->path().c_str(), &st) != 0)
      continue;
    if (st.st_mtime <= cutoff && ::unlink(it->path().c_str()) == 0) ++removed;
  }
  if (ec) return Status::FromErrno(ec.value(), "list " + root_);
  return removed;
}

}  // namespace dr
