// A hostile or damaged repository (or an agent sending blobs to a vault) must
// not be able to hang or exhaust a reader: every decoder bounds every length
// by the bytes present and by the format's limits (docs/format/), refuses
// non-minimal and over-long varints, and reports one error naming the object.
#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "catalog/format/blob.h"
#include "catalog/format/block_map.h"
#include "catalog/format/index.h"
#include "catalog/format/pack.h"
#include "catalog/format/repo_config.h"
#include "catalog/format/snapshot.h"
#include "catalog/format/tree.h"
#include "core/bytes.h"
#include "core/codec.h"
#include "core/envelope.h"

namespace dr {
namespace {

using json = nlohmann::json;
using namespace std::string_literals;

// The largest raw blob (kMaxBlobBytes in catalog/format/blob.h).
constexpr uint64_t kBlobLimit = 64u << 20;
static_assert(kMaxBlobBytes == kBlobLimit);

KeyedHasher LimitsHasher() { return KeyedHasher(std::string(192, 'k')); }

Id LimitsFixedId(uint8_t first) {
  Id id;
  for (int i = 0; i < 16; ++i) id.b[i] = static_cast<uint8_t>(first + i);
  return id;
}

std::string VarBytes(uint64_t v) {
  std::string out;
  ByteWriter(&out).Var(v);
  return out;
}

// A refusal: Corruption (InvalidArgument for a version), one line that starts
// with "<what>: " and contains `says`.
void ExpectRefusal(const Status& st, const std::string& what, const std::string& says) {
  ASSERT_FALSE(st.ok()) << "accepted; expected a refusal saying '" << says << "'";
  EXPECT_TRUE(st.code() == Code::kCorruption || st.code() == Code::kInvalidArgument)
      << st.ToString();
  EXPECT_EQ(st.message().rfind(what + ": ", 0), 0u) << st.message();
  EXPECT_NE(st.message().find(says), std::string::npos) << st.message();
  EXPECT_EQ(st.message().find('\n'), std::string::npos) << st.message();
}

// ---- 1. Varints ------------------------------------------------------------

TEST(DecoderLimits, NonMinimalVarintsAreRefused) {
  for (const std::string& bad : {"\x80\x00"s, "\xff\x00"s, "\x81\x80\x00"s, "\xac\x82\x00"s,
                                 std::string(9, '\x80') + '\x00'}) {
    uint64_t v = 0;
    ByteReader raw(bad);
    EXPECT_FALSE(raw.Var(&v)) << ToHex(bad);
    codec::Reader r(bad, Code::kCorruption);
    r.Var("mode", v);
    ExpectRefusal(r.status("obj"), "obj", "mode is a non-minimal varint");
  }
}

TEST(DecoderLimits, VarintsOverSixtyFourBitsAreRefused) {
  // A 10th byte may hold only bit 63; an 11th byte never exists.
  for (const std::string& bad : {std::string(9, '\xff') + '\x02', std::string(9, '\xff') + '\x7f',
                                 std::string(9, '\x80') + '\x02', std::string(10, '\xff') + '\x01',
                                 std::string(10, '\x80') + '\x01'}) {
    uint64_t v = 0;
    ByteReader raw(bad);
    EXPECT_FALSE(raw.Var(&v)) << ToHex(bad);
    codec::Reader r(bad, Code::kCorruption);
    r.Var("size", v);
    ExpectRefusal(r.status("obj"), "obj", "size is an over-long varint");
  }
}

TEST(DecoderLimits, EveryMinimalVarintIsRead) {
  std::vector<uint64_t> values = {0, 1, 127, 128, std::numeric_limits<uint64_t>::max()};
  for (int k = 1; k < 64; ++k) {
    values.push_back((uint64_t{1} << k) - 1);
    values.push_back(uint64_t{1} << k);
  }
  for (uint64_t want : values) {
    const std::string enc = VarBytes(want);
    ASSERT_LE(enc.size(), 10u);
    ByteReader r(enc);
    uint64_t got = 0;
    ASSERT_TRUE(r.Var(&got)) << want;
    EXPECT_EQ(got, want);
    EXPECT_TRUE(r.done());
    // Cut anywhere, it is truncated (and still said so).
    for (size_t n = 0; n < enc.size(); ++n) {
      codec::Reader cut(std::string_view(enc).substr(0, n), Code::kCorruption);
      cut.Var("field", got);
      ExpectRefusal(cut.status("obj"), "obj", "truncated field");
    }
  }
}

// A fifo entry named `name` of the smallest size: every var one byte.
std::string FifoEntry(const std::string& name, const std::string& mode = "\x00"s) {
  std::string e;
  ByteWriter w(&e);
  w.Bytes(name);
  w.U8(4);  // fifo
  w.Raw(mode);
  w.Raw("\x00\x00\x00\x00"s);  // uid gid user group
  w.I64(0);
  w.I64(0);
  w.Raw("\x00\x00\x01\x00\x00\x00"s);  // device inode nlink size hardlink_group nxattrs
  return e;
}

TEST(DecoderLimits, TreeWithANonMinimalVarintIsRefused) {
  // 0644 is a4 03; a4 83 00 is the same value, not minimal.
  const std::string good = "\x01\x01"s + FifoEntry("a", "\xa4\x03"s);
  auto t = DecodeTree(good, "tree t");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->nodes[0].mode, 0644u);
  ExpectRefusal(DecodeTree("\x01\x01"s + FifoEntry("a", "\xa4\x83\x00"s), "tree t").status(),
                "tree t", "entry 0: mode is a non-minimal varint");
}

// ---- 2. Sequence counts and memory ------------------------------------------

TEST(DecoderLimits, SmallestTreeEntryIsThirtyBytes) {
  // The constant the entry count is checked against is the real minimum: a
  // tree of entries of exactly that size decodes.
  std::string raw = "\x01\x03"s + FifoEntry("a") + FifoEntry("b") + FifoEntry("c");
  ASSERT_EQ(raw.size(), 2 + 3 * 30u);
  auto t = DecodeTree(raw, "tree t");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->nodes.size(), 3u);
  // One byte short of the third entry: the count is refused before any
  // entry is decoded.
  raw.pop_back();
  ExpectRefusal(DecodeTree(raw, "tree t").status(), "tree t", "entry: 3 do not fit in the 89");
}

TEST(DecoderLimits, TreeEntryCountIsBoundedByTheSmallestEntry) {
  // 1000 entries claimed and 1000 bytes left: a byte per entry is not enough.
  const std::string raw = "\x01"s + VarBytes(1000) + std::string(1000, '\0');
  ExpectRefusal(DecodeTree(raw, "tree t").status(), "tree t",
                "entry: 1000 do not fit in the 1000 bytes left");
}

TEST(DecoderLimits, XattrAndExtentCountsAreBoundedByTheirSmallestSize) {
  // An entry whose xattr count is 50 with 99 bytes after it (an xattr is at
  // least two bytes).
  std::string e = FifoEntry("a");
  e.back() = 50;
  ExpectRefusal(DecodeTree("\x01\x01"s + e + std::string(99, '\0'), "tree t").status(), "tree t",
                "entry 0: xattr: 50 do not fit in the 99 bytes left");
  // A file whose extent count is 50 with 99 bytes after it (an extent is at
  // least two bytes).
  std::string f = FifoEntry("f");
  f[2] = 1;  // file
  f += VarBytes(50);
  ExpectRefusal(DecodeTree("\x01\x01"s + f + std::string(99, '\0'), "tree t").status(), "tree t",
                "entry 0: extent: 50 do not fit in the 99 bytes left");
}

// A vector that records the most elements it was ever asked to hold.
struct RecordingVector {
  using value_type = uint64_t;
  std::vector<uint64_t> v;
  size_t most = 0;
  void Note(size_t n) { most = std::max(most, n); }
  void resize(size_t n) {
    Note(n);
    v.resize(n);
  }
  void reserve(size_t n) {
    Note(n);
    v.reserve(n);
  }
  void clear() { v.clear(); }
  uint64_t& emplace_back() {
    Note(v.size() + 1);
    return v.emplace_back();
  }
  auto begin() { return v.begin(); }
  auto end() { return v.end(); }
  size_t size() const { return v.size(); }
  bool empty() const { return v.empty(); }
};

TEST(DecoderLimits, SequenceMemoryFollowsTheElementsDecoded) {
  // A million one-byte elements claimed and present, the second refused: the
  // reader must not have made room for a million first.
  const std::string in = VarBytes(1000000) + "\x01\x09"s + std::string(1000000 - 2, '\0');
  RecordingVector c;
  codec::Reader r(in, Code::kCorruption);
  r.Seq("element", c, codec::kNoLimit, 1, [&](uint64_t& e) {
    r.Var("value", e);
    r.Check(e < 5, "value too large");
  });
  ExpectRefusal(r.status("obj"), "obj", "element 1: value too large");
  EXPECT_LT(c.most, 100000u);
}

// ---- 3. Extents ------------------------------------------------------------

Tree OneFile(uint64_t size, std::vector<Extent> content) {
  Node f;
  f.name = "f";
  f.type = NodeType::kFile;
  f.size = size;
  f.content = std::move(content);
  f.digest = LimitsFixedId(9);
  return Tree{{f}};
}

TEST(DecoderLimits, ExtentLengthsMayNotWrapAround) {
  // 2^64 - 1 + 6 wraps to 5 in u64.
  const Tree t = OneFile(5, {{true, std::numeric_limits<uint64_t>::max(), Id{}}, {true, 6, Id{}}});
  ExpectRefusal(DecodeTree(EncodeTree(t), "tree t").status(), "tree t", "entry 0: extent 0: ");
  const Tree chunks = OneFile(10, {{false, 4, LimitsFixedId(1)}, {false, 7, LimitsFixedId(2)}});
  ExpectRefusal(DecodeTree(EncodeTree(chunks), "tree t").status(), "tree t",
                "entry 0: extent 1: extents run past the size 10");
}

TEST(DecoderLimits, FileSizeFitsAnOffset) {
  const uint64_t big = uint64_t{1} << 63;
  ExpectRefusal(DecodeTree(EncodeTree(OneFile(big, {{true, big, Id{}}})), "tree t").status(),
                "tree t", "entry 0: size 9223372036854775808 is over the limit");
  // Holes may be large; the largest file is fine.
  const uint64_t max = big - 1;
  auto ok = DecodeTree(
      EncodeTree(OneFile(max, {{true, max - 5, Id{}}, {false, 5, LimitsFixedId(1)}})), "tree t");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
}

TEST(DecoderLimits, ChunkExtentIsAtMostTheLargestBlob) {
  const Tree t = OneFile(kBlobLimit + 1, {{false, kBlobLimit + 1, LimitsFixedId(1)}});
  ExpectRefusal(DecodeTree(EncodeTree(t), "tree t").status(), "tree t",
                "entry 0: extent 0: extent length 67108865 is over the limit of 67108864");
  auto ok =
      DecodeTree(EncodeTree(OneFile(kBlobLimit, {{false, kBlobLimit, LimitsFixedId(1)}})), "t");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
}

// ---- 4. Index entries, pack headers and blobs --------------------------------

TEST(DecoderLimits, IndexEntryLengthsAreBounded) {
  auto segment = [](uint32_t stored, uint32_t raw) {
    return EncodeIndexSegment({{LimitsFixedId(1), {{BlobType::kData, LimitsFixedId(2), 0, 10, 10}}},
                               {LimitsFixedId(3),
                                {{BlobType::kData, LimitsFixedId(4), 0, 10, 10},
                                 {BlobType::kTree, LimitsFixedId(5), 10, stored, raw}}}});
  };
  ExpectRefusal(DecodeIndexSegment(segment(100, 0xffffffff), "idx").status(), "idx",
                "pack 1: blob 1: raw_len 4294967295 of blob 05060708");
  ExpectRefusal(DecodeIndexSegment(segment(100, 0xffffffff), "idx").status(), "idx",
                "over the limit of 67108864");
  ExpectRefusal(DecodeIndexSegment(segment(0xffffffff, 100), "idx").status(), "idx",
                "pack 1: blob 1: blob 05060708090a0b0c0d0e0f1011121314 stored larger than raw");
  auto ok = DecodeIndexSegment(segment(kBlobLimit, kBlobLimit), "idx");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
}

TEST(DecoderLimits, PackHeaderRawLengthIsBounded) {
  PackBuilder b;
  b.Add(BlobType::kData, LimitsFixedId(1), "abc", 3);
  b.Add(BlobType::kData, LimitsFixedId(2), "tiny", 0xfffffff0);
  ExpectRefusal(ParsePack(b.Finish(), "pack p").status(), "pack p",
                "raw_len 4294967280 of blob 02030405");
}

TEST(DecoderLimits, BlobLengthsAreCheckedBeforeAllocating) {
  const KeyedHasher h = LimitsHasher();
  ExpectRefusal(DecodeBlob("abc", 0xffffffff, h.Hash("x"), h, "pack p").status(), "pack p",
                "raw length 4294967295 is over the limit of 67108864");
  const std::string raw = std::string(1000, 'a');
  const std::string stored = EncodeBlob(raw, 3);
  ASSERT_LT(stored.size(), raw.size());
  ExpectRefusal(
      DecodeBlob(stored, static_cast<uint32_t>(stored.size() - 1), h.Hash(raw), h, "pack p")
          .status(),
      "pack p", "is larger than its raw length");
  // A frame that decompresses to more than the raw length is refused, not
  // written past the buffer; one that decompresses to less is refused too.
  ExpectRefusal(DecodeBlob(stored, 999, h.Hash(raw), h, "pack p").status(), "pack p", "blob");
  auto ok = DecodeBlob(stored, 1000, h.Hash(raw), h, "pack p");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(*ok, raw);
}

// ---- 5. Block map heads -------------------------------------------------------

TEST(DecoderLimits, BlockMapHeadReservesOnlyForWhatIsLoaded) {
  // A 64 KiB head naming 4096 segments: a 1 TiB device of 64 KiB blocks, 16 Mi
  // blocks, ~285 MB of BlockRef if reserved up front. Its first segment is
  // missing, so nothing beyond the head is ever decoded.
  const uint64_t segments = 4096;
  const uint64_t length = segments * kBlocksPerSegment * uint64_t{kMinBlockSize};
  std::string head = "B\x01"s + VarBytes(kMinBlockSize) + VarBytes(length) + VarBytes(segments);
  for (uint64_t i = 0; i < segments; ++i)
    head.append(LimitsFixedId(static_cast<uint8_t>(i)).Bytes());
  const Id head_id = LimitsFixedId(200);
  size_t before = 0, at_first_segment = 0;
  auto r = LoadBlockMap(head_id, [&](const Id& id) -> Result<std::string> {
    if (id == head_id) {
      before = mallinfo2().hblkhd;
      return head;
    }
    at_first_segment = mallinfo2().hblkhd;
    return Status::NotFound("segment " + id.Hex() + " is missing");
  });
  EXPECT_FALSE(r.ok());
  EXPECT_LT(at_first_segment, before + (16u << 20))
      << "bytes mapped after decoding only the head: " << at_first_segment - before;
}

TEST(DecoderLimits, BlockMapHeadSegmentCountIsCheckedBeforeReading) {
  // A head that claims more segments than its length needs is refused at the
  // count, naming the limit.
  std::string head = "B\x01"s + VarBytes(kMinBlockSize) + VarBytes(kMinBlockSize) + VarBytes(2);
  head.append(LimitsFixedId(1).Bytes());
  head.append(LimitsFixedId(2).Bytes());
  auto r = BlockMapReferences(head, "block map m");
  ExpectRefusal(r.status(), "block map m", "segment: 2 is more than 1");
}

// ---- 6. JSON objects ----------------------------------------------------------

Snapshot SampleSnapshot(bool block) {
  Snapshot s;
  s.time_ns = 1795748405000000007;
  s.host = "records-01";
  s.username = "root";
  s.paths = {"/srv/data"};
  s.tags = {"daily", "\xd6\xd0"};
  s.tree = LimitsFixedId(2);
  s.stats.files_new = 3;
  s.stats.duration_s = 1.5;
  s.program_version = "0.1.0";
  if (block) s.block = BlockInfo{"image", 65536, 4198400, 65, 40, 3, 62, "extent-compare"};
  return s;
}

json PayloadOf(const std::string& object, EnvelopeKind kind) {
  return json::parse(OpenEnvelope(kind, object, "x").value());
}

TEST(DecoderLimits, SnapshotNumbersMustFitTheirFields) {
  struct Case {
    const char* why;
    bool block;
    std::function<void(json&)> edit;
  };
  const std::vector<Case> cases = {
      {"time_ns", false, [](json& j) { j["time_ns"] = 1e30; }},
      {"time_ns", false, [](json& j) { j["time_ns"] = 1.5; }},
      {"time_ns", false, [](json& j) { j["time_ns"] = uint64_t{1} << 63; }},
      {"files_new", false, [](json& j) { j["stats"]["files_new"] = -1; }},
      {"files_new", false, [](json& j) { j["stats"]["files_new"] = 0.5; }},
      {"errors", false, [](json& j) { j["stats"]["errors"] = 1e20; }},
      {"duration_s", false, [](json& j) { j["stats"]["duration_s"] = -1.0; }},
      {"duration_s", false, [](json& j) { j["stats"]["duration_s"] = "1"; }},
      {"partial", false, [](json& j) { j["partial"] = 1; }},
      {"block_size", true, [](json& j) { j["block"]["block_size"] = (uint64_t{1} << 32) + 65536; }},
      {"block_size", true, [](json& j) { j["block"]["block_size"] = 100000; }},
      {"length", true, [](json& j) { j["block"]["length"] = uint64_t{1} << 63; }},
      {"blocks", true, [](json& j) { j["block"]["blocks"] = 66; }},
      {"zero_blocks", true, [](json& j) { j["block"]["zero_blocks"] = 66; }},
      {"changed_blocks", true, [](json& j) { j["block"]["changed_blocks"] = 66; }},
      {"blocks_not_read", true, [](json& j) { j["block"]["blocks_not_read"] = 66; }},
      {"paths", true, [](json& j) { j["paths"] = json::array(); }},
  };
  for (const auto& c : cases) {
    json j = PayloadOf(EncodeSnapshot(SampleSnapshot(c.block)), EnvelopeKind::kSnapshot);
    ASSERT_TRUE(DecodeSnapshot(SealEnvelope(EnvelopeKind::kSnapshot, j.dump()), "snap").ok());
    c.edit(j);
    SCOPED_TRACE(j.dump());
    ExpectRefusal(DecodeSnapshot(SealEnvelope(EnvelopeKind::kSnapshot, j.dump()), "snap").status(),
                  "snap", c.why);
  }
}

TEST(DecoderLimits, SnapshotStringsAreBounded) {
  const std::string long_text(kMaxSnapshotTextBytes + 1, 'x');
  const std::vector<std::pair<const char*, std::function<void(json&)>>> cases = {
      {"host", [&](json& j) { j["host"] = long_text; }},
      {"username",
       [&](json& j) {
         j["username"] = json{{"hex", ToHex(long_text)}};
       }},
      {"paths", [&](json& j) { j["paths"].push_back(long_text); }},
      {"tags", [&](json& j) { j["tags"].push_back(long_text); }},
      {"warnings", [&](json& j) { j["warnings"].push_back(long_text); }},
      {"program_version", [&](json& j) { j["program_version"] = long_text; }},
      {"consistency", [&](json& j) { j["consistency"] = long_text; }},
      {"method", [&](json& j) { j["block"]["method"] = long_text; }},
  };
  for (const auto& [why, edit] : cases) {
    json j = PayloadOf(EncodeSnapshot(SampleSnapshot(true)), EnvelopeKind::kSnapshot);
    edit(j);
    ExpectRefusal(DecodeSnapshot(SealEnvelope(EnvelopeKind::kSnapshot, j.dump()), "snap").status(),
                  "snap", why);
  }
  // At the limit is fine.
  Snapshot s = SampleSnapshot(false);
  s.host = std::string(kMaxSnapshotTextBytes, 'h');
  ASSERT_TRUE(DecodeSnapshot(EncodeSnapshot(s), "snap").ok());
}

TEST(DecoderLimits, SnapshotWithNonUtf8TextEncodesAndRoundTrips) {
  Snapshot s = SampleSnapshot(true);
  s.consistency = "btrfs-snapshot (read-only snapshot of /srv/\xd6\xd0\xce\xc4)";
  std::string enc;
  ASSERT_NO_THROW(enc = EncodeSnapshot(s));
  auto back = DecodeSnapshot(enc, "snap");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->consistency, s.consistency);
  EXPECT_EQ(EncodeSnapshot(*back), enc);
  // Fields that have no hex form never make the encoder throw either.
  s.program_version = "0.1\xff";
  s.block->method = "read\xc3";
  s.block->source_kind = "\xfe";
  ASSERT_NO_THROW(enc = EncodeSnapshot(s));
  back = DecodeSnapshot(enc, "snap");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(EncodeSnapshot(*back), enc);
}

TEST(DecoderLimits, ConfigNumbersAndStringsMustFitTheirFields) {
  auto c = RepoConfig::Generate(ChunkerParams{}, 16 << 20, 3);
  ASSERT_TRUE(c.ok());
  const std::vector<std::pair<const char*, std::function<void(json&)>>> cases = {
      {"format_version", [](json& j) { j["format_version"] = 1.5; }},
      {"format_version", [](json& j) { j["format_version"] = 4294967297; }},
      {"pack_size", [](json& j) { j["pack_size"] = 0; }},
      {"pack_size", [](json& j) { j["pack_size"] = (uint64_t{1} << 32) + (16 << 20); }},
      {"pack_size", [](json& j) { j["pack_size"] = 4294967295u; }},
      {"level", [](json& j) { j["compression"]["level"] = 99; }},
      {"level", [](json& j) { j["compression"]["level"] = 1.5; }},
      {"min_size", [](json& j) { j["chunker"]["min_size"] = -1; }},
      {"max_size", [](json& j) { j["chunker"]["max_size"] = (uint64_t{1} << 32) + (4 << 20); }},
      {"created_unix_ns", [](json& j) { j["created_unix_ns"] = 1e300; }},
      {"repo_id", [](json& j) { j["repo_id"] = "not hex"; }},
      {"repo_id", [](json& j) { j["repo_id"] = std::string(100000, 'a'); }},
      {"id_algorithm", [](json& j) { j["id_algorithm"] = std::string(100000, 'a'); }},
  };
  for (const auto& [why, edit] : cases) {
    json j = PayloadOf(c->Encode(), EnvelopeKind::kConfig);
    ASSERT_TRUE(RepoConfig::Decode(SealEnvelope(EnvelopeKind::kConfig, j.dump()), "cfg").ok());
    edit(j);
    SCOPED_TRACE(j.dump());
    ExpectRefusal(RepoConfig::Decode(SealEnvelope(EnvelopeKind::kConfig, j.dump()), "cfg").status(),
                  "cfg", why);
  }
}

}  // namespace
}  // namespace dr
