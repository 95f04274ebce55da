#include "catalog/format/block_map.h"

#include <algorithm>
#include <cstdint>
#include <span>
#include <utility>

#include "core/codec.h"

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

uint64_t SegmentCountFor(uint64_t length, uint32_t block_size) {
  if (block_size == 0) return 0;
  return (BlockMap::BlockCountFor(length, block_size) + kBlocksPerSegment - 1) / kBlocksPerSegment;
}

// The layouts of docs/format/blockmap.md with the decoder checks;
// codec::UncheckedWriter encodes with them and codec::Reader decodes.
template <class A, codec::Of<Head> H>
void HeadFields(A& a, H& h) {
  a.Magic("block map", kHeadMagic);
  a.Version("block map version", kVersion);
  a.Var("block size", h.block_size);
  a.Var("length", h.length, static_cast<uint64_t>(INT64_MAX));
  a.Check(h.block_size >= kMinBlockSize && h.block_size <= kMaxBlockSize,
          [&] { return "block size " + std::to_string(h.block_size) + " out of range"; });
  // The count is bounded by what the length needs (then checked to be
  // exactly that) and by the bytes present, 16 per id.
  a.Seq("segment", h.segments, SegmentCountFor(h.length, h.block_size), 16,
        [&](auto& id) { a.IdField("segment id", id); });
  a.Check(h.segments.size() == SegmentCountFor(h.length, h.block_size),
          "segment count does not match the length");
}

// `Blocks` is the segment's slice of a map (writing) or a vector to fill.
template <class A, class Blocks>
void SegmentFields(A& a, Blocks& blocks) {
  a.Magic("block map segment", kSegmentMagic);
  a.Version("block map version", kVersion);
  a.Seq("block", blocks, kBlocksPerSegment, 1, [&](auto& b) {
    a.Flag("block flag", b.zero, kZero, kChunk);
    if (!b.zero) a.IdField("chunk id", b.chunk);
  });
  a.Check(!blocks.empty(), "bad block count 0");
}

Result<Head> DecodeHead(std::string_view raw, const std::string& what) {
  Head h;
  codec::Reader r(raw, Code::kCorruption);
  HeadFields(r, h);
  r.Finish();
  RETURN_IF_ERROR(r.status(what));
  return h;
}

Result<std::vector<BlockRef>> DecodeSegment(std::string_view raw, const std::string& what) {
  std::vector<BlockRef> blocks;
  codec::Reader r(raw, Code::kCorruption);
  SegmentFields(r, blocks);
  r.Finish();
  RETURN_IF_ERROR(r.status(what));
  return blocks;
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
  Head head{map.block_size, map.length, {}};
  const std::span<const BlockRef> blocks(map.blocks);
  for (size_t first = 0; first < blocks.size(); first += kBlocksPerSegment) {
    const auto slice =
        blocks.subspan(first, std::min<size_t>(kBlocksPerSegment, blocks.size() - first));
    std::string seg;
    codec::UncheckedWriter w(&seg);
    SegmentFields(w, slice);
    Id id = hasher.Hash(seg);
    head.segments.push_back(id);
    out.segments.emplace_back(id, std::move(seg));
  }
  codec::UncheckedWriter w(&out.head);
  HeadFields(w, std::as_const(head));
  out.head_id = hasher.Hash(out.head);
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
  // Room for one segment: the map grows as segments load, so its memory
  // follows the segments actually read, not the blocks a head claims (a
  // 16-byte segment id stands for up to 4096 blocks).
  map.blocks.reserve(std::min<uint64_t>(total, kBlocksPerSegment));
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
