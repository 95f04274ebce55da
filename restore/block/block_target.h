// Where a block snapshot is restored to: a new sparse image file, a block
// device, or a Ceph RBD image. Writes may come from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/env/block_source.h"
#include "core/status.h"

namespace dr {

class BlockTarget {
 public:
  virtual ~BlockTarget() = default;
  virtual const std::string& name() const = 0;
  // Whether ranges never written read as zeros (a new file or RBD image), so
  // zero blocks need no write at all.
  virtual bool starts_zeroed() const = 0;
  virtual Status Write(uint64_t offset, std::string_view data) = 0;
  // Makes [offset, offset + len) read as zeros without sending zeros.
  virtual Status Zero(uint64_t offset, uint64_t len) = 0;
  // Makes everything written durable.
  virtual Status Finish() = 0;
  // After a failed restore: removes what this restore created (a new image
  // file), so no complete-looking partial image is left behind.
  virtual void Abandon() {}
};

// Opens a target for `length` bytes:
//  - rbd://POOL/IMAGE?conf=PATH&id=USER&keyring=PATH: created with that size
//    when it does not exist; an existing image must be at least as large;
//  - a block device: opened exclusively (not while mounted), at least as large;
//  - any other path: a new sparse image file (an existing one is refused, so
//    a typo cannot overwrite an image), or with `update_existing_file` an
//    existing one updated in place (sized to `length`).
Result<std::unique_ptr<BlockTarget>> OpenBlockTarget(const std::string& target, uint64_t length,
                                                     bool update_existing_file = false);

// A restored target read back (for VerifyBlockTarget): an image file or
// block device, or an rbd:// image opened read-only.
Result<std::unique_ptr<BlockSource>> OpenRestoredBlockTarget(const std::string& target);

}  // namespace dr
