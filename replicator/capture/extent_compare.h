// Changed-block tracking for image files on copy-on-write file systems
// (btrfs, XFS with reflink): a reflink copy of the image is kept from the
// last backup, and the next backup compares the physical extents (FIEMAP) of
// that copy with those of a fresh reflink copy. A range that maps to the same
// physical blocks in both copies cannot have changed: the file system never
// overwrites a block in place while two files share it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace dr {

// Makes `to` (which must not exist) a reflink copy of `from` (FICLONE).
// Unavailable, naming the reason, when the file system cannot share extents.
Status ReflinkCopy(const std::string& from, const std::string& to);

// For each block of `block_size` bytes in [0, length): true when the bytes
// of `older` and `newer` map to the same physical extents (or are holes in
// both), so the block holds the same data in both files. Extents the kernel
// marks as unknown, delayed, encoded, inline or not aligned count as changed.
Result<std::vector<bool>> UnchangedBlocks(const std::string& older, const std::string& newer,
                                          uint32_t block_size, uint64_t length);

}  // namespace dr
