#include "restore/files/metadata.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>

#include "core/env/dir.h"

namespace dr {

namespace {

// An O_PATH descriptor (symlinks, FIFOs, devices) refuses fchmod, futimens
// and fsetxattr. For those the /proc/self/fd magic link stands in: following
// it reaches the descriptor's own inode and nothing beyond, not even when
// that inode is a symlink.
bool IsPathOnly(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && (flags & O_PATH) != 0;
}

Status SetOwner(int fd, const Node& node, const std::string& display) {
  // AT_EMPTY_PATH: the descriptor's inode itself, O_PATH ones included.
  if (::fchownat(fd, "", node.uid, node.gid, AT_EMPTY_PATH) == 0) return Status::OK();
  // Only root may give files away; as another user, keeping our own
  // ownership is the expected result (like tar and restic).
  if (errno == EPERM && ::geteuid() != 0) return Status::OK();
  return Status::FromErrno(errno, "set owner of " + display);
}

Status SetXattrs(int fd, bool path_only, const Node& node, const std::string& display) {
  const std::string proc = ProcFdPath(fd);
  for (const auto& [key, value] : node.xattrs) {
    int rc = path_only ? ::setxattr(proc.c_str(), key.c_str(), value.data(), value.size(), 0)
                       : ::fsetxattr(fd, key.c_str(), value.data(), value.size(), 0);
    if (rc != 0)
      return Status::FromErrno(errno, "set extended attribute " + key + " of " + display);
  }
  return Status::OK();
}

Status SetMode(int fd, bool path_only, const Node& node, const std::string& display) {
  int rc = path_only ? ::fchmodat(AT_FDCWD, ProcFdPath(fd).c_str(), node.mode, 0)
                     : ::fchmod(fd, node.mode);
  if (rc != 0) return Status::FromErrno(errno, "set mode of " + display);
  return Status::OK();
}

// The atime is set to the mtime: atime is not recorded.
Status SetTimes(int fd, bool path_only, const Node& node, const std::string& display) {
  struct timespec times[2];
  times[0].tv_sec = times[1].tv_sec = node.mtime_ns / 1000000000;
  times[0].tv_nsec = times[1].tv_nsec = node.mtime_ns % 1000000000;
  if (times[0].tv_nsec < 0) {
    times[0].tv_nsec = times[1].tv_nsec += 1000000000;
    times[0].tv_sec = times[1].tv_sec -= 1;
  }
  int rc =
      path_only ? ::utimensat(AT_FDCWD, ProcFdPath(fd).c_str(), times, 0) : ::futimens(fd, times);
  if (rc != 0) return Status::FromErrno(errno, "set times of " + display);
  return Status::OK();
}

}  // namespace

Status ApplyMetadata(int fd, const Node& node, const std::string& display) {
  const bool path_only = IsPathOnly(fd);
  RETURN_IF_ERROR(SetOwner(fd, node, display));
  RETURN_IF_ERROR(SetXattrs(fd, path_only, node, display));
  if (node.type != NodeType::kSymlink) RETURN_IF_ERROR(SetMode(fd, path_only, node, display));
  return SetTimes(fd, path_only, node, display);
}

}  // namespace dr
