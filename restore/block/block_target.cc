#include "restore/block/block_target.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <list>
#include <rbd/librbd.hpp>

#include "catalog/store/rados_store.h"
#include "core/env/dir.h"
#include "core/env/fd.h"
#include "core/env/file_io.h"

namespace dr {
namespace {

std::string TooSmall(const std::string& what, uint64_t have, uint64_t need) {
  return what + " holds " + std::to_string(have) + " bytes, the snapshot needs " +
         std::to_string(need) + ": the target is too small";
}

Status WriteFully(int fd, uint64_t offset, std::string_view data, const std::string& name) {
  return PwriteFull(fd, data, offset, name + " at offset " + std::to_string(offset));
}

class FdTarget : public BlockTarget {
 public:
  // `created`: a new sparse file, zero throughout.
  FdTarget(int fd, std::string name, bool device, bool created)
      : fd_(fd), name_(std::move(name)), device_(device), created_(created) {}
  ~FdTarget() override { ::close(fd_); }
  const std::string& name() const override { return name_; }
  bool starts_zeroed() const override { return created_; }
  Status Write(uint64_t offset, std::string_view data) override {
    return WriteFully(fd_, offset, data, name_);
  }
  Status Zero(uint64_t offset, uint64_t len) override {
    if (created_) return Status::OK();  // a new sparse file is zero already
    if (!device_) return ZeroRange(fd_, offset, len, name_);
    uint64_t range[2] = {offset, len};
    if (::ioctl(fd_, BLKZEROOUT, range) == 0) return Status::OK();
    if (errno != EOPNOTSUPP && errno != ENOTTY && errno != EINVAL)
      return Status::FromErrno(errno, "zeroing " + name_ + " at offset " + std::to_string(offset));
    std::string zeros(len, '\0');  // a device that cannot zero by itself
    return WriteFully(fd_, offset, zeros, name_);
  }
  Status Finish() override {
    if (::fsync(fd_) != 0) return Status::FromErrno(errno, "fsync " + name_);
    if (!device_) {
      // The new file's name must be durable too.
      const std::string dir = std::filesystem::path(name_).parent_path().string();
      RETURN_IF_ERROR(FsyncDir(dir.empty() ? "." : dir));
    }
    return Status::OK();
  }
  void Abandon() override {
    if (created_) ::unlink(name_.c_str());
  }

 private:
  int fd_;
  std::string name_;
  bool device_, created_;
};

class RbdTarget : public BlockTarget {
 public:
  RbdTarget(RadosConnection c, std::string name) : conn_(std::move(c)), name_(std::move(name)) {}
  ~RbdTarget() override { image_.close(); }

  // Opens the image, creating it with `length` bytes when it does not exist.
  Status Open(const std::string& image_name, uint64_t length) {
    librbd::RBD rbd;
    int r = rbd.open(conn_.io, image_, image_name.c_str());
    if (r == -ENOENT) {
      int order = 22;  // 4 MiB objects, Ceph's default
      r = rbd.create2(conn_.io, image_name.c_str(), length, RBD_FEATURE_LAYERING, &order);
      if (r < 0) return Status::FromErrno(-r, "create RBD image " + name_);
      created_ = true;
      r = rbd.open(conn_.io, image_, image_name.c_str());
    }
    if (r < 0) return Status::FromErrno(-r, "open RBD image " + name_);
    uint64_t size = 0;
    r = image_.size(&size);
    if (r < 0) return Status::FromErrno(-r, "size of RBD image " + name_);
    if (size < length) return Status::InvalidArgument(TooSmall("RBD image " + name_, size, length));
    // Like O_EXCL for a device: an image another client has open (a running
    // VM, a mapped device) is not overwritten. Our own open is one watcher.
    std::list<librbd::image_watcher_t> watchers;
    r = image_.list_watchers(watchers);
    if (r < 0) return Status::FromErrno(-r, "watchers of RBD image " + name_);
    if (watchers.size() > 1) {
      std::string who;
      for (const auto& w : watchers) who += (who.empty() ? "" : ", ") + w.addr;
      return Status::PermissionDenied("RBD image " + name_ + " is in use (watchers: " + who +
                                      "); stop what uses it before restoring onto it");
    }
    return Status::OK();
  }

  const std::string& name() const override { return name_; }
  bool starts_zeroed() const override { return created_; }
  Status Write(uint64_t offset, std::string_view data) override {
    ceph::bufferlist bl;
    bl.append(data.data(), data.size());
    ssize_t r = image_.write(offset, data.size(), bl);
    if (r < 0)
      return Status::FromErrno(static_cast<int>(-r),
                               "write " + name_ + " at offset " + std::to_string(offset));
    return Status::OK();
  }
  Status Zero(uint64_t offset, uint64_t len) override {
    if (created_) return Status::OK();
    ssize_t r = image_.write_zeroes(offset, len, 0, 0);
    if (r < 0)
      return Status::FromErrno(static_cast<int>(-r),
                               "zeroing " + name_ + " at offset " + std::to_string(offset));
    return Status::OK();
  }
  Status Finish() override {
    int r = image_.flush();
    if (r < 0) return Status::FromErrno(-r, "flush " + name_);
    return Status::OK();
  }

 private:
  RadosConnection conn_;
  librbd::Image image_;  // declared after conn_: closed before the connection goes
  std::string name_;
  bool created_ = false;
};

// The existing image file at `path` opened for writing, or an invalid
// descriptor when there is none. Only a file this process could have made
// is written: a FIFO is never opened (looked at through O_PATH first), and a
// file with another link, another owner, or a mode that lets others read or
// write is refused, since a local user may have planted it to receive a copy
// of the disk.
Result<UniqueFd> OpenOwnImage(const std::string& path) {
  UniqueFd look(::open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!look.valid()) {
    if (errno == ENOENT) return UniqueFd();
    return Status::FromErrno(errno, "open image " + path);
  }
  struct stat st;
  if (::fstat(look.get(), &st) != 0) return Status::FromErrno(errno, "stat image " + path);
  if (!S_ISREG(st.st_mode))
    return Status::InvalidArgument("image " + path +
                                   " is not a regular file; refusing to write it");
  if (st.st_nlink != 1 || st.st_uid != ::geteuid() || (st.st_mode & 077) != 0)
    return Status::PermissionDenied(
        "image " + path +
        " has another link, owner or a mode open to others; refusing to write a "
        "disk image into it (remove it, and the next sync makes a new one)");
  UniqueFd fd(::open(ProcFdPath(look.get()).c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "open image " + path + " for writing");
  return fd;
}

// An RBD image read back, to compare it with a snapshot.
class RbdSource : public BlockSource {
 public:
  RbdSource(RadosConnection c, std::string name) : conn_(std::move(c)), name_(std::move(name)) {}
  ~RbdSource() override { image_.close(); }

  Status Open(const std::string& image_name) {
    librbd::RBD rbd;
    int r = rbd.open_read_only(conn_.io, image_, image_name.c_str(), nullptr);
    if (r < 0) return Status::FromErrno(-r, "open RBD image " + name_);
    r = image_.size(&length_);
    if (r < 0) return Status::FromErrno(-r, "size of RBD image " + name_);
    return Status::OK();
  }
  uint64_t length() const override { return length_; }
  bool IsHole(uint64_t, uint64_t) override { return false; }
  void Prefetch(uint64_t, uint64_t) override {}
  Status ReadAt(uint64_t offset, char* buf, size_t len) override {
    ceph::bufferlist bl;
    const ssize_t r = image_.read(offset, len, bl);
    const std::string where = name_ + " at offset " + std::to_string(offset);
    if (r < 0) return Status::FromErrno(static_cast<int>(-r), "read " + where);
    if (static_cast<size_t>(r) != len || bl.length() != len)
      return Status::Corruption("short read of " + where);
    bl.begin().copy(len, buf);
    return Status::OK();
  }
  Result<uint64_t> CurrentLength() override { return length_; }

 private:
  RadosConnection conn_;
  librbd::Image image_;
  std::string name_;
  uint64_t length_ = 0;
};

struct RbdLocation {
  RadosLocation loc;
  std::string image, name;
};

Result<RbdLocation> ParseRbdUrl(const std::string& url) {
  // rbd://POOL/IMAGE?... has the shape of rados://POOL/NAMESPACE?...
  auto loc = ParseRadosUrl("rados://" + url.substr(6));
  if (!loc.ok())
    return Status::InvalidArgument(url + ": expected rbd://POOL/IMAGE?conf=PATH&id=USER (" +
                                   loc.status().message() + ")");
  if (loc->nspace.empty())
    return Status::InvalidArgument(url + ": no image name (rbd://POOL/IMAGE)");
  RbdLocation out{*loc, loc->nspace, "rbd://" + loc->pool + "/" + loc->nspace};
  out.loc.nspace.clear();
  return out;
}

Result<std::unique_ptr<BlockTarget>> OpenRbd(const std::string& url, uint64_t length) {
  ASSIGN_OR_RETURN(RbdLocation rbd, ParseRbdUrl(url));
  ASSIGN_OR_RETURN(RadosConnection c, ConnectRados(rbd.loc, rbd.name));
  auto target = std::make_unique<RbdTarget>(std::move(c), rbd.name);
  RETURN_IF_ERROR(target->Open(rbd.image, length));
  return std::unique_ptr<BlockTarget>(std::move(target));
}

}  // namespace

Result<std::unique_ptr<BlockTarget>> OpenBlockTarget(const std::string& target, uint64_t length,
                                                     bool update_existing_file) {
  if (target.rfind("rbd://", 0) == 0) return OpenRbd(target, length);
  struct stat st;
  if (::stat(target.c_str(), &st) == 0 && S_ISBLK(st.st_mode)) {
    // O_EXCL on a block device: refused while it is mounted or otherwise held.
    int fd = ::open(target.c_str(), O_WRONLY | O_EXCL | O_CLOEXEC);
    if (fd < 0) return Status::FromErrno(errno, "open block device " + target + " exclusively");
    uint64_t size = 0;
    if (::ioctl(fd, BLKGETSIZE64, &size) != 0) {
      int err = errno;
      ::close(fd);
      return Status::FromErrno(err, "size of block device " + target);
    }
    if (size < length) {
      ::close(fd);
      return Status::InvalidArgument(TooSmall("block device " + target, size, length));
    }
    return std::unique_ptr<BlockTarget>(new FdTarget(fd, target, true, false));
  }
  if (update_existing_file) {
    ASSIGN_OR_RETURN(UniqueFd fd, OpenOwnImage(target));
    if (fd.valid()) {
      if (::ftruncate(fd.get(), static_cast<off_t>(length)) != 0)
        return Status::FromErrno(errno,
                                 "size " + target + " to " + std::to_string(length) + " bytes");
      return std::unique_ptr<BlockTarget>(new FdTarget(fd.release(), target, false, false));
    }
  }
  int fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 && errno == EEXIST)
    return Status::AlreadyExists(
        target + " exists; restore an image to a new file (or a device or rbd:// image)");
  if (fd < 0) return Status::FromErrno(errno, "create " + target);
  if (::ftruncate(fd, static_cast<off_t>(length)) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(target.c_str());
    return Status::FromErrno(err, "size " + target + " to " + std::to_string(length) + " bytes");
  }
  return std::unique_ptr<BlockTarget>(new FdTarget(fd, target, false, true));
}

Result<std::unique_ptr<BlockSource>> OpenRestoredBlockTarget(const std::string& target) {
  if (target.rfind("rbd://", 0) != 0) return OpenBlockSource(target, target);
  ASSIGN_OR_RETURN(RbdLocation rbd, ParseRbdUrl(target));
  ASSIGN_OR_RETURN(RadosConnection c, ConnectRados(rbd.loc, rbd.name));
  auto source = std::make_unique<RbdSource>(std::move(c), rbd.name);
  RETURN_IF_ERROR(source->Open(rbd.image));
  return std::unique_ptr<BlockSource>(std::move(source));
}

}  // namespace dr
