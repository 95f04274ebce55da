#include "catalog/live_node.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>

#include "core/env/xattr.h"
#include "core/hash.h"

namespace dr {

int64_t StatMtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}
int64_t StatCtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
}

NodeType NodeTypeOf(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFDIR:
      return NodeType::kDir;
    case S_IFLNK:
      return NodeType::kSymlink;
    case S_IFIFO:
      return NodeType::kFifo;
    case S_IFCHR:
      return NodeType::kCharDev;
    case S_IFBLK:
      return NodeType::kBlockDev;
    case S_IFSOCK:
      return NodeType::kSocket;
    default:
      return NodeType::kFile;
  }
}

uint64_t HardlinkGroupOf(const struct stat& st) {
  std::string key(16, '\0');
  uint64_t dev = st.st_dev, ino = st.st_ino;
  std::memcpy(key.data(), &dev, 8);
  std::memcpy(key.data() + 8, &ino, 8);
  return Checksum64(key) | 1;
}

namespace {

// uid/gid -> name lookups are slow (NSS); cache them for the process.
std::string CachedName(bool user, uint32_t id) {
  static std::mutex mu;
  static std::map<std::pair<bool, uint32_t>, std::string> cache;
  std::lock_guard l(mu);
  auto [it, inserted] = cache.try_emplace({user, id});
  if (!inserted) return it->second;
  char buf[4096];
  if (user) {
    struct passwd pw, *res = nullptr;
    if (getpwuid_r(id, &pw, buf, sizeof buf, &res) == 0 && res) it->second = res->pw_name;
  } else {
    struct group gr, *res = nullptr;
    if (getgrgid_r(id, &gr, buf, sizeof buf, &res) == 0 && res) it->second = res->gr_name;
  }
  return it->second;
}

}  // namespace

Status ReadNodeMeta(int dirfd, const std::string& name, const struct stat& st,
                    const std::string& display, Node* node, const Node* previous) {
  node->name = name;
  node->type = NodeTypeOf(st.st_mode);
  node->mode = st.st_mode & 07777;
  node->uid = st.st_uid;
  node->gid = st.st_gid;
  node->user = CachedName(true, st.st_uid);
  node->group = CachedName(false, st.st_gid);
  node->mtime_ns = StatMtimeNs(st);
  node->ctime_ns = StatCtimeNs(st);
  node->device = st.st_dev;
  node->inode = st.st_ino;
  node->nlink = st.st_nlink;
  node->size = node->type == NodeType::kFile ? static_cast<uint64_t>(st.st_size) : 0;
  node->rdev = (node->type == NodeType::kCharDev || node->type == NodeType::kBlockDev)
                   ? static_cast<uint64_t>(st.st_rdev)
                   : 0;
  node->hardlink_group =
      (node->type != NodeType::kDir && st.st_nlink > 1) ? HardlinkGroupOf(st) : 0;
  if (node->type == NodeType::kSymlink) {
    std::string target(static_cast<size_t>(st.st_size > 0 ? st.st_size : 256) + 1, '\0');
    for (;;) {
      ssize_t n = ::readlinkat(dirfd, name.c_str(), target.data(), target.size());
      if (n < 0) return Status::FromErrno(errno, "read symlink " + display);
      if (static_cast<size_t>(n) < target.size()) {
        target.resize(static_cast<size_t>(n));
        break;
      }
      target.resize(target.size() * 2);
    }
    node->link_target = std::move(target);
  }
  if (previous && previous->type == node->type && previous->inode == node->inode &&
      previous->ctime_ns == node->ctime_ns) {
    node->xattrs = previous->xattrs;
    return Status::OK();
  }
  ASSIGN_OR_RETURN(node->xattrs, ReadXattrs(dirfd, name, display));
  return Status::OK();
}

}  // namespace dr
