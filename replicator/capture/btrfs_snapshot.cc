#include "replicator/capture/btrfs_snapshot.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/magic.h>
#include <signal.h>
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

// Snapshots left by backups that crashed (their process is gone) would pin
// space and be walked by backups without --btrfs-snapshot: delete them.
void RemoveAbandonedSnapshots(int dirfd) {
  DIR* d = ::fdopendir(::dup(dirfd));
  if (!d) return;
  std::vector<std::string> abandoned;
  while (struct dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.rfind(kSnapshotPrefix, 0) != 0) continue;
    const pid_t pid = static_cast<pid_t>(std::atol(name.c_str() + sizeof kSnapshotPrefix - 1));
    if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) abandoned.push_back(name);
  }
  ::closedir(d);
  for (const auto& name : abandoned) (void)DestroySnapshot(dirfd, name);
}

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
  RemoveAbandonedSnapshots(dir.get());
  struct btrfs_ioctl_vol_args_v2 args;
  std::memset(&args, 0, sizeof args);
  args.fd = dir.get();
  args.flags = BTRFS_SUBVOL_RDONLY;
  std::strncpy(args.name, name.c_str(), sizeof args.name - 1);
  if (::ioctl(dir.get(), BTRFS_IOC_SNAP_CREATE_V2, &args) != 0)
    return Status::FromErrno(errno, "read-only btrfs snapshot of " + subvolume);
  return std::unique_ptr<BtrfsSnapshot>(new BtrfsSnapshot(subvolume, name, dev));
}

BtrfsSnapshot::~BtrfsSnapshot() {
  UniqueFd dir(::open(subvolume_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  Status s = dir.valid() ? DestroySnapshot(dir.get(), name_)
                         : Status::FromErrno(errno, "open " + subvolume_);
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
