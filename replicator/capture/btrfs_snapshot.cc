#include "replicator/capture/btrfs_snapshot.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "catalog/live_node.h"
#include "core/env/dir.h"
#include "core/env/fd.h"
#include "core/env/file_io.h"
#include "core/env/xattr.h"

namespace dr {
namespace {

constexpr ino_t kSubvolumeRootInode = 256;  // BTRFS_FIRST_FREE_OBJECTID

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string UnescapeMountField(const std::string& f) {
  std::string out;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] == '\\' && i + 3 < f.size()) {
      out.push_back(
          static_cast<char>((f[i + 1] - '0') * 64 + (f[i + 2] - '0') * 8 + (f[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(f[i]);
    }
  }
  return out;
}

constexpr char kSnapshotPrefix[] = ".dr-snapshot-";

Status DestroySnapshot(int dirfd, const std::string& name) {
  struct btrfs_ioctl_vol_args args;
  std::memset(&args, 0, sizeof args);
  std::strncpy(args.name, name.c_str(), sizeof args.name - 1);
  if (::ioctl(dirfd, BTRFS_IOC_SNAP_DESTROY, &args) != 0)
    return Status::FromErrno(errno, "delete btrfs snapshot " + name);
  return Status::OK();
}

// Each snapshot's owner holds a shared flock on the snapshot's directory
// for as long as it uses it; the kernel drops it when the owner dies, however
// it dies. A snapshot nobody holds was left by a backup that crashed: it
// would pin space and be walked by backups without --btrfs-snapshot, so it is
// deleted. (A process id says nothing here: the owner may run in another PID
// namespace, or its id may have been reused.) Called with the subvolume
// root locked (SubvolumeLock), so no snapshot is seen between its creation
// and its owner's lock.
void RemoveAbandonedSnapshots(int dirfd) {
  auto names = ReadDirNames(dirfd, "subvolume root");
  if (!names.ok()) return;
  for (const auto& name : *names) {
    if (name.rfind(kSnapshotPrefix, 0) != 0) continue;
    UniqueFd snap(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!snap.valid() || ::flock(snap.get(), LOCK_EX | LOCK_NB) != 0) continue;  // in use
    snap.reset();
    (void)DestroySnapshot(dirfd, name);
  }
}

// An exclusive flock on the subvolume root while snapshots are created,
// locked, cleaned up or deleted.
class SubvolumeLock {
 public:
  explicit SubvolumeLock(int dirfd) : fd_(dirfd) { ok_ = ::flock(fd_, LOCK_EX) == 0; }
  ~SubvolumeLock() {
    if (ok_) ::flock(fd_, LOCK_UN);
  }
  bool ok() const { return ok_; }

 private:
  int fd_;
  bool ok_;
};

}  // namespace

std::vector<std::string> MountPointsUnder(const std::vector<std::string>& paths) {
  std::vector<std::string> found;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, mount_point;
    if (!(fields >> id >> parent >> devno >> root >> mount_point)) continue;
    mount_point = UnescapeMountField(mount_point);
    for (const auto& p : paths) {
      const std::string prefix = p == "/" ? "/" : p + "/";
      if (mount_point != p && mount_point.rfind(prefix, 0) == 0) {
        found.push_back(mount_point);
        break;
      }
    }
  }
  return found;
}

Result<std::unique_ptr<BtrfsSnapshot>> BtrfsSnapshot::Create(const std::string& path) {
  struct statfs fsinfo;
  if (::statfs(path.c_str(), &fsinfo) != 0) return Status::FromErrno(errno, "statfs " + path);
  if (fsinfo.f_type != BTRFS_SUPER_MAGIC)
    return Status::InvalidArgument(path + " is not on btrfs; a btrfs snapshot cannot be taken");
  // The subvolume root is the nearest ancestor (or the path) with inode 256
  // on the same device: each subvolume has its own st_dev.
  std::filesystem::path p = std::filesystem::path(path).lexically_normal();
  struct stat st;
  if (::stat(p.c_str(), &st) != 0) return Status::FromErrno(errno, "stat " + path);
  if (!S_ISDIR(st.st_mode)) p = p.parent_path();
  const dev_t dev = st.st_dev;
  for (;;) {
    if (::stat(p.c_str(), &st) != 0) return Status::FromErrno(errno, "stat " + p.string());
    if (st.st_dev != dev) return Status::InvalidArgument("no btrfs subvolume root above " + path);
    if (st.st_ino == kSubvolumeRootInode) break;
    if (p == p.root_path()) return Status::InvalidArgument("no btrfs subvolume root above " + path);
    p = p.parent_path();
  }
  const std::string subvolume = p.string();
  static std::atomic<int> counter{0};
  const std::string name =
      kSnapshotPrefix + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  UniqueFd dir(::open(subvolume.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return Status::FromErrno(errno, "open " + subvolume);
  SubvolumeLock lock(dir.get());
  if (!lock.ok()) return Status::FromErrno(errno, "lock " + subvolume);
  RemoveAbandonedSnapshots(dir.get());
  struct btrfs_ioctl_vol_args_v2 args;
  std::memset(&args, 0, sizeof args);
  args.fd = dir.get();
  args.flags = BTRFS_SUBVOL_RDONLY;
  std::strncpy(args.name, name.c_str(), sizeof args.name - 1);
  if (::ioctl(dir.get(), BTRFS_IOC_SNAP_CREATE_V2, &args) != 0)
    return Status::FromErrno(errno, "read-only btrfs snapshot of " + subvolume);
  UniqueFd held(::openat(dir.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!held.valid() || ::flock(held.get(), LOCK_SH) != 0) {
    Status s = Status::FromErrno(errno, "lock btrfs snapshot " + subvolume + "/" + name);
    (void)DestroySnapshot(dir.get(), name);
    return s;
  }
  return std::unique_ptr<BtrfsSnapshot>(new BtrfsSnapshot(subvolume, name, dev, std::move(held)));
}

BtrfsSnapshot::~BtrfsSnapshot() {
  UniqueFd dir(::open(subvolume_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  Status s = Status::OK();
  if (dir.valid()) {
    SubvolumeLock lock(dir.get());
    held_.reset();  // our lock on the snapshot: nobody can take it over now
    s = DestroySnapshot(dir.get(), name_);
  } else {
    s = Status::FromErrno(errno, "open " + subvolume_);
  }
  if (!s.ok()) {
    std::fprintf(stderr,
                 "warning: could not delete btrfs snapshot %s/%s (%s); the next "
                 "--btrfs-snapshot backup of it removes it\n",
                 subvolume_.c_str(), name_.c_str(), s.message().c_str());
  }
}

bool BtrfsSnapshot::Holds(const std::string& path) const {
  struct stat st;
  const std::string prefix = subvolume_ == "/" ? "/" : subvolume_ + "/";
  return (path == subvolume_ || path.rfind(prefix, 0) == 0) && ::lstat(path.c_str(), &st) == 0 &&
         st.st_dev == dev_;
}

std::string BtrfsSnapshot::Translate(const std::string& path) const {
  const std::string root = (subvolume_ == "/" ? "" : subvolume_) + "/" + name_;
  if (path == subvolume_) return root;
  return root + path.substr(subvolume_ == "/" ? 0 : subvolume_.size());
}

}  // namespace dr
