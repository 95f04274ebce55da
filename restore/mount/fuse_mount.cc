#define FUSE_USE_VERSION 35
#include "restore/mount/fuse_mount.h"

#include <fcntl.h>
#include <fuse.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace dr {

namespace {

SnapshotFs* Fs() { return static_cast<SnapshotFs*>(fuse_get_context()->private_data); }

// `invalid` is what InvalidArgument means for this operation (ENOTDIR on a
// lookup through a file, EINVAL for readlink of a non-link).
int Errno(const Status& s, int invalid = ENOTDIR) {
  switch (s.code()) {
    case Code::kNotFound:
      return ENOENT;
    case Code::kInvalidArgument:
      return invalid;
    case Code::kPermissionDenied:
      return EACCES;
    default:
      // Damage or an unreachable store: say what, once per failure; the
      // reader only gets EIO.
      std::fprintf(stderr, "mount: %s\n", s.message().c_str());
      return EIO;
  }
}

timespec Timespec(int64_t ns) {
  return {static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

void Fill(const FsAttr& a, struct stat* st) {
  std::memset(st, 0, sizeof *st);
  st->st_ino = a.ino;
  st->st_mode = a.mode;
  st->st_nlink = a.nlink;
  st->st_uid = a.uid;
  st->st_gid = a.gid;
  st->st_size = static_cast<off_t>(a.size);
  st->st_rdev = a.rdev;
  st->st_blksize = 4096;
  st->st_blocks = static_cast<blkcnt_t>((a.stored + 511) / 512);
  st->st_mtim = st->st_atim = Timespec(a.mtime_ns);
  st->st_ctim = Timespec(a.ctime_ns);
}

void* Init(fuse_conn_info*, fuse_config* cfg) {
  cfg->use_ino = 1;
  cfg->kernel_cache = 1;  // snapshots never change
  // New snapshots show up within a second; entries inside never change.
  cfg->entry_timeout = cfg->attr_timeout = 1.0;
  cfg->negative_timeout = 0;
  return fuse_get_context()->private_data;
}

int GetAttr(const char* path, struct stat* st, fuse_file_info*) {
  auto a = Fs()->GetAttr(path);
  if (!a.ok()) return -Errno(a.status());
  Fill(*a, st);
  return 0;
}

int ReadLink(const char* path, char* buf, size_t size) {
  auto target = Fs()->ReadLink(path);
  if (!target.ok()) return -Errno(target.status(), EINVAL);
  if (size == 0) return -EINVAL;
  const size_t n = std::min(size - 1, target->size());
  std::memcpy(buf, target->data(), n);
  buf[n] = '\0';
  return 0;
}

int Open(const char* path, fuse_file_info* fi) {
  if ((fi->flags & O_ACCMODE) != O_RDONLY) return -EROFS;
  auto handle = Fs()->Open(path);
  if (!handle.ok()) return -Errno(handle.status(), EINVAL);
  fi->fh = *handle;
  fi->keep_cache = 1;
  return 0;
}

int Read(const char*, char* buf, size_t size, off_t offset, fuse_file_info* fi) {
  auto n = Fs()->Read(fi->fh, static_cast<uint64_t>(offset), size, buf);
  if (!n.ok()) return -Errno(n.status(), EIO);
  return static_cast<int>(*n);
}

off_t Lseek(const char*, off_t offset, int whence, fuse_file_info* fi) {
  if (whence != SEEK_DATA && whence != SEEK_HOLE) return -EINVAL;  // the kernel does the rest
  if (offset < 0) return -ENXIO;
  auto at = Fs()->Seek(fi->fh, static_cast<uint64_t>(offset), whence == SEEK_DATA);
  if (!at.ok()) return at.status().IsNotFound() ? -ENXIO : -Errno(at.status(), EINVAL);
  return static_cast<off_t>(*at);
}

int Release(const char*, fuse_file_info* fi) {
  Fs()->Release(fi->fh);
  return 0;
}

int ReadDir(const char* path, void* buf, fuse_fill_dir_t fill, off_t, fuse_file_info*,
            fuse_readdir_flags) {
  auto entries = Fs()->ReadDir(path);
  if (!entries.ok()) return -Errno(entries.status());
  fill(buf, ".", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  fill(buf, "..", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  struct stat st;
  for (const FsEntry& e : *entries) {
    Fill(e.attr, &st);
    if (fill(buf, e.name.c_str(), &st, 0, static_cast<fuse_fill_dir_flags>(0))) break;
  }
  return 0;
}

int GetXattr(const char* path, const char* name, char* value, size_t size) {
  auto xattrs = Fs()->Xattrs(path);
  if (!xattrs.ok()) return -Errno(xattrs.status());
  for (const auto& [k, v] : *xattrs) {
    if (k != name) continue;
    if (size == 0) return static_cast<int>(v.size());
    if (size < v.size()) return -ERANGE;
    std::memcpy(value, v.data(), v.size());
    return static_cast<int>(v.size());
  }
  return -ENODATA;
}

int ListXattr(const char* path, char* list, size_t size) {
  auto xattrs = Fs()->Xattrs(path);
  if (!xattrs.ok()) return -Errno(xattrs.status());
  std::string names;
  for (const auto& [k, v] : *xattrs)
    if (k.find('\0') == std::string::npos) names.append(k).push_back('\0');
  if (size == 0) return static_cast<int>(names.size());
  if (size < names.size()) return -ERANGE;
  std::memcpy(list, names.data(), names.size());
  return static_cast<int>(names.size());
}

int StatFs(const char*, struct statvfs* st) {
  std::memset(st, 0, sizeof *st);
  st->f_bsize = st->f_frsize = 4096;
  st->f_namemax = 255;
  return 0;
}

// Options separated by commas must not contain one: a repository URL may.
std::string OptionSafe(std::string s) {
  for (char& c : s)
    if (c == ',' || c == '\\') c = '_';
  return s;
}

}  // namespace

Status ServeMount(SnapshotFs& fs, const MountOptions& options) {
  fuse_operations ops{};
  ops.init = Init;
  ops.getattr = GetAttr;
  ops.readlink = ReadLink;
  ops.open = Open;
  ops.read = Read;
  ops.release = Release;
  ops.lseek = Lseek;
  ops.readdir = ReadDir;
  ops.getxattr = GetXattr;
  ops.listxattr = ListXattr;
  ops.statfs = StatFs;

  const std::string opts = "ro,nodev,nosuid,noexec,noatime,default_permissions,subtype=dr,fsname=" +
                           OptionSafe(options.source.empty() ? "dr" : options.source);
  fuse_args args = FUSE_ARGS_INIT(0, nullptr);
  for (const char* a : {"drctl-mount", "-o", opts.c_str()}) {
    if (fuse_opt_add_arg(&args, a) != 0) return Status::NoSpace("out of memory for FUSE options");
  }
  fuse* f = fuse_new(&args, &ops, sizeof ops, &fs);
  fuse_opt_free_args(&args);
  if (!f) return Status::InvalidArgument("FUSE refused the mount options " + opts);
  if (fuse_mount(f, options.mountpoint.c_str()) != 0) {
    fuse_destroy(f);
    return Status::IOError("cannot mount at " + options.mountpoint +
                           " (is /dev/fuse there, and may this user mount? fuse3 must be "
                           "installed)");
  }
  fuse_session* se = fuse_get_session(f);
  Status result;
  if (fuse_set_signal_handlers(se) != 0) {
    result = Status::IOError("cannot install the signal handlers of the mount");
  } else {
    if (options.on_mounted) options.on_mounted();
    fuse_loop_config config{};
    config.clone_fd = 0;
    config.max_idle_threads = 8;
    if (fuse_loop_mt(f, &config) != 0)
      result = Status::IOError("the mount at " + options.mountpoint + " failed while serving");
    fuse_remove_signal_handlers(se);
  }
  fuse_unmount(f);
  fuse_destroy(f);
  return result;
}

}  // namespace dr
