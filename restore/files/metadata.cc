#include "restore/files/metadata.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>

#include "catalog/live_node.h"
#include "core/env/dir.h"
#include "core/env/fd.h"
#include "core/env/file_io.h"
#include "core/env/xattr.h"

namespace dr {

Status ApplyMetadata(int dirfd, const std::string& name, int fd, const Node& node,
                     const std::string& display) {
  const bool is_link = node.type == NodeType::kSymlink;
  int rc = fd >= 0 ? ::fchown(fd, node.uid, node.gid)
                   : ::fchownat(dirfd, name.c_str(), node.uid, node.gid, AT_SYMLINK_NOFOLLOW);
  // Only root may give files away; as another user, keeping our own
  // ownership is the expected result (like tar and restic).
  if (rc != 0 && !(errno == EPERM && ::geteuid() != 0)) {
    return Status::FromErrno(errno, "set owner of " + display);
  }
  const std::string proc =
      fd >= 0 ? "/proc/self/fd/" + std::to_string(fd) : ProcFdPath(dirfd, name);
  for (const auto& [key, value] : node.xattrs) {
    rc = fd >= 0 ? ::fsetxattr(fd, key.c_str(), value.data(), value.size(), 0)
                 : ::lsetxattr(proc.c_str(), key.c_str(), value.data(), value.size(), 0);
    if (rc != 0)
      return Status::FromErrno(errno, "set extended attribute " + key + " of " + display);
  }
  if (!is_link) {
    rc = fd >= 0 ? ::fchmod(fd, node.mode) : ::fchmodat(dirfd, name.c_str(), node.mode, 0);
    if (rc != 0) return Status::FromErrno(errno, "set mode of " + display);
  }
  struct timespec times[2];
  times[0].tv_sec = times[1].tv_sec = node.mtime_ns / 1000000000;
  times[0].tv_nsec = times[1].tv_nsec = node.mtime_ns % 1000000000;
  if (times[0].tv_nsec < 0) {
    times[0].tv_nsec = times[1].tv_nsec += 1000000000;
    times[0].tv_sec = times[1].tv_sec -= 1;
  }
  rc = fd >= 0 ? ::futimens(fd, times)
               : ::utimensat(dirfd, name.c_str(), times, AT_SYMLINK_NOFOLLOW);
  if (rc != 0) return Status::FromErrno(errno, "set times of " + display);
  return Status::OK();
}

}  // namespace dr
