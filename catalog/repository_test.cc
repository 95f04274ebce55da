#include "catalog/repository.h"

#include <gtest/gtest.h>

#include "catalog/format/blob.h"
#include "catalog/store/testing/fault_store.h"
#include "catalog/store/testing/mem_store.h"
#include "core/envelope.h"
#include "tests/test_util.h"

namespace dr {
namespace {

// Each "process" opens the same store anew; a FaultStore without faults
// is a non-owning view of it.
std::unique_ptr<Repository> OpenRepositoryOn(ObjectStore* base) {
  auto r = Repository::Open(std::make_unique<FaultStore>(base));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : nullptr;
}

InitOptions SmallPackOptions() {
  InitOptions o;
  o.pack_size = 1 << 20;
  return o;
}

Id AddDataBlob(Repository& repo, const std::string& raw) {
  Id id = repo.hasher().Hash(raw);
  if (repo.Claim(id)) {
    EXPECT_TRUE(
        repo.AddBlob(BlobType::kData, id, EncodeBlob(raw, 3), static_cast<uint32_t>(raw.size()))
            .ok());
  }
  return id;
}

TEST(Repository, InitTwiceIsRefused) {
  MemStore mem;
  ASSERT_TRUE(Repository::Init(&mem, {}).ok());
  Status again = Repository::Init(&mem, {});
  EXPECT_EQ(again.code(), Code::kAlreadyExists);
}

// A backend that takes at most 64 MiB in one write, like a RADOS cluster
// with a lowered osd_max_write_size.
class SmallWritesStore : public MemStore {
 public:
  uint64_t MaxObjectBytes() const override { return 64u << 20; }
};

TEST(Repository, InitRefusesPacksLargerThanTheBackendsLargestWrite) {
  SmallWritesStore store;
  InitOptions big;
  big.pack_size = 64u << 20;
  Status s = Repository::Init(&store, big);
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("choose a smaller pack size"), std::string::npos) << s.ToString();
  EXPECT_FALSE(store.Size("config").ok());         // nothing written
  EXPECT_TRUE(Repository::Init(&store, {}).ok());  // 16 MiB packs fit
}

TEST(Repository, OpenWithoutConfigSaysHowToCreateOne) {
  MemStore mem;
  auto r = Repository::Open(std::make_unique<FaultStore>(&mem));
  EXPECT_TRUE(r.status().IsNotFound());
  EXPECT_NE(r.status().message().find("drctl init"), std::string::npos);
}

TEST(Repository, CorruptedOrForeignConfigIsNamed) {
  MemStore mem;
  ASSERT_TRUE(Repository::Init(&mem, {}).ok());
  (*mem.Mutable("config"))[30] ^= 0x40;
  auto r = Repository::Open(std::make_unique<FaultStore>(&mem));
  EXPECT_TRUE(r.status().IsCorruption());
  EXPECT_NE(r.status().message().find("config"), std::string::npos);
  ASSERT_TRUE(mem.Put("config", "this is some other program's file").ok());
  r = Repository::Open(std::make_unique<FaultStore>(&mem));
  EXPECT_NE(r.status().message().find("not a repository object"), std::string::npos);
}

TEST(Repository, BlobsSurviveReopenAndAreDeduplicated) {
  MemStore mem;
  ASSERT_TRUE(Repository::Init(&mem, SmallPackOptions()).ok());
  std::vector<std::pair<Id, std::string>> blobs;
  {
    auto repo = OpenRepositoryOn(&mem);
    for (int i = 0; i < 40; ++i) {
      std::string raw = test::RandomBytes(100000, i);
      blobs.emplace_back(AddDataBlob(*repo, raw), raw);
    }
    EXPECT_FALSE(repo->Claim(blobs[0].first));  // already claimed or stored
    ASSERT_TRUE(repo->Flush().ok());
    EXPECT_GE(repo->write_stats().packs_written, 3u);
  }
  auto repo = OpenRepositoryOn(&mem);
  EXPECT_EQ(repo->IndexedBlobCount(), 40u);
  for (const auto& [id, raw] : blobs) {
    auto got = repo->LoadBlob(id);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, raw);
    EXPECT_FALSE(repo->Claim(id));
  }
}

TEST(Repository, SnapshotIsNotWrittenWhenItsDataIsNotDurable) {
  MemStore mem;
  ASSERT_TRUE(Repository::Init(&mem, SmallPackOptions()).ok());
  FaultStore faulty(&mem);
  auto repo = OpenRepositoryOn(&faulty);
  faulty.OnlyKeysWithPrefix("index/");
  faulty.FailPutsFrom(1, Status::IOError("index write failed"));
  Tree t;
  Node n;
  n.name = "f";
  n.content = {{false, 5, AddDataBlob(*repo, "hello")}};
  n.size = 5;
  t.nodes.push_back(n);
  auto tree = repo->StoreTree(t);
  ASSERT_TRUE(tree.ok());
  Snapshot s;
  s.tree = *tree;
  auto id = repo->CommitSnapshot(s);
  EXPECT_FALSE(id.ok());
  EXPECT_TRUE(mem.List("snapshots/")->empty());
}

TEST(Repository, UnindexedPacksAreAdoptedSoTheirChunksAreReused) {
  MemStore mem;
  ASSERT_TRUE(Repository::Init(&mem, SmallPackOptions()).ok());
  FaultStore faulty(&mem);
  std::vector<Id> ids;
  {
    auto repo = OpenRepositoryOn(&faulty);
    faulty.OnlyKeysWithPrefix("index/");
    faulty.FailPutsFrom(1, Status::IOError("crash before the index"));
    for (int i = 0; i < 30; ++i) ids.push_back(AddDataBlob(*repo, test::RandomBytes(100000, i)));
    EXPECT_FALSE(repo->Flush().ok());
  }
  EXPECT_FALSE(mem.List("data/")->empty());
  EXPECT_TRUE(mem.List("index/")->empty());
  auto repo = OpenRepositoryOn(&mem);
  auto adopted = repo->AdoptUnindexedPacks();
  ASSERT_TRUE(adopted.ok());
  EXPECT_GE(*adopted, 2);
  size_t reused = 0;
  for (const Id& id : ids) reused += repo->HasBlob(id);
  EXPECT_GE(reused, 20u);               // everything in packs that reached the store
  auto fresh = OpenRepositoryOn(&mem);  // and the adoption itself was made durable
  EXPECT_EQ(fresh->IndexedBlobCount(), repo->IndexedBlobCount());
}

TEST(Repository, FindSnapshotByPrefixLatestAndTime) {
  MemStore mem;
  ASSERT_TRUE(Repository::Init(&mem, {}).ok());
  auto repo = OpenRepositoryOn(&mem);
  auto tree = repo->StoreTree(Tree{});
  ASSERT_TRUE(tree.ok());
  std::vector<Id> ids;
  for (int i = 0; i < 3; ++i) {
    Snapshot s;
    s.tree = *tree;
    s.time_ns = (1000 + i * 100) * 1000000000LL;
    s.host = "h";
    auto id = repo->CommitSnapshot(s);
    ASSERT_TRUE(id.ok());
    ids.push_back(*id);
  }
  EXPECT_EQ(repo->FindSnapshot("latest")->id, ids[2]);
  EXPECT_EQ(repo->FindSnapshot(ids[1].Hex().substr(0, 8))->id, ids[1]);
  EXPECT_EQ(repo->FindSnapshotAt(1150 * 1000000000LL)->id, ids[1]);
  EXPECT_EQ(repo->FindSnapshotAt(1200 * 1000000000LL)->id, ids[2]);
  auto before = repo->FindSnapshotAt(999 * 1000000000LL);
  EXPECT_TRUE(before.status().IsNotFound());
  EXPECT_NE(before.status().message().find("the first is"), std::string::npos);
  EXPECT_TRUE(repo->FindSnapshot("0000000000").status().IsNotFound());
  EXPECT_EQ(repo->FindSnapshot("xyz!").status().code(), Code::kInvalidArgument);
}

TEST(Repository, DamagedSnapshotIsSkippedAndNamed) {
  MemStore mem;
  ASSERT_TRUE(Repository::Init(&mem, {}).ok());
  auto repo = OpenRepositoryOn(&mem);
  auto tree = repo->StoreTree(Tree{});
  Snapshot s;
  s.tree = *tree;
  auto id = repo->CommitSnapshot(s);
  ASSERT_TRUE(id.ok());
  (*mem.Mutable(SnapshotKey(*id)))[25] ^= 1;
  std::vector<std::string> bad;
  auto all = repo->ListSnapshots(&bad);
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_NE(bad[0].find(id->Hex()), std::string::npos);
}

}  // namespace
}  // namespace dr
