#include "catalog/format/block_map.h"

#include <gtest/gtest.h>

#include <map>

#include "catalog/format/metadata_refs.h"

namespace dr {
namespace {

KeyedHasher Hasher() { return KeyedHasher(std::string(192, 'k')); }

BlockMap SampleMap(uint64_t blocks, uint32_t block_size = 1 << 20) {
  KeyedHasher h = Hasher();
  BlockMap m{block_size, blocks * block_size - 123, {}};
  m.blocks.resize(blocks);
  for (uint64_t i = 0; i < blocks; ++i) {
    if (i % 3 == 0 || i >= 2 * kBlocksPerSegment) continue;  // zero
    m.blocks[i] = {false, h.Hash(std::to_string(i))};
  }
  return m;
}

Result<BlockMap> Reload(const EncodedBlockMap& e) {
  std::map<Id, std::string> blobs;
  for (const auto& [id, raw] : e.segments) blobs[id] = raw;
  blobs[e.head_id] = e.head;
  return LoadBlockMap(e.head_id, [&](const Id& id) -> Result<std::string> {
    auto it = blobs.find(id);
    if (it == blobs.end()) return Status::NotFound("blob " + id.Hex());
    return it->second;
  });
}

// Byte-exact head and segments, recorded from the codec before the field
// lists replaced the hand-written encoder and decoder.
TEST(BlockMap, GoldenBytes) {
  BlockMap m{kMinBlockSize, 2 * kMinBlockSize + 5, {}};
  m.blocks = {{false, Hasher().Hash("a")}, {true, Id{}}, {false, Hasher().Hash("b")}};
  EncodedBlockMap e = EncodeBlockMap(m, Hasher());
  ASSERT_EQ(e.segments.size(), 1u);
  EXPECT_EQ(ToHex(e.segments[0].second),
            "62010301b341a4d6bf6d4e2acd209ae1e9ac44260001c275b8cafa96d20e874969886231aa55");
  EXPECT_EQ(ToHex(e.head), "42018080048580080119488531fa908a79d36dbfea1976f34a");
  EncodedBlockMap big = EncodeBlockMap(SampleMap(kBlocksPerSegment + 3), Hasher());
  EXPECT_EQ(
      ToHex(big.head),
      "420180804085ffbf811002ecda713b77b653d494f24da4edc5cf5d081e783d91c1b2741cd537bb386c8bf9");
  EXPECT_EQ(big.segments[0].first.Hex(), "ecda713b77b653d494f24da4edc5cf5d");
  EXPECT_EQ(big.segments[1].first.Hex(), "081e783d91c1b2741cd537bb386c8bf9");
  auto back = Reload(e);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->blocks, m.blocks);
  EXPECT_EQ(back->length, m.length);
}

TEST(BlockMap, RoundTripsAcrossSegments) {
  BlockMap m = SampleMap(3 * kBlocksPerSegment + 5);
  EncodedBlockMap e = EncodeBlockMap(m, Hasher());
  EXPECT_EQ(e.segments.size(), 4u);
  auto back = Reload(e);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->block_size, m.block_size);
  EXPECT_EQ(back->length, m.length);
  EXPECT_EQ(back->blocks, m.blocks);
  EXPECT_EQ(back->BlockLength(m.blocks.size() - 1), (1u << 20) - 123);
}

TEST(BlockMap, UnchangedSegmentsKeepTheirIdsAndEqualSegmentsShareOne) {
  BlockMap a = SampleMap(4 * kBlocksPerSegment);
  BlockMap b = a;
  b.blocks[10] = {false, Hasher().Hash("changed")};
  EncodedBlockMap ea = EncodeBlockMap(a, Hasher()), eb = EncodeBlockMap(b, Hasher());
  EXPECT_NE(ea.segments[0].first, eb.segments[0].first);
  EXPECT_EQ(ea.segments[1].first, eb.segments[1].first);
  // Segments 2 and 3 are all zero: one blob.
  EXPECT_EQ(ea.segments[2].first, ea.segments[3].first);
  EXPECT_NE(ea.head_id, eb.head_id);
}

TEST(BlockMap, ReferencesAreSegmentsThenChunks) {
  BlockMap m = SampleMap(kBlocksPerSegment + 2);
  EncodedBlockMap e = EncodeBlockMap(m, Hasher());
  auto head_refs = MetadataReferences(e.head, "head");
  ASSERT_TRUE(head_refs.ok());
  ASSERT_EQ(head_refs->size(), 2u);
  EXPECT_EQ((*head_refs)[0], e.segments[0].first);
  auto seg_refs = MetadataReferences(e.segments[1].second, "segment");
  ASSERT_TRUE(seg_refs.ok());
  // Blocks 4096 and 4097: 4096 % 3 == 1 and 4097 % 3 == 2, both chunks.
  EXPECT_EQ(*seg_refs, (std::vector<Id>{m.blocks[4096].chunk, m.blocks[4097].chunk}));
}

TEST(BlockMap, DamagedBlobsAreErrorsNeverCrashes) {
  BlockMap m = SampleMap(kBlocksPerSegment + 7);
  EncodedBlockMap e = EncodeBlockMap(m, Hasher());
  for (size_t cut = 0; cut < e.head.size(); ++cut)
    EXPECT_FALSE(BlockMapReferences(e.head.substr(0, cut), "head").ok()) << cut;
  const std::string seg = e.segments[1].second;
  for (size_t cut = 0; cut < seg.size(); ++cut)
    EXPECT_FALSE(BlockMapReferences(seg.substr(0, cut), "segment").ok()) << cut;
  // Mutated heads and segments: BlockMapReferences refuses one with
  // Corruption (InvalidArgument for a version) naming it, or accepts it; a
  // whole map loaded with the mutated blob in place is then either refused
  // the same way (or NotFound, for a mutated segment id) or a valid map that
  // re-encodes and loads back equal.
  uint64_t x = 1;
  int accepted = 0, refused = 0, loaded = 0;
  for (int i = 0; i < 20000; ++i) {
    const bool head = i % 2;
    std::string bad = head ? e.head : seg;
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    bad[(x >> 33) % bad.size()] ^= static_cast<char>(1 + (x & 0x7f));
    auto refs = BlockMapReferences(bad, "mutated");
    if (refs.ok()) {
      ++accepted;
    } else {
      ++refused;
      const Status& st = refs.status();
      ASSERT_TRUE(st.code() == Code::kCorruption || st.code() == Code::kInvalidArgument)
          << st.ToString();
      ASSERT_EQ(st.message().rfind("mutated: ", 0), 0u) << st.message();
      ASSERT_GT(st.message().size(), 9u) << st.message();
    }
    EncodedBlockMap m2 = e;
    (head ? m2.head : m2.segments[1].second) = bad;
    auto map = Reload(m2);
    if (!map.ok()) {
      const Status& st = map.status();
      ASSERT_TRUE(st.code() == Code::kCorruption || st.code() == Code::kInvalidArgument ||
                  st.code() == Code::kNotFound)
          << st.ToString();
      // NotFound is the loader's own "blob <id>"; the map's errors name it.
      ASSERT_NE(st.message().find(st.IsNotFound() ? "blob " : "block map "), std::string::npos)
          << st.message();
      continue;
    }
    ASSERT_TRUE(refs.ok()) << "a map loaded with a blob BlockMapReferences refuses";
    ++loaded;
    auto again = Reload(EncodeBlockMap(*map, Hasher()));
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    ASSERT_EQ(again->blocks, map->blocks);
    ASSERT_EQ(again->length, map->length);
    ASSERT_EQ(again->block_size, map->block_size);
  }
  EXPECT_GT(accepted, 1000);
  EXPECT_GT(refused, 1000);
  EXPECT_GT(loaded, 1000);
  // A segment with the wrong number of blocks for its place is refused.
  BlockMap other = m;
  other.blocks.resize(kBlocksPerSegment + 1);
  other.length = (kBlocksPerSegment + 1) * uint64_t{1 << 20};
  EncodedBlockMap short_map = EncodeBlockMap(other, Hasher());
  short_map.segments[1].second = e.segments[1].second;  // 7 blocks where 1 belongs
  auto r = Reload(short_map);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("expected 1"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace dr
