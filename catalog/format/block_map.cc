#include "catalog/format/block_map.h"

#include <cstdint>

#include "core/bytes.h"

namespace dr {
namespace {

constexpr uint8_t kHeadMagic = 'B';
constexpr uint8_t kSegmentMagic = 'b';
constexpr uint8_t kVersion = 1;
constexpr uint8_t kZero = 0, kChunk = 1;

struct Head {
  uint32_t block_size = 0;
  uint64_t length = 0;
  std::vector<Id> segments;
};

Result<Head> DecodeHead(std::string_view raw, const std::string& what) {
  ByteReader r(raw);
  uint8_t magic, version;
  uint64_t block_size, length, n;
  if (!r.U8(&magic) || magic != kHeadMagic || !r.U8(&version))
    return Status::Corruption(what + ": not a block map");
  if (version != kVersion)
    return Status::InvalidArgument(what + ": unsupported block map version " +
                                   std::to_string(version));
  if (!r.Var(&block_size) || !r.Var(&length) || !r.Var(&n))
    return Status::Corruption(what + ": truncated block map head");
  if (length > static_cast<uint64_t>(INT64_MAX))
    return Status::Corruption(what + ": length " + std::to_string(length) + " out of range");
  if (block_size < kMinBlockSize || block_size > kMaxBlockSize)
    return Status::Corruption(what + ": block size " + std::to_string(block_size) +
                              " out of range");
  const uint64_t blocks = BlockMap::BlockCountFor(length, static_cast<uint32_t>(block_size));
  if (n != (blocks + kBlocksPerSegment - 1) / kBlocksPerSegment || n * 16 != r.remaining())
    return Status::Corruption(what + ": segment count does not match the length");
  Head h{static_cast<uint32_t>(block_size), length, {}};
  h.segments.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    std::string_view id;
    r.Raw(16, &id);
    h.segments.push_back(Id::FromBytes(id));
  }
  return h;
}

Result<std::vector<BlockRef>> DecodeSegment(std::string_view raw, const std::string& what) {
  ByteReader r(raw);
  uint8_t magic, version;
  uint64_t n;
  if (!r.U8(&magic) || magic != kSegmentMagic || !r.U8(&version))
    return Status::Corruption(what + ": not a block map segment");
  if (version != kVersion)
    return Status::InvalidArgument(what + ": unsupported block map version " +
                                   std::to_string(version));
  if (!r.Var(&n) || n == 0 || n > kBlocksPerSegment)
    return Status::Corruption(what + ": bad block count");
  std::vector<BlockRef> out(n);
  for (auto& b : out) {
    uint8_t flag;
    if (!r.U8(&flag)) return Status::Corruption(what + ": truncated segment");
    if (flag == kZero) continue;
    std::string_view id;
    if (flag != kChunk || !r.Raw(16, &id)) return Status::Corruption(what + ": bad block entry");
    b.zero = false;
    b.chunk = Id::FromBytes(id);
  }
  if (!r.done()) return Status::Corruption(what + ": trailing bytes");
  return out;
}

}  // namespace

bool IsBlockMapHead(std::string_view raw) {
  return !raw.empty() && static_cast<uint8_t>(raw[0]) == kHeadMagic;
}
bool IsBlockMapSegment(std::string_view raw) {
  return !raw.empty() && static_cast<uint8_t>(raw[0]) == kSegmentMagic;
}

EncodedBlockMap EncodeBlockMap(const BlockMap& map, const KeyedHasher& hasher) {
  EncodedBlockMap out;
  std::string head;
  ByteWriter h(&head);
  h.U8(kHeadMagic);
  h.U8(kVersion);
  h.Var(map.block_size);
  h.Var(map.length);
  const size_t n = (map.blocks.size() + kBlocksPerSegment - 1) / kBlocksPerSegment;
  h.Var(n);
  for (size_t s = 0; s < n; ++s) {
    std::string seg;
    ByteWriter w(&seg);
    w.U8(kSegmentMagic);
    w.U8(kVersion);
    const size_t first = s * kBlocksPerSegment;
    const size_t count = std::min<size_t>(kBlocksPerSegment, map.blocks.size() - first);
    w.Var(count);
    for (size_t i = first; i < first + count; ++i) {
      const BlockRef& b = map.blocks[i];
      w.U8(b.zero ? kZero : kChunk);
      if (!b.zero) w.Raw(b.chunk.Bytes());
    }
    Id id = hasher.Hash(seg);
    h.Raw(id.Bytes());
    out.segments.emplace_back(id, std::move(seg));
  }
  out.head_id = hasher.Hash(head);
  out.head = std::move(head);
  return out;
}

Result<std::vector<Id>> BlockMapReferences(std::string_view raw, const std::string& what) {
  if (IsBlockMapHead(raw)) {
    ASSIGN_OR_RETURN(Head h, DecodeHead(raw, what));
    return h.segments;
  }
  ASSIGN_OR_RETURN(auto blocks, DecodeSegment(raw, what));
  std::vector<Id> ids;
  for (const auto& b : blocks)
    if (!b.zero) ids.push_back(b.chunk);
  return ids;
}

Result<BlockMap> LoadBlockMap(const Id& head_id, const MetadataLoader& load) {
  const std::string what = "block map " + head_id.Hex();
  ASSIGN_OR_RETURN(std::string raw, load(head_id));
  ASSIGN_OR_RETURN(Head h, DecodeHead(raw, what));
  BlockMap map{h.block_size, h.length, {}};
  const uint64_t total = BlockMap::BlockCountFor(h.length, h.block_size);
  map.blocks.reserve(total);
  for (size_t s = 0; s < h.segments.size(); ++s) {
    const std::string seg_what = what + " segment " + std::to_string(s);
    ASSIGN_OR_RETURN(std::string seg, load(h.segments[s]));
    ASSIGN_OR_RETURN(auto blocks, DecodeSegment(seg, seg_what));
    const uint64_t expected = std::min<uint64_t>(kBlocksPerSegment, total - map.blocks.size());
    if (blocks.size() != expected)
      return Status::Corruption(seg_what + ": holds " + std::to_string(blocks.size()) +
                                " blocks, expected " + std::to_string(expected));
    map.blocks.insert(map.blocks.end(), blocks.begin(), blocks.end());
  }
  return map;
}

}  // namespace dr
