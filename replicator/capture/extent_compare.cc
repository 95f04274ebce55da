#include "replicator/capture/extent_compare.h"

#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "catalog/live_node.h"
#include "core/env/dir.h"
#include "core/env/fd.h"
#include "core/env/file_io.h"
#include "core/env/xattr.h"

namespace dr {
namespace {

struct Mapping {
  uint64_t logical, physical, length;
  uint32_t flags;
};

constexpr uint32_t kUntrusted = FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC |
                                FIEMAP_EXTENT_ENCODED | FIEMAP_EXTENT_DATA_ENCRYPTED |
                                FIEMAP_EXTENT_NOT_ALIGNED | FIEMAP_EXTENT_DATA_INLINE |
                                FIEMAP_EXTENT_DATA_TAIL;

Result<std::vector<Mapping>> ReadExtents(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "open " + path);
  constexpr size_t kBatch = 1024;
  std::vector<char> buf(sizeof(struct fiemap) + kBatch * sizeof(struct fiemap_extent));
  auto* fm = reinterpret_cast<struct fiemap*>(buf.data());
  std::vector<Mapping> out;
  uint64_t start = 0;
  uint32_t flags = FIEMAP_FLAG_SYNC;  // flush delayed allocations first
  for (;;) {
    std::memset(buf.data(), 0, buf.size());
    fm->fm_start = start;
    fm->fm_length = FIEMAP_MAX_OFFSET - start;
    fm->fm_flags = flags;
    fm->fm_extent_count = kBatch;
    if (::ioctl(fd.get(), FS_IOC_FIEMAP, fm) != 0)
      return Status::FromErrno(errno, "FIEMAP of " + path);
    if (fm->fm_mapped_extents == 0) break;
    bool last = false;
    for (uint32_t i = 0; i < fm->fm_mapped_extents; ++i) {
      const auto& e = fm->fm_extents[i];
      out.push_back({e.fe_logical, e.fe_physical, e.fe_length, e.fe_flags});
      last = e.fe_flags & FIEMAP_EXTENT_LAST;
      start = e.fe_logical + e.fe_length;
    }
    if (last) break;
    flags = 0;
  }
  return out;
}

// Walks a sorted extent list: what the file holds at `pos` and until where.
class Cursor {
 public:
  explicit Cursor(const std::vector<Mapping>& m) : m_(m) {}
  // Sets *mapped, *delta (physical - logical) and *flags for `pos`; returns
  // the end of that state.
  uint64_t At(uint64_t pos, bool* mapped, uint64_t* delta, uint32_t* flags) {
    while (i_ < m_.size() && m_[i_].logical + m_[i_].length <= pos) ++i_;
    if (i_ == m_.size()) {
      *mapped = false;
      return UINT64_MAX;
    }
    const Mapping& e = m_[i_];
    if (pos < e.logical) {
      *mapped = false;
      return e.logical;
    }
    *mapped = true;
    *delta = e.physical - e.logical;
    *flags = e.flags;
    return e.logical + e.length;
  }

 private:
  const std::vector<Mapping>& m_;
  size_t i_ = 0;
};

}  // namespace

Status ReflinkCopy(const std::string& from, const std::string& to) {
  UniqueFd src(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!src.valid()) return Status::FromErrno(errno, "open " + from);
  UniqueFd dst(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400));
  if (!dst.valid()) {
    const int err = errno;
    // A directory we may not write to, or a full one: no copy, not a failure.
    if (err == EROFS || err == EACCES || err == EPERM || err == ENOSPC || err == EDQUOT)
      return Status::Unavailable("cannot create the reflink copy " + to + " (" +
                                 std::strerror(err) + ")");
    return Status::FromErrno(err, "create " + to);
  }
  if (::ioctl(dst.get(), FICLONE, src.get()) != 0) {
    const int err = errno;
    ::unlink(to.c_str());
    if (err == EOPNOTSUPP || err == ENOTTY || err == EXDEV || err == EINVAL || err == ENOSPC ||
        err == EDQUOT || err == EPERM)
      return Status::Unavailable("the file system of " + from + " cannot make reflink copies (" +
                                 std::strerror(err) + ")");
    return Status::FromErrno(err, "reflink copy of " + from);
  }
  if (::fsync(dst.get()) != 0) {
    const int err = errno;
    ::unlink(to.c_str());
    return Status::FromErrno(err, "fsync " + to);
  }
  return Status::OK();
}

Result<std::vector<bool>> UnchangedBlocks(const std::string& older, const std::string& newer,
                                          uint32_t block_size, uint64_t length) {
  ASSIGN_OR_RETURN(auto a, ReadExtents(older));
  ASSIGN_OR_RETURN(auto b, ReadExtents(newer));
  const uint64_t blocks = (length + block_size - 1) / block_size;
  std::vector<bool> unchanged(blocks, true);
  Cursor ca(a), cb(b);
  for (uint64_t pos = 0; pos < length;) {
    bool ma, mb;
    uint64_t da = 0, db = 0;
    uint32_t fa = 0, fb = 0;
    const uint64_t end = std::min({ca.At(pos, &ma, &da, &fa), cb.At(pos, &mb, &db, &fb), length});
    const bool same =
        ma == mb && (!ma || (da == db && !((fa | fb) & kUntrusted) &&
                             (fa & FIEMAP_EXTENT_UNWRITTEN) == (fb & FIEMAP_EXTENT_UNWRITTEN)));
    if (!same) {
      for (uint64_t i = pos / block_size; i <= (end - 1) / block_size; ++i) unchanged[i] = false;
    }
    pos = end;
  }
  return unchanged;
}

}  // namespace dr
