#include "core/env/block_source.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/env/fd.h"
#include "core/env/file_io.h"

namespace dr {
namespace {

Result<uint64_t> LengthOf(int fd, const std::string& display) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::FromErrno(errno, "stat " + display);
  if (S_ISREG(st.st_mode)) return static_cast<uint64_t>(st.st_size);
  uint64_t bytes = 0;
  if (::ioctl(fd, BLKGETSIZE64, &bytes) != 0)
    return Status::FromErrno(errno, "size of block device " + display);
  return bytes;
}

class FileBlockSource : public BlockSource {
 public:
  FileBlockSource(UniqueFd fd, std::string display, bool device, uint64_t length)
      : fd_(std::move(fd)), display_(std::move(display)), device_(device), length_(length) {}

  uint64_t length() const override { return length_; }

  bool IsHole(uint64_t offset, uint64_t len) override {
    if (device_) return false;
    // [hole_from_, data_from_) is a hole and [data_from_, data_to_) data, as
    // last asked; one SEEK_DATA/SEEK_HOLE pair covers many blocks.
    if (offset >= data_to_) {
      off_t data = ::lseek(fd_.get(), static_cast<off_t>(offset), SEEK_DATA);
      if (data < 0) {
        // ENXIO: no data from here to the end. Anything else: assume data.
        if (errno != ENXIO) return false;
        data_from_ = data_to_ = length_;
      } else {
        off_t hole = ::lseek(fd_.get(), data, SEEK_HOLE);
        data_from_ = static_cast<uint64_t>(data);
        data_to_ = hole < 0 ? length_ : static_cast<uint64_t>(hole);
      }
      if (data_to_ <= offset) data_to_ = offset + 1;  // defensive: always progress
    }
    return offset + len <= data_from_;
  }

  void Prefetch(uint64_t offset, uint64_t len) override {
    ::posix_fadvise(fd_.get(), static_cast<off_t>(offset), static_cast<off_t>(len),
                    POSIX_FADV_WILLNEED);
  }

  Status ReadAt(uint64_t offset, char* buf, size_t len) override {
    ASSIGN_OR_RETURN(size_t done, PreadFull(fd_.get(), buf, len, offset,
                                            display_ + " at offset " + std::to_string(offset)));
    if (done < len) {
      return Status::IOError(display_ + " ended at offset " + std::to_string(offset + done) +
                             ", expected " + std::to_string(length_) +
                             " bytes: it shrank during the backup");
    }
    return Status::OK();
  }

  Result<uint64_t> CurrentLength() override { return LengthOf(fd_.get(), display_); }

 private:
  UniqueFd fd_;
  std::string display_;
  bool device_;
  uint64_t length_;
  uint64_t data_from_ = 0, data_to_ = 0;
};

}  // namespace

Result<std::unique_ptr<BlockSource>> OpenBlockSource(const std::string& path,
                                                     const std::string& display) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOATIME));
  if (!fd.valid() && errno == EPERM) fd = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "open " + display);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Status::FromErrno(errno, "stat " + display);
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
    return Status::InvalidArgument(display + " is neither an image file nor a block device");
  ASSIGN_OR_RETURN(uint64_t length, LengthOf(fd.get(), display));
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  return std::unique_ptr<BlockSource>(
      new FileBlockSource(std::move(fd), display, S_ISBLK(st.st_mode), length));
}

}  // namespace dr
