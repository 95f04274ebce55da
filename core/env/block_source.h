// The source of a block backup: a disk image file or a block device, read in
// fixed blocks. Behind a narrow interface so tests can make a device vanish
// mid-read.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"

namespace dr {

class BlockSource {
 public:
  virtual ~BlockSource() = default;
  virtual uint64_t length() const = 0;
  // True when [offset, offset + len) certainly holds no data (a hole in a
  // sparse image), so it need not be read. Called with rising offsets.
  virtual bool IsHole(uint64_t offset, uint64_t len) = 0;
  // A hint that [offset, offset + len) will be read soon.
  virtual void Prefetch(uint64_t offset, uint64_t len) = 0;
  // Reads exactly `len` bytes; a short read or an I/O error is an error
  // naming the source and offset.
  virtual Status ReadAt(uint64_t offset, char* buf, size_t len) = 0;
  // The source's length now; a backup fails if it changed while reading.
  virtual Result<uint64_t> CurrentLength() = 0;
};

// Opens an image file (regular file) or a block device read-only. `display`
// names it in errors (the path the operator gave).
Result<std::unique_ptr<BlockSource>> OpenBlockSource(const std::string& path,
                                                     const std::string& display);

}  // namespace dr
