#include "restore/mount/snapshot_fs.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "catalog/format/blob.h"
#include "catalog/store/testing/mem_store.h"
#include "tests/test_util.h"

namespace dr {
namespace {

class SnapshotFsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = std::make_unique<MemStore>();
    ASSERT_TRUE(Repository::Init(store.get(), {}).ok());
    auto repo = Repository::Open(std::move(store));
    ASSERT_TRUE(repo.ok());
    Repository& r = **repo;
    // "f": 100 KB of data, a 50 KB hole, 70 KB of data.
    a_ = test::RandomBytes(100'000, 1);
    b_ = test::RandomBytes(70'000, 2);
    expected_ = a_ + std::string(50'000, '\0') + b_;
    Node f;
    f.name = "f";
    f.mode = 0640;
    f.size = expected_.size();
    f.content = {
        {false, a_.size(), Chunk(r, a_)}, {true, 50'000, {}}, {false, b_.size(), Chunk(r, b_)}};
    Node link;
    link.name = "l";
    link.type = NodeType::kSymlink;
    link.link_target = "f";
    Node dir;
    dir.name = "d";
    dir.type = NodeType::kDir;
    dir.subtree = *r.StoreTree(Tree{{}});
    Snapshot s;
    s.host = "clerk";
    s.paths = {"/"};
    s.time_ns = 1'700'000'000'000'000'000;
    s.tree = *r.StoreTree(Tree{{dir, f, link}});
    auto id = r.CommitSnapshot(s);
    ASSERT_TRUE(id.ok());
    s.id = *id;
    name_ = SnapshotFs::SnapshotDirName(s);
    SnapshotFs::Options o;
    o.cache_bytes = 120'000;  // one of the two chunks at a time
    auto fs = SnapshotFs::Create(std::move(repo).value(), o);
    ASSERT_TRUE(fs.ok()) << fs.status().ToString();
    fs_ = std::move(fs).value();
  }

  static Id Chunk(Repository& r, const std::string& raw) {
    Id id = r.hasher().Hash(raw);
    if (r.Claim(id)) {
      EXPECT_TRUE(r.AddBlob(BlobType::kData, id, EncodeBlob(raw, 3), raw.size()).ok());
    }
    return id;
  }

  std::string a_, b_, expected_, name_;
  std::unique_ptr<SnapshotFs> fs_;
};

TEST_F(SnapshotFsTest, ReadsAnyRangeAcrossChunksAndHolesWithinTheCacheBound) {
  const std::string path = "/snapshots/" + name_ + "/f";
  auto h = fs_->Open(path);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  std::string buf(9000, '\x77');
  for (uint64_t off = 0; off < expected_.size() + 5000; off += 4999) {
    auto n = fs_->Read(*h, off, buf.size(), buf.data());
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    const size_t want = off >= expected_.size() ? 0 : std::min(buf.size(), expected_.size() - off);
    ASSERT_EQ(*n, want) << off;
    ASSERT_EQ(buf.substr(0, *n), expected_.substr(std::min<size_t>(off, expected_.size()), want))
        << off;
    EXPECT_LE(fs_->cache().bytes(), 120'000u);
  }
  EXPECT_GT(fs_->cache().hits(), 0u);
  // SEEK_DATA and SEEK_HOLE see the hole.
  EXPECT_EQ(*fs_->Seek(*h, 0, true), 0u);
  EXPECT_EQ(*fs_->Seek(*h, 0, false), 100'000u);
  EXPECT_EQ(*fs_->Seek(*h, 120'000, true), 150'000u);
  EXPECT_EQ(*fs_->Seek(*h, 160'000, false), expected_.size());
  EXPECT_TRUE(fs_->Seek(*h, expected_.size(), true).status().IsNotFound());
  fs_->Release(*h);
  EXPECT_FALSE(fs_->Read(*h, 0, 1, buf.data()).ok());
}

TEST_F(SnapshotFsTest, ShowsSnapshotsLatestAndHostsAndRefusesWhatIsNotThere) {
  auto top = fs_->ReadDir("/");
  ASSERT_TRUE(top.ok());
  std::vector<std::string> names;
  for (const auto& e : *top) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"snapshots", "hosts", "latest"}));
  EXPECT_EQ(*fs_->ReadLink("/latest"), "snapshots/" + name_);
  EXPECT_EQ(*fs_->ReadLink("/hosts/clerk/" + name_), "../../snapshots/" + name_);
  EXPECT_EQ(name_, "2023-11-14T22:13:20Z_" + name_.substr(name_.size() - 8));
  auto f = fs_->GetAttr("/snapshots/" + name_ + "/f");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->mode, S_IFREG | 0640u);
  EXPECT_EQ(f->size, expected_.size());
  EXPECT_EQ(f->stored, 170'000u);
  EXPECT_EQ(fs_->GetAttr("/snapshots/" + name_)->nlink, 3u);  // ., .. and d
  EXPECT_EQ(*fs_->ReadLink("/snapshots/" + name_ + "/l"), "f");
  EXPECT_TRUE(fs_->GetAttr("/snapshots/" + name_ + "/nope").status().IsNotFound());
  EXPECT_TRUE(fs_->GetAttr("/nope").status().IsNotFound());
  EXPECT_TRUE(fs_->GetAttr("/hosts/other").status().IsNotFound());
  EXPECT_EQ(fs_->GetAttr("/snapshots/" + name_ + "/f/x").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(fs_->ReadDir("/snapshots/" + name_ + "/f").status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(fs_->Open("/snapshots/" + name_ + "/d").ok());
}

TEST(SnapshotFsNames, HostsAreSafePathComponentsAndClashingShortIdsUseFullIds) {
  auto store = std::make_unique<MemStore>();
  ASSERT_TRUE(Repository::Init(store.get(), {}).ok());
  auto repo = Repository::Open(std::move(store));
  ASSERT_TRUE(repo.ok());
  auto tree = (*repo)->StoreTree(Tree{{}});
  ASSERT_TRUE(tree.ok());
  for (const char* host : {"a/b", "..", "", "50%"}) {
    Snapshot s;
    s.host = host;
    s.paths = {"/"};
    s.time_ns = 1'700'000'000'000'000'000;
    s.tree = *tree;
    ASSERT_TRUE((*repo)->CommitSnapshot(s).ok());
  }
  auto fs = SnapshotFs::Create(std::move(repo).value(), {});
  ASSERT_TRUE(fs.ok());
  auto hosts = (*fs)->ReadDir("/hosts");
  ASSERT_TRUE(hosts.ok());
  std::vector<std::string> names;
  for (const auto& e : *hosts) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"%", "%2E%2E", "50%25", "a%2Fb"}));
  EXPECT_EQ((*fs)->ReadDir("/snapshots")->size(), 4u);
}

}  // namespace
}  // namespace dr
