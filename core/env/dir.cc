#include "core/env/dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace dr {

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (dir.empty() || dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

std::string ProcFdPath(int dirfd, const std::string& name) {
  return "/proc/self/fd/" + std::to_string(dirfd) + "/" + name;
}

std::string ProcFdPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

Result<UniqueFd> OpenDirAt(int dirfd, const std::string& name, const std::string& display) {
  int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open directory " + display);
  return UniqueFd(fd);
}

Result<UniqueFd> OpenDirBelow(int dirfd, const std::vector<std::string>& components,
                              const std::string& display) {
  UniqueFd dir(::fcntl(dirfd, F_DUPFD_CLOEXEC, 0));
  if (!dir.valid()) return Status::FromErrno(errno, "open directory " + display);
  for (const std::string& name : components) {
    ASSIGN_OR_RETURN(dir, OpenDirAt(dir.get(), name, display));
  }
  return dir;
}

Result<std::vector<std::string>> ReadDirNames(int dirfd, const std::string& display) {
  int fd = ::dup(dirfd);
  if (fd < 0) return Status::FromErrno(errno, "read directory " + display);
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return Status::FromErrno(errno, "read directory " + display);
  }
  ::rewinddir(d);
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    names.emplace_back(e->d_name);
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return Status::FromErrno(err, "read directory " + display);
  std::sort(names.begin(), names.end());
  return names;
}

namespace {

// Deeper than any real tree; a planted deeper one is an error, not a
// descriptor per level until the process runs out.
constexpr int kMaxRemoveDepth = 256;

Status RemoveEntryBelow(int dirfd, const std::string& name, const std::string& display, int depth) {
  if (::unlinkat(dirfd, name.c_str(), 0) == 0 || errno == ENOENT) return Status::OK();
  const int unlink_errno = errno;
  struct stat st;
  if ((unlink_errno != EISDIR && unlink_errno != EPERM) ||
      ::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode))
    return Status::FromErrno(unlink_errno, "remove " + display);
  if (depth >= kMaxRemoveDepth)
    return Status::InvalidArgument("remove " + display + ": nested more than " +
                                   std::to_string(kMaxRemoveDepth) + " directories deep");
  ASSIGN_OR_RETURN(UniqueFd dir, OpenDirAt(dirfd, name, display));
  ASSIGN_OR_RETURN(std::vector<std::string> names, ReadDirNames(dir.get(), display));
  for (const std::string& child : names)
    RETURN_IF_ERROR(RemoveEntryBelow(dir.get(), child, JoinPath(display, child), depth + 1));
  if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
    return Status::FromErrno(errno, "remove directory " + display);
  return Status::OK();
}

}  // namespace

Status RemoveEntryAt(int dirfd, const std::string& name, const std::string& display) {
  return RemoveEntryBelow(dirfd, name, display, 0);
}

}  // namespace dr
