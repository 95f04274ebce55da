// Golden test vectors, object by object: every stored object kind of the
// checked-in repository decodes, so a decoder change that breaks reading is
// named precisely. Restoring and checking it: golden_test.cc.
//
// Golden test vectors: a repository written once by the format-version-1 code
// (tests/data/golden-v1/repo, made by tools/make-golden) must be read, checked
// and restored exactly by today's code. The expected results
// (tests/data/golden-v1/expected.txt) were taken from the source tree with
// stat, sha256sum and getfattr, not from drctl.
//
// If a test here fails, today's code cannot read what earlier code wrote: fix
// the reader. Never regenerate the vectors to make these tests pass; a new
// format version gets new vectors (golden-v2) next to these.
// docs/format/README.md, "Golden test vectors".
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>

#include "catalog/checker.h"
#include "catalog/format/blob.h"
#include "catalog/format/block_map.h"
#include "catalog/format/index.h"
#include "catalog/format/pack.h"
#include "catalog/format/repo_config.h"
#include "catalog/format/snapshot.h"
#include "catalog/format/tree.h"
#include "catalog/repository.h"
#include "core/envelope.h"
#include "core/hash.h"
#include "restore/block/block_restore.h"
#include "restore/files/restorer.h"
#include "tests/golden_manifest.h"
#include "tests/test_util.h"

namespace dr {
namespace {

namespace fs = std::filesystem;
using namespace golden;  // NOLINT: the manifest types are this file's vocabulary

TEST_F(Golden, ConfigDecodes) {
  const std::string obj = ReadBytes(repo_dir() + "/config");
  ExpectEnvelope(obj, EnvelopeKind::kConfig, "config");
  RepoConfig c = Config();
  EXPECT_EQ(c.format_version, 1);
  EXPECT_EQ(c.id_algorithm, "xxh3-128-keyed");
  EXPECT_EQ(c.chunker_algorithm, "fastcdc-gear64-nc2");
  EXPECT_EQ(c.chunker.min_size, std::stoul(manifest().repo.at("chunk_min")));
  EXPECT_EQ(c.chunker.avg_size, std::stoul(manifest().repo.at("chunk_avg")));
  EXPECT_EQ(c.chunker.max_size, std::stoul(manifest().repo.at("chunk_max")));
  EXPECT_EQ(c.pack_size, std::stoul(manifest().repo.at("pack_size")));
  EXPECT_EQ(c.compression_level, std::stoi(manifest().repo.at("compression")));
  EXPECT_EQ(c.secret.size(), 192u);
  EXPECT_EQ(c.repo_id.size(), 32u);
  EXPECT_GT(c.created_unix_ns, 0);
  // What Open made of it is the same.
  EXPECT_EQ(repo().config().secret, c.secret);
}

TEST_F(Golden, PacksDecode) {
  const KeyedHasher hasher(Config().secret);
  const auto keys = Keys(repo_dir(), "data");
  EXPECT_GE(keys.size(), 3u) << "one pack per backup";
  int data = 0, metadata = 0, compressed = 0, raw = 0;
  for (const auto& key : keys) {
    SCOPED_TRACE(key);
    Id id;
    ASSERT_TRUE(PackIdFromKey(key, &id));
    const std::string pack = ReadBytes(repo_dir() + "/" + key);
    EXPECT_EQ(hasher.Hash(pack), id) << "the pack's name is H(its bytes)";
    // Trailer by hand (docs/format/pack.md): u32 N, u64 checksum, u8 version, "DRPK".
    ASSERT_GE(pack.size(), kPackTrailerSize);
    EXPECT_EQ(pack.substr(pack.size() - 4), "DRPK");
    EXPECT_EQ(static_cast<uint8_t>(pack[pack.size() - 5]), 1) << "pack version";
    uint32_t n = 0;
    for (int i = 3; i >= 0; --i)
      n = n << 8 | static_cast<uint8_t>(pack[pack.size() - kPackTrailerSize + i]);
    auto entries = ParsePack(pack, key);
    ASSERT_TRUE(entries.ok()) << entries.status().ToString();
    EXPECT_EQ(entries->size(), n);
    uint64_t offset = 0;
    for (const auto& e : *entries) {
      EXPECT_EQ(e.offset, offset);
      offset += e.stored_len;
      (e.type == BlobType::kData ? data : metadata)++;
      (e.stored_len < e.raw_len ? compressed : raw)++;
      auto blob = DecodeBlob(std::string_view(pack).substr(e.offset, e.stored_len), e.raw_len, e.id,
                             hasher, key + " blob " + e.id.Hex());
      EXPECT_TRUE(blob.ok()) << blob.status().ToString();
    }
    EXPECT_EQ(offset + n * kPackEntrySize + kPackTrailerSize, pack.size());
  }
  EXPECT_GT(data, 0);
  EXPECT_GT(metadata, 0);
  EXPECT_GT(compressed, 0) << "zstd-compressed blobs";
  EXPECT_GT(raw, 0) << "blobs stored raw";
}

TEST_F(Golden, IndexSegmentsDecodeAndAgreeWithThePacks) {
  std::set<Id> listed;
  const auto keys = Keys(repo_dir(), "index");
  EXPECT_GE(keys.size(), 3u) << "one segment per backup";
  for (const auto& key : keys) {
    SCOPED_TRACE(key);
    const std::string obj = ReadBytes(repo_dir() + "/" + key);
    ExpectEnvelope(obj, EnvelopeKind::kIndex, key);
    auto seg = DecodeIndexSegment(obj, key);
    ASSERT_TRUE(seg.ok()) << seg.status().ToString();
    for (const auto& p : *seg) {
      listed.insert(p.pack);
      auto entries = ParsePack(ReadBytes(repo_dir() + "/" + PackKey(p.pack)), PackKey(p.pack));
      ASSERT_TRUE(entries.ok()) << entries.status().ToString();
      ASSERT_EQ(p.entries.size(), entries->size());
      for (size_t i = 0; i < entries->size(); ++i) {
        const PackEntry &a = p.entries[i], &b = (*entries)[i];
        EXPECT_TRUE(a.type == b.type && a.id == b.id && a.offset == b.offset &&
                    a.stored_len == b.stored_len && a.raw_len == b.raw_len)
            << "entry " << i << " of pack " << p.pack.Hex() << " differs from its header";
      }
    }
  }
  std::set<Id> packs;
  for (const auto& key : Keys(repo_dir(), "data")) {
    Id id;
    ASSERT_TRUE(PackIdFromKey(key, &id));
    packs.insert(id);
  }
  EXPECT_EQ(listed, packs) << "every pack indexed, and only those";
  EXPECT_TRUE(repo().open_warnings().empty()) << repo().open_warnings()[0];
  EXPECT_EQ(repo().IndexedPacks().size(), packs.size());
}

TEST_F(Golden, SnapshotsDecode) {
  const KeyedHasher hasher(Config().secret);
  const auto keys = Keys(repo_dir(), "snapshots");
  ASSERT_EQ(keys.size(), manifest().snapshots.size());
  for (const auto& es : manifest().snapshots) {
    SCOPED_TRACE(es.label);
    Id id;
    ASSERT_TRUE(Id::FromHex(es.id(), &id));
    const std::string obj = ReadBytes(repo_dir() + "/" + SnapshotKey(id));
    ASSERT_FALSE(obj.empty()) << SnapshotKey(id) << " is missing";
    EXPECT_EQ(hasher.Hash(obj), id) << "a snapshot's name is H(its bytes)";
    ExpectEnvelope(obj, EnvelopeKind::kSnapshot, es.label);
    Snapshot s = SnapshotOf(es);
    EXPECT_EQ(s.host, es.f.at("host"));
    EXPECT_EQ(s.tags, es.tags());
    EXPECT_EQ(s.paths, std::vector<std::string>{es.path()});
    EXPECT_FALSE(s.partial);
    EXPECT_EQ(s.block.has_value(), es.block());
    EXPECT_FALSE(s.tree.IsZero());
    EXPECT_EQ(s.program_version, "0.1.0");
    if (es.f.at("parent") == "-") {
      EXPECT_FALSE(s.parent.has_value());
    } else {
      ASSERT_TRUE(s.parent.has_value());
      EXPECT_EQ(s.parent->Hex(), manifest().Find(es.f.at("parent"))->id());
    }
    for (const auto& tag : es.tags()) {
      if (std::any_of(tag.begin(), tag.end(), [](char c) { return c & 0x80; })) {
        // A non-UTF-8 tag is stored in the {"hex": ...} form (snapshot.md).
        auto payload = OpenEnvelope(EnvelopeKind::kSnapshot, obj, es.label);
        ASSERT_TRUE(payload.ok());
        EXPECT_NE(payload->find("{\"hex\":\"" + ToHex(tag) + "\"}"), std::string::npos);
      }
    }
  }
}

// The node at `path` (absolute) under the root tree `root`.
Result<Node> FindNode(const Id& root, const std::string& path,
                      const std::function<Result<std::string>(const Id&)>& load) {
  Node dir;
  dir.type = NodeType::kDir;
  dir.subtree = root;
  for (const auto& name : Split(path.substr(1), '/')) {
    ASSIGN_OR_RETURN(std::string raw, load(dir.subtree));
    ASSIGN_OR_RETURN(Tree tree, DecodeTree(raw, "tree " + dir.subtree.Hex()));
    const Node* n = tree.Find(name);
    if (!n) return Status::NotFound(path + ": no " + name);
    dir = *n;
  }
  return dir;
}

TEST_F(Golden, TreesDecodeAndHoldTheSourceMetadata) {
  for (const auto& es : manifest().snapshots) {
    if (es.block()) continue;
    SCOPED_TRACE(es.label);
    Snapshot s = SnapshotOf(es);
    auto top = FindNode(s.tree, es.path(), LoadRaw);
    ASSERT_TRUE(top.ok()) << top.status().ToString();
    std::map<std::string, uint64_t> group_of_label;  // manifest hard-link label -> node group
    size_t seen = 0;
    for (const auto& e : es.entries) {
      SCOPED_TRACE(e.path);
      Node n = *top;
      if (e.path != ".") {
        auto found = FindNode(n.subtree, "/" + e.path, LoadRaw);
        ASSERT_TRUE(found.ok()) << found.status().ToString();
        n = *found;
      }
      ++seen;
      EXPECT_EQ(std::string(NodeTypeName(n.type)), e.type());
      EXPECT_EQ(n.mode, e.mode());
      EXPECT_EQ(n.uid, e.uid());
      EXPECT_EQ(n.gid, e.gid());
      if (e.uid() == 1234) {
        EXPECT_EQ(n.user, "") << "uid 1234 had no name";
      }
      EXPECT_EQ(n.mtime_ns, e.mtime_ns());
      EXPECT_EQ(n.size, e.size());
      std::map<std::string, std::string> xattrs(n.xattrs.begin(), n.xattrs.end());
      EXPECT_EQ(xattrs, e.xattrs());
      if (n.type == NodeType::kSymlink) {
        EXPECT_EQ(n.link_target, e.target());
      }
      if (n.type == NodeType::kCharDev || n.type == NodeType::kBlockDev) {
        EXPECT_EQ(n.rdev, e.rdev());
      }
      if (n.type == NodeType::kFile) {
        uint64_t sum = 0, holes = 0;
        for (const auto& x : n.content) {
          sum += x.length;
          holes += x.hole;
        }
        EXPECT_EQ(sum, e.size());
        if (e.f.at("sparse") == "1") {
          EXPECT_GT(holes, 0u) << "holes are stored as holes";
        }
        if (e.hardlink().empty()) {
          EXPECT_EQ(n.hardlink_group, 0u);
        } else {
          EXPECT_NE(n.hardlink_group, 0u);
          auto [it, fresh] = group_of_label.emplace(e.hardlink(), n.hardlink_group);
          if (!fresh) {
            EXPECT_EQ(it->second, n.hardlink_group) << "hard-link group";
          }
        }
      }
    }
    EXPECT_GT(seen, 20u);
  }
}

TEST_F(Golden, BlockMapDecodes) {
  for (const auto& es : manifest().snapshots) {
    if (!es.block()) continue;
    SCOPED_TRACE(es.label);
    Snapshot s = SnapshotOf(es);
    ASSERT_TRUE(s.block.has_value());
    const uint32_t block_size = static_cast<uint32_t>(std::stoul(es.f.at("block_size")));
    const uint64_t length = std::stoull(es.f.at("length"));
    const uint64_t blocks = std::stoull(es.f.at("blocks"));
    const uint64_t zero_blocks = std::stoull(es.f.at("zero_blocks"));
    EXPECT_EQ(s.block->source_kind, "image");
    EXPECT_EQ(s.block->block_size, block_size);
    EXPECT_EQ(s.block->length, length);
    EXPECT_EQ(s.block->blocks, blocks);
    EXPECT_EQ(s.block->zero_blocks, zero_blocks);

    auto head = LoadRaw(s.tree);
    ASSERT_TRUE(head.ok()) << head.status().ToString();
    EXPECT_TRUE(IsBlockMapHead(*head));
    EXPECT_EQ((*head)[0], 'B');
    EXPECT_EQ((*head)[1], 1) << "block map version";
    auto segments = BlockMapReferences(*head, "block map head");
    ASSERT_TRUE(segments.ok()) << segments.status().ToString();
    ASSERT_EQ(segments->size(), 1u);
    auto segment = LoadRaw(segments->front());
    ASSERT_TRUE(segment.ok()) << segment.status().ToString();
    EXPECT_TRUE(IsBlockMapSegment(*segment));
    auto chunks = BlockMapReferences(*segment, "block map segment");
    ASSERT_TRUE(chunks.ok()) << chunks.status().ToString();
    EXPECT_EQ(chunks->size(), blocks - zero_blocks);

    auto map = LoadBlockMap(s.tree, LoadRaw);
    ASSERT_TRUE(map.ok()) << map.status().ToString();
    EXPECT_EQ(map->block_size, block_size);
    EXPECT_EQ(map->length, length);
    ASSERT_EQ(map->blocks.size(), blocks);
    EXPECT_EQ(static_cast<uint64_t>(std::count_if(map->blocks.begin(), map->blocks.end(),
                                                  [](const BlockRef& b) { return b.zero; })),
              zero_blocks);
    for (const auto& b : map->blocks) {
      if (!b.zero) {
        EXPECT_TRUE(repo().HasBlob(b.chunk)) << b.chunk.Hex();
      }
    }
  }
}

// ---- the repository as a whole, through the library

}  // namespace
}  // namespace dr
