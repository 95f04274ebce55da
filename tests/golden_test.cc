// Golden test vectors: repositories written once by the format-version-1 code
// (tests/data/golden-v1/repo) and the format-version-2 (encrypted) code
// (tests/data/golden-v2/repo, with its key file), made by tools/make-golden,
// must be read, checked and restored exactly by today's code. The expected results
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

// Every test runs on both sets of vectors: format 1 (plaintext) and format 2
// (encrypted), the same source content.
template <class Vectors>
class GoldenVectors : public Vectors {};
struct GoldenVersionName {
  template <class T>
  static std::string GetName(int) {
    return "v" + std::to_string(T::kFormat);
  }
};
using GoldenVersions = ::testing::Types<GoldenAt<1>, GoldenAt<2>>;
TYPED_TEST_SUITE(GoldenVectors, GoldenVersions, GoldenVersionName);

TYPED_TEST(GoldenVectors, CheckWithReadDataIsClean) {
  CheckOptions o;
  o.read_data = true;
  auto r = CheckRepository(this->repo(), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::string problems;
  for (const auto& p : r->problems)
    problems += std::string(ProblemKindName(p.kind)) + " " + p.where + ": " + p.message + "\n";
  EXPECT_TRUE(r->problems.empty()) << problems;
  EXPECT_EQ(r->snapshots, this->manifest().snapshots.size());
  EXPECT_EQ(r->packs, Keys(this->repo_dir(), "data").size());
  EXPECT_GT(r->blobs, 0u);
}

TYPED_TEST(GoldenVectors, ListedSnapshotsMatchTheManifest) {
  std::vector<std::string> bad;
  auto all = this->repo().ListSnapshots(&bad);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_TRUE(bad.empty()) << bad[0];
  ASSERT_EQ(all->size(), this->manifest().snapshots.size());
  for (size_t i = 0; i < all->size(); ++i) {
    const Snapshot& s = (*all)[i];
    const ExpectedSnapshot& es = this->manifest().snapshots[i];  // both oldest first
    SCOPED_TRACE(es.label);
    EXPECT_EQ(s.id.Hex(), es.id());
    EXPECT_EQ(s.block.has_value(), es.block());
    EXPECT_EQ(s.tags, es.tags());
    EXPECT_EQ(s.paths, std::vector<std::string>{es.path()});
  }
  auto latest = this->repo().FindSnapshot("latest");
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  EXPECT_EQ(latest->id.Hex(), this->manifest().snapshots.back().id());
  auto by_prefix = this->repo().FindSnapshot(this->manifest().snapshots.front().id().substr(0, 8));
  ASSERT_TRUE(by_prefix.ok()) << by_prefix.status().ToString();
  EXPECT_EQ(by_prefix->id.Hex(), this->manifest().snapshots.front().id());
}

TYPED_TEST(GoldenVectors, FileSnapshotsRestoreExactly) {
  const bool root = test::IsRoot();
  if (!root) {
    std::printf(
        "[ NOTE     ] not root: owners, devices and POSIX ACLs of the restore are not compared\n");
  }
  for (const auto& es : this->manifest().snapshots) {
    if (es.block()) continue;
    SCOPED_TRACE(es.label);
    test::TempDir out("golden-restore");
    RestoreOptions o;
    o.target = out.path();
    o.threads = 2;
    auto r = RestoreSnapshot(this->repo(), this->SnapshotOf(es), o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    for (const auto& err : r->errors) {
      EXPECT_TRUE(DeviceErrorAsNonRoot(err)) << err;
    }
    EXPECT_EQ(r->files_verified, r->files);

    std::map<std::string, Live> live;
    WalkLive(out.path() + es.path(), ".", &live);
    std::map<std::string, ino_t> inode_of_label;
    std::set<std::string> expected_paths;
    for (const auto& e : es.entries) {
      SCOPED_TRACE(e.path);
      expected_paths.insert(e.path);
      const bool device = e.type() == "chardev" || e.type() == "blockdev";
      if (device && !root) continue;
      auto it = live.find(e.path);
      ASSERT_NE(it, live.end()) << "not restored";
      const Live& l = it->second;
      EXPECT_EQ(TypeOf(l.st.st_mode), e.type());
      if (e.type() != "symlink") {
        EXPECT_EQ(l.st.st_mode & 07777, e.mode());
      }
      if (root) {
        EXPECT_EQ(l.st.st_uid, e.uid());
        EXPECT_EQ(l.st.st_gid, e.gid());
      }
      EXPECT_EQ(int64_t{l.st.st_mtim.tv_sec} * 1000000000 + l.st.st_mtim.tv_nsec, e.mtime_ns());
      if (e.type() == "file") {
        EXPECT_EQ(static_cast<uint64_t>(l.st.st_size), e.size());
        EXPECT_EQ(l.content_sha256, e.f.at("sha256"));
        if (e.f.at("sparse") == "1") {
          EXPECT_LT(l.st.st_blocks * 512, l.st.st_size) << "holes restored as holes";
        }
        if (e.hardlink().empty()) {
          EXPECT_EQ(l.st.st_nlink, 1u);
        } else {
          auto [at, fresh] = inode_of_label.emplace(e.hardlink(), l.st.st_ino);
          if (!fresh) {
            EXPECT_EQ(at->second, l.st.st_ino) << "not a hard link to " << e.hardlink();
          }
        }
      }
      if (e.type() == "symlink") {
        EXPECT_EQ(l.target, e.target());
      }
      if (device) {
        EXPECT_EQ(l.st.st_rdev, e.rdev());
      }
      auto want = e.xattrs(), got = l.xattrs;
      if (!root) {
        std::erase_if(want, [](const auto& kv) { return IsAclName(kv.first); });
        std::erase_if(got, [](const auto& kv) { return IsAclName(kv.first); });
      }
      EXPECT_EQ(got, want);
    }
    for (const auto& [path, l] : live) {
      EXPECT_TRUE(expected_paths.count(path)) << es.label << ": unexpected entry " << path;
    }
    EXPECT_GE(inode_of_label.size(), 1u) << "a hard-link pair";
  }
}

TYPED_TEST(GoldenVectors, BlockSnapshotRestoresExactly) {
  for (const auto& es : this->manifest().snapshots) {
    if (!es.block()) continue;
    SCOPED_TRACE(es.label);
    test::TempDir out("golden-image");
    BlockRestoreOptions o;
    o.target = out / "disk.img";
    o.threads = 2;
    auto r = RestoreBlockSnapshot(this->repo(), this->SnapshotOf(es), o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->length, std::stoull(es.f.at("length")));
    EXPECT_EQ(r->zero_blocks, std::stoull(es.f.at("zero_blocks")));
    const std::string image = test::ReadFile(o.target);
    EXPECT_EQ(image.size(), std::stoull(es.f.at("length")));
    EXPECT_EQ(Sha256Hex(image), es.f.at("sha256"));
  }
}

// ---- the checks above can fail: a damaged copy is reported

TYPED_TEST(GoldenVectors, ADamagedCopyOfTheGoldenRepositoryIsReported) {
  test::TempDir copy("golden-damaged");
  const std::string dir = copy / "repo";
  fs::copy(this->repo_dir(), dir, fs::copy_options::recursive);
  // Flip one byte in the middle of the largest data blob stored raw (a chunk
  // of the incompressible file), in the copy only.
  std::string victim_key;
  PackEntry victim;
  for (const auto& key : Keys(dir, "data")) {
    auto entries = ParsePack(ReadBytes(dir + "/" + key), key);
    ASSERT_TRUE(entries.ok()) << entries.status().ToString();
    for (const auto& e : *entries) {
      if (e.type == BlobType::kData && e.stored_len >= e.raw_len && e.raw_len > victim.raw_len) {
        victim_key = key;
        victim = e;
      }
    }
  }
  ASSERT_FALSE(victim_key.empty());
  std::string bytes = ReadBytes(dir + "/" + victim_key);
  bytes[victim.offset + victim.stored_len / 2] ^= 0x01;
  {
    std::ofstream f(dir + "/" + victim_key, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  ASSERT_NE(ReadBytes(dir + "/" + victim_key), ReadBytes(this->repo_dir() + "/" + victim_key));

  auto store = OpenObjectStore("dir://" + dir);
  ASSERT_TRUE(store.ok());
  auto damaged = Repository::Open(std::move(store).value(), "", TestFixture::OpenKeys());
  ASSERT_TRUE(damaged.ok()) << damaged.status().ToString();
  CheckOptions co;
  co.read_data = true;
  auto check = CheckRepository(**damaged, co);
  ASSERT_TRUE(check.ok());
  EXPECT_GT(check->error_count(), 0u);
  std::set<ProblemKind> kinds;
  for (const auto& p : check->problems) kinds.insert(p.kind);
  EXPECT_TRUE(kinds.count(ProblemKind::kPackDamaged) || kinds.count(ProblemKind::kBlobDamaged));
  EXPECT_TRUE(kinds.count(ProblemKind::kFileDamaged)) << "traced to the files that use it";

  // Restoring the first snapshot names the damaged file and no other.
  const ExpectedSnapshot& first = this->manifest().snapshots.front();
  test::TempDir out("golden-damaged-restore");
  RestoreOptions ro;
  ro.target = out.path();
  auto r = RestoreSnapshot(**damaged, this->SnapshotOf(first), ro);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  size_t named = 0;
  for (const auto& err : r->errors) {
    if (DeviceErrorAsNonRoot(err)) continue;
    EXPECT_NE(err.find("random.bin"), std::string::npos) << err;
    ++named;
  }
  EXPECT_GT(named, 0u) << "a flipped byte went unnoticed";
}

}  // namespace
}  // namespace dr
