// Restoring a block snapshot (a disk image or block device backup) to an
// image file, a block device or an RBD image (restore/block/block_target.h).
// Only non-zero blocks are written; each block is checked against its id
// before it is written, and the result reports the throughput.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "catalog/format/snapshot.h"
#include "catalog/repository.h"
#include "core/progress.h"
#include "core/status.h"

namespace dr {

struct BlockRestoreOptions {
  std::string target;  // file path, block device, or rbd://POOL/IMAGE?...
  int threads = 0;     // parallel block readers/writers; 0 = chosen from the store
  ProgressCounters* progress = nullptr;
  // For a target that follows a source from sync to sync (drctl migrate):
  // the block map head of the snapshot last restored into it. Blocks equal
  // to its are not written (unless the target had to be created).
  std::optional<Id> base_map;
  // An existing image file is updated in place instead of refused (only one
  // of ours: a regular file with one link, owned by us, mode 0600 or less).
  bool update_existing_image = false;
};

struct BlockRestoreResult {
  uint64_t length = 0, blocks = 0;
  uint64_t blocks_written = 0, zero_blocks = 0;
  uint64_t blocks_unchanged = 0;  // equal to the base's (BlockRestoreOptions::base_map)
  uint64_t bytes_written = 0;
  double seconds = 0;
  double fetch_busy_s = 0, write_busy_s = 0;  // summed over threads, as in RestoreResult
};

// Fails (naming the block and offset) on the first unreadable or damaged
// block or write error; a new image file is then removed, a device or RBD
// image holds a partial image.
Result<BlockRestoreResult> RestoreBlockSnapshot(Repository& repo, const Snapshot& snapshot,
                                                const BlockRestoreOptions& options);

struct BlockVerifyResult {
  uint64_t blocks = 0, bytes = 0;
  std::vector<uint64_t> differing;  // block numbers whose content differs (the first 1000)
  uint64_t differing_count = 0;
  double seconds = 0;
};

// Reads `path` (an image file, block device or rbd:// image) and compares every block
// with the snapshot's map; changes nothing. A source shorter than the
// snapshot is an error; a longer one is compared over the snapshot's length.
Result<BlockVerifyResult> VerifyBlockTarget(Repository& repo, const Snapshot& snapshot,
                                            const std::string& path, ProgressCounters* progress);

}  // namespace dr
