// Block maps: what a block snapshot (a disk image or block device) holds.
// The source is cut into fixed-size blocks so that a block's offset is its
// address; each block is a data chunk or "zero" (a hole or all-zero block,
// never stored).
//
// Stored as metadata blobs (blob type 1, like trees; the first byte tells
// them apart): segments of up to kBlocksPerSegment blocks, then a head that
// names the segments. An unchanged stretch of a device encodes to the same
// segment bytes and so costs nothing to store again.
// Byte layout: docs/format/blockmap.md.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/hash.h"
#include "core/status.h"

namespace dr {

inline constexpr uint32_t kBlocksPerSegment = 4096;
inline constexpr uint32_t kMinBlockSize = 64 << 10;
inline constexpr uint32_t kMaxBlockSize = 16 << 20;

struct BlockRef {
  bool zero = true;
  Id chunk;  // when !zero
  bool operator==(const BlockRef&) const = default;
};

struct BlockMap {
  uint32_t block_size = 0;
  uint64_t length = 0;  // bytes of the source; the last block may be short
  std::vector<BlockRef> blocks;

  static uint64_t BlockCountFor(uint64_t length, uint32_t block_size) {
    return (length + block_size - 1) / block_size;
  }
  uint64_t BlockLength(uint64_t i) const {
    const uint64_t start = i * block_size;
    return std::min<uint64_t>(block_size, length - start);
  }
};

// Whether a metadata blob is a block map head or segment (and not a tree).
bool IsBlockMapHead(std::string_view raw);
bool IsBlockMapSegment(std::string_view raw);

// The blobs of `map`: segments first, the head last. `hasher` gives ids.
struct EncodedBlockMap {
  std::vector<std::pair<Id, std::string>> segments;
  Id head_id;
  std::string head;
};
EncodedBlockMap EncodeBlockMap(const BlockMap& map, const KeyedHasher& hasher);

// Every id a block map blob references: a head its segments, a segment its
// chunks. Checks the blob's structure; `what` names it in errors.
Result<std::vector<Id>> BlockMapReferences(std::string_view raw, const std::string& what);

// Loads and checks a whole map: `load` returns a metadata blob's raw bytes,
// already verified against its id.
using MetadataLoader = std::function<Result<std::string>(const Id&)>;
Result<BlockMap> LoadBlockMap(const Id& head, const MetadataLoader& load);

}  // namespace dr
