// Reading the source file system through directory file descriptors
// (openat/fstatat), so paths longer than PATH_MAX and names that are arbitrary
// bytes work. Nothing here follows a symlink.
#pragma once

#include <sys/stat.h>

#include <string>
#include <vector>

#include "catalog/tree.h"
#include "core/status.h"

namespace dr {

// Owns a file descriptor; closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    reset(o.release());
    return *this;
  }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// Opens `name` in `dirfd` as a directory without following symlinks.
Result<UniqueFd> OpenDirAt(int dirfd, const std::string& name, const std::string& display);
// Names in the directory, sorted bytewise, without "." and "..".
Result<std::vector<std::string>> ReadDirNames(int dirfd, const std::string& display);

// Fills the metadata fields of `node` (not content, digest or subtree) from
// `st` plus the symlink target and extended attributes read via `dirfd`.
// When `previous` (the entry in the parent snapshot) has the same type, inode
// and ctime, its xattrs are reused unread: changing an xattr changes ctime.
Status ReadNodeMeta(int dirfd, const std::string& name, const struct stat& st,
                    const std::string& display, Node* node, const Node* previous = nullptr);

// A path under /proc/self/fd that names `name` inside `dirfd` without
// resolving the directory's own (possibly over-long) path.
std::string ProcFdPath(int dirfd, const std::string& name);

// Reads / writes extended attributes of the entry (not following symlinks).
Result<std::vector<std::pair<std::string, std::string>>> ReadXattrs(int dirfd,
                                                                    const std::string& name,
                                                                    const std::string& display);

int64_t StatMtimeNs(const struct stat& st);
int64_t StatCtimeNs(const struct stat& st);
NodeType NodeTypeOf(mode_t mode);
// Stable nonzero id for a hard-link group (same device and inode).
uint64_t HardlinkGroupOf(const struct stat& st);

// Joins a display path and a name for messages ("/" + name at the root).
std::string JoinPath(const std::string& dir, const std::string& name);

}  // namespace dr
