// Byte-exact encodings of every on-store codec, recorded from the codecs
// before the field lists (core/codec.h) replaced the hand-written encoders and
// decoders. docs/format/ is normative: these bytes must never drift, and each
// object must decode and re-encode to itself.
#include <gtest/gtest.h>

#include "catalog/format/index.h"
#include "catalog/format/pack.h"
#include "catalog/format/repo_config.h"
#include "catalog/format/snapshot.h"
#include "catalog/format/tree.h"
#include "core/envelope.h"

namespace dr {
namespace {

Id FixedId(uint8_t first) {
  Id id;
  for (int i = 0; i < 16; ++i) id.b[i] = static_cast<uint8_t>(first + i);
  return id;
}

Tree GoldenTree() {
  Tree t;
  auto add = [&](std::string name, NodeType type) -> Node& {
    Node n;
    n.name = std::move(name);
    n.type = type;
    n.mode = 0644;
    n.uid = 1000;
    n.gid = 70000;
    n.user = "ann";
    n.group = "staff";
    n.mtime_ns = 1700000000123456789;
    n.ctime_ns = -2;
    n.device = 2049;
    n.inode = 1u << 20;
    n.nlink = 1;
    t.nodes.push_back(n);
    return t.nodes.back();
  };
  add("blk", NodeType::kBlockDev).rdev = 0x0801;
  add("chr", NodeType::kCharDev).rdev = 0x0103;
  Node& d = add("dir", NodeType::kDir);
  d.mode = 01777;
  d.subtree = FixedId(0x10);
  add("fifo", NodeType::kFifo).user = "";
  Node& f = add("file\xd6\xd0", NodeType::kFile);
  f.mode = 04755;
  f.size = 300000;
  f.nlink = 2;
  f.hardlink_group = 0x8000000000000001ull;
  f.xattrs = {{"system.posix_acl_access", std::string("\x02\x00\x00\x00", 4)}, {"user.k", "v"}};
  f.content = {{false, 100000, FixedId(0x20)}, {true, 150000, Id{}}, {false, 50000, FixedId(0x30)}};
  f.digest = FixedId(0x40);
  add("link", NodeType::kSymlink).link_target = "../target";
  add("sock", NodeType::kSocket);
  return t;
}

constexpr const char* kGoldenTreeHex =
    "010703626c6b06a403e807f0a20403616e6e05737461666615cd853dfe9c9717feffffffffffffff81108080400100"
    "000081100363687205a403e807f0a20403616e6e05737461666615cd853dfe9c9717feffffffffffffff8110808040"
    "0100000083020364697202ff07e807f0a20403616e6e05737461666615cd853dfe9c9717feffffffffffffff811080"
    "804001000000101112131415161718191a1b1c1d1e1f046669666f04a403e807f0a2040005737461666615cd853dfe"
    "9c9717feffffffffffffff8110808040010000000666696c65d6d001ed13e807f0a20403616e6e05737461666615cd"
    "853dfe9c9717feffffffffffffff811080804002e0a71281808080808080808001021773797374656d2e706f736978"
    "5f61636c5f616363657373040200000006757365722e6b01760300a08d06202122232425262728292a2b2c2d2e2f01"
    "f0930900d08603303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f046c696e6b03a403"
    "e807f0a20403616e6e05737461666615cd853dfe9c9717feffffffffffffff811080804001000000092e2e2f746172"
    "67657404736f636b07a403e807f0a20403616e6e05737461666615cd853dfe9c9717feffffffffffffff8110808040"
    "01000000";

TEST(TreeCodec, GoldenBytes) {
  std::string enc = EncodeTree(GoldenTree());
  EXPECT_EQ(ToHex(enc), kGoldenTreeHex);
  auto back = DecodeTree(enc, "golden tree");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->nodes, GoldenTree().nodes);
  EXPECT_EQ(EncodeTree(*back), enc);
  EXPECT_EQ(ToHex(EncodeTree(Tree{})), "0100");  // the empty tree
}

std::vector<IndexPack> GoldenIndex() {
  return {{FixedId(1),
           {{BlobType::kData, FixedId(2), 0, 100, 250}, {BlobType::kTree, FixedId(3), 100, 7, 7}}},
          {FixedId(4), {}},
          {FixedId(5), {{BlobType::kData, FixedId(6), 0, 0xfffffffe, 0xffffffff}}}};
}

constexpr const char* kGoldenIndexHex =
    "44524f31020100008b00000000000000030102030405060708090a0b0c0d0e0f10020002030405060708090a0b0c0d"
    "0e0f10110000000064000000fa00000001030405060708090a0b0c0d0e0f1011126400000007000000070000000405"
    "060708090a0b0c0d0e0f101112130005060708090a0b0c0d0e0f10111213140100060708090a0b0c0d0e0f10111213"
    "141500000000feffffffffffffffa3e0ecedfdd2a31f";

TEST(IndexSegment, GoldenBytes) {
  std::string enc = EncodeIndexSegment(GoldenIndex());
  EXPECT_EQ(ToHex(enc), kGoldenIndexHex);
  // The last entry pins the bytes of u32 lengths near 4 GiB. Readers refuse
  // it: a blob's raw length is at most kMaxBlobBytes (docs/format/index.md).
  EXPECT_EQ(DecodeIndexSegment(enc, "golden index").status().message(),
            "golden index: pack 2: blob 0: raw_len 4294967295 of blob "
            "060708090a0b0c0d0e0f101112131415 is over the limit of 67108864");
  // At the limit, the segment decodes and encodes to itself.
  std::vector<IndexPack> at_limit = GoldenIndex();
  at_limit[2].entries[0].stored_len = kMaxBlobBytes - 1;
  at_limit[2].entries[0].raw_len = kMaxBlobBytes;
  enc = EncodeIndexSegment(at_limit);
  auto back = DecodeIndexSegment(enc, "golden index");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(EncodeIndexSegment(*back), enc);
}

std::string GoldenPack() {
  PackBuilder b;
  b.Add(BlobType::kData, FixedId(1), "first blob", 10);
  b.Add(BlobType::kTree, FixedId(2), "tree", 4);
  b.Add(BlobType::kData, FixedId(3), "zstd?", 9);
  return b.Finish();
}

constexpr const char* kGoldenPackHex =
    "666972737420626c6f62747265657a7374643f000102030405060708090a0b0c0d0e0f100a0000000a000000010203"
    "0405060708090a0b0c0d0e0f1011040000000400000000030405060708090a0b0c0d0e0f1011120500000009000000"
    "030000002d1bb8370e3398e2014452504b";

TEST(Pack, GoldenBytes) {
  std::string pack = GoldenPack();
  EXPECT_EQ(ToHex(pack), kGoldenPackHex);
  auto entries = ParsePack(pack, "golden pack");
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[2].offset, 14u);
  EXPECT_EQ((*entries)[2].raw_len, 9u);
  EXPECT_EQ((*entries)[1].type, BlobType::kTree);
}

Snapshot GoldenSnapshot(bool block) {
  Snapshot s;
  s.time_ns = 1795748405000000007;
  s.host = "records-01";
  s.username = "r\xd6\xd0t";
  s.paths = {"/srv/\xd6\xd0\xce\xc4", "/home/ann"};
  s.tags = {"daily"};
  s.parent = FixedId(1);
  s.tree = FixedId(2);
  s.partial = true;
  s.warnings = {"stat /srv/x: Permission denied"};
  s.stats = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1.5};
  s.program_version = "0.1.0";
  if (block) {
    s.parent.reset();
    s.consistency = "reflink-copy (crash-consistent)";
    s.block = BlockInfo{"image", 65536, 4198400, 65, 40, 3, 62, "extent-compare"};
  }
  return s;
}

// The payloads (JSON); the objects are these sealed in an envelope of kind 3.
constexpr const char* kGoldenSnapshotJson[2] = {
    R"j({"host":"records-01","parent":"0102030405060708090a0b0c0d0e0f10","partial":true,)j"
    R"j("paths":[{"hex":"2f7372762fd6d0cec4"},"/home/ann"],"program_version":"0.1.0",)j"
    R"j("stats":{"blobs_added":9,"bytes_added":8,"bytes_read":7,"bytes_total":6,"dirs":4,)j"
    R"j("duration_s":1.5,"errors":10,"files_changed":2,"files_new":1,"files_unchanged":3,)j"
    R"j("others":5},"tags":["daily"],"time_ns":1795748405000000007,)j"
    R"j("tree":"02030405060708090a0b0c0d0e0f1011","username":{"hex":"72d6d074"},)j"
    R"j("warnings":["stat /srv/x: Permission denied"]})j",
    R"j({"block":{"block_size":65536,"blocks":65,"blocks_not_read":62,"changed_blocks":3,)j"
    R"j("length":4198400,"method":"extent-compare","source_kind":"image","zero_blocks":40},)j"
    R"j("consistency":"reflink-copy (crash-consistent)","host":"records-01","parent":null,)j"
    R"j("partial":true,"paths":[{"hex":"2f7372762fd6d0cec4"},"/home/ann"],)j"
    R"j("program_version":"0.1.0","stats":{"blobs_added":9,"bytes_added":8,"bytes_read":7,)j"
    R"j("bytes_total":6,"dirs":4,"duration_s":1.5,"errors":10,"files_changed":2,)j"
    R"j("files_new":1,"files_unchanged":3,"others":5},"tags":["daily"],)j"
    R"j("time_ns":1795748405000000007,"tree":"02030405060708090a0b0c0d0e0f1011",)j"
    R"j("username":{"hex":"72d6d074"},"warnings":["stat /srv/x: Permission denied"]})j"};

TEST(SnapshotCodec, GoldenBytes) {
  for (bool block : {false, true}) {
    std::string enc = EncodeSnapshot(GoldenSnapshot(block));
    EXPECT_EQ(enc, SealEnvelope(EnvelopeKind::kSnapshot, kGoldenSnapshotJson[block])) << block;
    auto back = DecodeSnapshot(enc, "golden snapshot");
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(EncodeSnapshot(*back), enc) << block;
  }
}

RepoConfig GoldenConfig() {
  RepoConfig c;
  c.repo_id = "5be0c2a4f1e64a0d9b7c3e2f10a8d6c4";
  c.secret = std::string(150, 'S') + std::string(42, '\x01');
  c.chunker = {16 << 10, 64 << 10, 256 << 10};
  c.pack_size = 1 << 20;
  c.compression_level = 5;
  c.created_unix_ns = 1795833600123456789;
  return c;
}

// The payload (JSON, with the secret's hex in the middle); the object is it
// sealed in an envelope of kind 1.
constexpr const char* kGoldenConfigJson[2] = {R"({
  "chunker": {
    "algorithm": "fastcdc-gear64-nc2",
    "avg_size": 65536,
    "max_size": 262144,
    "min_size": 16384
  },
  "compression": {
    "algorithm": "zstd",
    "level": 5
  },
  "created_unix_ns": 1795833600123456789,
  "format_version": 1,
  "id_algorithm": "xxh3-128-keyed",
  "pack_size": 1048576,
  "repo_id": "5be0c2a4f1e64a0d9b7c3e2f10a8d6c4",
  "secret": ")",
                                              R"("
})"};

TEST(RepoConfigCodec, GoldenBytes) {
  std::string enc = GoldenConfig().Encode();
  std::string secret_hex;
  for (int i = 0; i < 150; ++i) secret_hex += "53";
  for (int i = 0; i < 42; ++i) secret_hex += "01";
  EXPECT_EQ(enc, SealEnvelope(EnvelopeKind::kConfig,
                              kGoldenConfigJson[0] + secret_hex + kGoldenConfigJson[1]));
  auto back = RepoConfig::Decode(enc, "golden config");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->Encode(), enc);
}

}  // namespace
}  // namespace dr
