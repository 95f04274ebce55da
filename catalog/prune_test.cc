#include "catalog/prune.h"

#include <gtest/gtest.h>

#include "catalog/checker.h"
#include "catalog/format/blob.h"
#include "catalog/gc_record.h"
#include "catalog/session_marker.h"
#include "catalog/store/testing/fault_store.h"
#include "catalog/store/testing/mem_store.h"
#include "core/timefmt.h"
#include "tests/test_util.h"

namespace dr {
namespace {

// Every "process" opens the same store anew (a FaultStore without faults is
// a non-owning view of it).
std::unique_ptr<Repository> OpenOn(ObjectStore* base) {
  auto r = Repository::Open(std::make_unique<FaultStore>(base));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : nullptr;
}

RepositoryOpener OpenerFor(ObjectStore* base) {
  return [base]() -> Result<std::unique_ptr<Repository>> {
    return Repository::Open(std::make_unique<FaultStore>(base));
  };
}

Id AddData(Repository& repo, const std::string& raw) {
  Id id = repo.hasher().Hash(raw);
  if (repo.Claim(id)) {
    EXPECT_TRUE(
        repo.AddBlob(BlobType::kData, id, EncodeBlob(raw, 3), static_cast<uint32_t>(raw.size()))
            .ok());
  }
  return id;
}

// A tree of one file per content, named f0, f1, ...
Id StoreFiles(Repository& repo, const std::vector<std::string>& contents) {
  Tree t;
  for (size_t i = 0; i < contents.size(); ++i) {
    Node n;
    char name[32];
    std::snprintf(name, sizeof(name), "f%05zu", i);  // sorted bytewise
    n.name = name;
    n.size = contents[i].size();
    n.content = {{false, n.size, AddData(repo, contents[i])}};
    t.nodes.push_back(n);
  }
  auto id = repo.StoreTree(t);
  EXPECT_TRUE(id.ok());
  return *id;
}

Id Commit(Repository& repo, const Id& tree, int64_t time_s) {
  Snapshot s;
  s.tree = tree;
  s.host = "h";
  s.paths = {"/src"};
  s.time_ns = time_s * 1000000000LL;
  auto id = repo.CommitSnapshot(s);
  EXPECT_TRUE(id.ok()) << id.status().ToString();
  return *id;
}

Id Backup(ObjectStore* store, const std::vector<std::string>& contents, int64_t time_s) {
  auto repo = OpenOn(store);
  return Commit(*repo, StoreFiles(*repo, contents), time_s);
}

size_t Count(ObjectStore* store, const std::string& prefix) {
  auto l = store->List(prefix);
  EXPECT_TRUE(l.ok());
  return l.ok() ? l->size() : 0;
}

// Every snapshot's files load and decode to what `expect` says.
void ExpectRestorable(ObjectStore* store, const Id& snapshot,
                      const std::vector<std::string>& expect) {
  auto repo = OpenOn(store);
  auto snap = repo->FindSnapshot(snapshot.Hex());
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  auto tree = repo->LoadTree(snap->tree);
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  ASSERT_EQ(tree->nodes.size(), expect.size());
  for (size_t i = 0; i < expect.size(); ++i) {
    ASSERT_EQ(tree->nodes[i].content.size(), 1u);
    auto data = repo->LoadBlob(tree->nodes[i].content[0].chunk);
    ASSERT_TRUE(data.ok()) << data.status().ToString();
    EXPECT_EQ(*data, expect[i]);
  }
  CheckOptions opts;
  opts.read_data = true;
  auto check = CheckRepository(*repo, opts);
  ASSERT_TRUE(check.ok());
  EXPECT_EQ(check->error_count(), 0u);
}

std::vector<std::string> Contents(int n, uint64_t seed, size_t size = 300 << 10) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(test::RandomBytes(size, seed * 1000 + i));
  return out;
}

InitOptions SmallPacks() {
  InitOptions o;
  o.pack_size = 1 << 20;
  return o;
}

TEST(Prune, ReclaimsWhatForgottenSnapshotsAloneUsedAndKeepsTheRest) {
  MemStore mem;
  ASSERT_TRUE(Repository::Init(&mem, SmallPacks()).ok());
  auto old_data = Contents(8, 1), new_data = Contents(8, 2);
  Id old_snap = Backup(&mem, old_data, 1000);
  Id new_snap = Backup(&mem, new_data, 2000);
  const size_t packs_before = Count(&mem, "data/");
  ASSERT_TRUE(mem.Delete(SnapshotKey(old_snap)).ok());  // forget

  auto r = Prune(OpenerFor(&mem), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->packs_deleted, 0u);
  EXPECT_GT(r->bytes_deleted, old_data.size() * (250u << 10));
  EXPECT_LT(Count(&mem, "data/"), packs_before);
  EXPECT_EQ(Count(&mem, "gc/"), 0u) << "a quiet repository is pruned in one run";
  EXPECT_EQ(Count(&mem, "locks/"), 0u);
  ExpectRestorable(&mem, new_snap, new_data);
  // Nothing the old snapshot alone used is left.
  auto repo = OpenOn(&mem);
  EXPECT_FALSE(repo->FindBlob(repo->hasher().Hash(old_data[0])).has_value());
}

TEST(Prune, DryRunWritesAndDeletesNothing) {
  MemStore mem;
  ASSERT_TRUE(Repository::Init(&mem, SmallPacks()).ok());
  Id a = Backup(&mem, Contents(6, 3), 1000);
  Backup(&mem, Contents(6, 4), 2000);
  ASSERT_TRUE(mem.Delete(SnapshotKey(a)).ok());
  auto before = mem.List("");
  ASSERT_TRUE(before.ok());
  PruneOptions o;
  o.dry_run = true;
  auto r = Prune(OpenerFor(&mem), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->condemned_bytes, 0u);
  auto after = mem.List("");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(before->size(), after->size());
}

TEST(Prune, WaitsForSessionsRunningAtCondemnationThenDeletes) {
  MemStore mem;
  ASSERT_TRUE(Repository::Init(&mem, SmallPacks()).ok());
  auto gone = Contents(6, 5);
  Id a = Backup(&mem, gone, 1000);
  Backup(&mem, Contents(6, 6), 2000);
  ASSERT_TRUE(mem.Delete(SnapshotKey(a)).ok());
  const size_t packs_before = Count(&mem, "data/");
  {
    auto session = SessionMarker::Begin(&mem, "backup");
    ASSERT_TRUE(session.ok());
    auto r = Prune(OpenerFor(&mem), {});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_GT(r->condemned_unused, 0u);
    EXPECT_EQ(r->packs_deleted, 0u);
    EXPECT_EQ(r->records_waiting, 1u);
    ASSERT_EQ(r->waiting_for.size(), 1u);
    EXPECT_NE(r->waiting_for[0].find("backup on host"), std::string::npos);
    EXPECT_EQ(Count(&mem, "data/"), packs_before);
    EXPECT_EQ(Count(&mem, "gc/"), 1u);
  }  // the session ends
  auto r = Prune(OpenerFor(&mem), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->packs_deleted, 0u);
  EXPECT_EQ(r->records_dropped, 1u);
  EXPECT_EQ(Count(&mem, "gc/"), 0u);
}

// The race prune must survive: a backup that started before the
// condemnation decides to reuse a chunk that only a forgotten snapshot
// used, and commits after the condemnation. Its snapshot must stay whole.
TEST(Prune, ASessionThatReusedACondemnedChunkBeforeCondemnationKeepsItsSnapshotWhole) {
  MemStore mem;
  ASSERT_TRUE(Repository::Init(&mem, SmallPacks()).ok());
  auto shared = Contents(4, 7);
  Id a = Backup(&mem, shared, 1000);
  ASSERT_TRUE(mem.Delete(SnapshotKey(a)).ok());  // nothing references `shared` now

  // The backup starts: marker up, index loaded, chunks found present.
  auto writer = OpenOn(&mem);
  auto session = SessionMarker::Begin(&mem, "backup");
  ASSERT_TRUE(session.ok());
  ASSERT_TRUE(writer->RefreshExclusions().ok());
  ASSERT_TRUE(writer->HasBlob(writer->hasher().Hash(shared[0])));
  const uint64_t added_before = writer->write_stats().blobs_added;
  Id tree = StoreFiles(*writer, shared);  // dedups every chunk
  EXPECT_EQ(writer->write_stats().blobs_added, added_before) << "the tree too is stored";

  auto first = Prune(OpenerFor(&mem), {});  // condemns the chunks' packs
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_GT(first->condemned_unused, 0u);
  EXPECT_EQ(first->packs_deleted, 0u);

  ASSERT_TRUE((*session)->StillValid().ok());
  Id b = Commit(*writer, tree, 3000);
  session->reset();
  writer.reset();

  auto second = Prune(OpenerFor(&mem), {});
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_GT(second->packs_rescued, 0u);
  ExpectRestorable(&mem, b, shared);
}

// A vault keeps its repository open across sessions. A prune that condemns
// and deletes in one run, while no session is open, leaves no record behind:
// the next session must still learn that the deleted packs are gone, or its
// agents would reuse chunks that no longer exist.
TEST(Prune, ALongLivedWriterForgetsPacksAPruneDeletedWhileItWasIdle) {
  MemStore mem;
  ASSERT_TRUE(Repository::Init(&mem, SmallPacks()).ok());
  auto data = Contents(4, 9);
  Id a = Backup(&mem, data, 1000);
  auto vault = OpenOn(&mem);  // opened while the chunks were live
  ASSERT_TRUE(vault->HasBlob(vault->hasher().Hash(data[0])));
  ASSERT_TRUE(mem.Delete(SnapshotKey(a)).ok());

  auto r = Prune(OpenerFor(&mem), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_GT(r->packs_deleted, 0u);
  ASSERT_EQ(Count(&mem, "gc/"), 0u) << "the record is gone with the packs";

  auto session = SessionMarker::Begin(&mem, "vault session");
  ASSERT_TRUE(session.ok());
  ASSERT_TRUE(vault->RefreshExclusions().ok());
  EXPECT_FALSE(vault->HasBlob(vault->hasher().Hash(data[0])));
  const uint64_t before = vault->write_stats().blobs_added;
  Id tree = StoreFiles(*vault, data);
  EXPECT_EQ(vault->write_stats().blobs_added, before + data.size() + 1) << "stored again";
  Id b = Commit(*vault, tree, 2000);
  session->reset();
  vault.reset();
  ExpectRestorable(&mem, b, data);
}

TEST(Prune, ABackupStartedAfterCondemnationStoresCondemnedChunksAgain) {
  MemStore mem;
  ASSERT_TRUE(Repository::Init(&mem, SmallPacks()).ok());
  auto data = Contents(4, 8);
  Id a = Backup(&mem, data, 1000);
  ASSERT_TRUE(mem.Delete(SnapshotKey(a)).ok());
  std::unique_ptr<SessionMarker> blocker;
  {
    auto m = SessionMarker::Begin(&mem, "restore");
    ASSERT_TRUE(m.ok());
    blocker = std::move(m).value();
  }
  ASSERT_TRUE(Prune(OpenerFor(&mem), {}).ok());  // condemned, not deleted
  ASSERT_EQ(Count(&mem, "gc/"), 1u);

  auto writer = OpenOn(&mem);
  auto session = SessionMarker::Begin(&mem, "backup");
  ASSERT_TRUE(session.ok());
  ASSERT_TRUE(writer->RefreshExclusions().ok());
  EXPECT_FALSE(writer->HasBlob(writer->hasher().Hash(data[0])));
  const uint64_t before = writer->write_stats().blobs_added;
  Id tree = StoreFiles(*writer, data);
  EXPECT_EQ(writer->write_stats().blobs_added, before + data.size() + 1);
  Id b = Commit(*writer, tree, 2000);
  session->reset();
  writer.reset();
  blocker.reset();

  auto r = Prune(OpenerFor(&mem), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->packs_deleted, 0u);
  EXPECT_EQ(r->packs_rescued, 0u);
  ExpectRestorable(&mem, b, data);
}

TEST(Prune, RepacksMostlyGarbagePacks) {
  MemStore mem;
  ASSERT_TRUE(Repository::Init(&mem, SmallPacks()).ok());
  // One pack holding both snapshots' chunks (64 KiB each, 12 of them).
  auto keep = Contents(4, 9, 64 << 10), drop = Contents(8, 10, 64 << 10);
  Id k, d;
  {
    auto repo = OpenOn(&mem);
    Id tk = StoreFiles(*repo, keep);
    Id td = StoreFiles(*repo, drop);
    k = Commit(*repo, tk, 1000);
    d = Commit(*repo, td, 1001);
  }
  ASSERT_EQ(Count(&mem, "data/"), 1u);
  ASSERT_TRUE(mem.Delete(SnapshotKey(d)).ok());
  auto r = Prune(OpenerFor(&mem), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->condemned_repacked, 1u);
  EXPECT_EQ(r->repacked_blobs, keep.size() + 1);  // the chunks and the tree
  EXPECT_EQ(r->packs_deleted, 1u);
  EXPECT_EQ(Count(&mem, "data/"), 1u);  // the new pack
  ExpectRestorable(&mem, k, keep);
  auto repo = OpenOn(&mem);
  EXPECT_FALSE(repo->FindBlob(repo->hasher().Hash(drop[0])).has_value());
}

// Found by the vault's concurrent prune test: with no waste allowed, a
// pack whose blobs were all live counted its header as waste and was
// "repacked" into a pack of the very same bytes and name, which the prune
// then condemned and deleted as the source.
TEST(Prune, AFullyUsedPackIsNeverRepackedEvenWhenNoWasteIsAllowed) {
  MemStore mem;
  ASSERT_TRUE(Repository::Init(&mem, SmallPacks()).ok());
  auto a_data = Contents(2, 31, 64 << 10), b_data = Contents(2, 32, 64 << 10);
  Id a = Backup(&mem, a_data, 1000);
  Id b = Backup(&mem, b_data, 2000);
  PruneOptions no_waste;
  no_waste.max_unused = 0;
  for (int round = 0; round < 3; ++round) {
    auto r = Prune(OpenerFor(&mem), no_waste);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->condemned_repacked, 0u) << "round " << round;
    EXPECT_EQ(r->packs_deleted, 0u) << "round " << round;
    ExpectRestorable(&mem, a, a_data);
    ExpectRestorable(&mem, b, b_data);
  }
}

TEST(Prune, ARepackedCopyNeverTakesItsSourcesName) {
  MemStore mem;
  ASSERT_TRUE(Repository::Init(&mem, SmallPacks()).ok());
  auto data = Contents(3, 33, 64 << 10);
  std::vector<Id> ids;
  {
    auto repo = OpenOn(&mem);
    for (const auto& d : data) ids.push_back(AddData(*repo, d));
    ASSERT_TRUE(repo->Flush().ok());
  }
  auto repo = OpenOn(&mem);
  const Id source = repo->FindBlob(ids[0])->pack;
  // The same blobs in the same order, as a repack of a pack with nothing
  // to drop would write them.
  repo->ExcludePacks({source});
  for (size_t i = 0; i < data.size(); ++i) {
    auto loc = repo->FindBlob(ids[i]);
    ASSERT_TRUE(loc.has_value());
    ASSERT_TRUE(repo->AddBlob(BlobType::kData, ids[i], EncodeBlob(data[i], 3),
                              static_cast<uint32_t>(data[i].size()))
                    .ok());
  }
  ASSERT_TRUE(repo->Flush().ok());
  for (const Id& id : ids) EXPECT_NE(repo->FindBlob(id)->pack, source);
  EXPECT_EQ(Count(&mem, "data/"), 2u);
}

// A prune killed after writing a repack copy but before indexing it leaves
// that copy as an unindexed pack. The next prune condemns it as garbage and
// repacks the same source again into the very same bytes: the new copy must
// not land under the condemned name, or both would be deleted.
TEST(Prune, ARepackCopyNeverTakesTheNameOfAnUnindexedPackItCondemns) {
  MemStore mem;
  ASSERT_TRUE(Repository::Init(&mem, SmallPacks()).ok());
  auto keep = Contents(4, 34, 64 << 10), drop = Contents(8, 35, 64 << 10);
  Id k, d, tk;
  {
    auto repo = OpenOn(&mem);
    tk = StoreFiles(*repo, keep);
    Id td = StoreFiles(*repo, drop);
    k = Commit(*repo, tk, 1000);
    d = Commit(*repo, td, 1001);
  }
  ASSERT_EQ(Count(&mem, "data/"), 1u);
  ASSERT_TRUE(mem.Delete(SnapshotKey(d)).ok());
  // What the killed prune wrote: the live blobs in pack order, unindexed.
  {
    auto repo = OpenOn(&mem);
    PackBuilder copy;
    for (const auto& raw : keep) {
      copy.Add(BlobType::kData, repo->hasher().Hash(raw), EncodeBlob(raw, 3),
               static_cast<uint32_t>(raw.size()));
    }
    auto tree = repo->LoadBlob(tk);
    ASSERT_TRUE(tree.ok());
    copy.Add(BlobType::kTree, tk, EncodeBlob(*tree, 3), static_cast<uint32_t>(tree->size()));
    const std::string bytes = copy.Finish();
    ASSERT_TRUE(mem.Put(PackKey(repo->hasher().Hash(bytes)), bytes).ok());
  }
  PruneOptions no_waste;
  no_waste.max_unused = 0;
  auto r = Prune(OpenerFor(&mem), no_waste);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->condemned_unindexed, 1u);
  EXPECT_EQ(r->condemned_repacked, 1u);
  ExpectRestorable(&mem, k, keep);
}

TEST(Prune, DeletesPacksLeftByAFailedBackup) {
  MemStore mem;
  ASSERT_TRUE(Repository::Init(&mem, SmallPacks()).ok());
  Id a = Backup(&mem, Contents(2, 11), 1000);
  // A pack whose index segment was never written (the backup died).
  PackBuilder pb;
  auto hasher = OpenOn(&mem)->hasher();
  std::string raw = test::RandomBytes(100 << 10, 99);
  pb.Add(BlobType::kData, hasher.Hash(raw), EncodeBlob(raw, 3), raw.size());
  std::string pack = pb.Finish();
  ASSERT_TRUE(mem.Put(PackKey(hasher.Hash(pack)), pack).ok());
  auto r = Prune(OpenerFor(&mem), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->condemned_unindexed, 1u);
  EXPECT_EQ(r->packs_deleted, 1u);
  EXPECT_FALSE(mem.Size(PackKey(hasher.Hash(pack))).ok());
  ExpectRestorable(&mem, a, Contents(2, 11));
}

TEST(Prune, RemovesTheMarkersOfDeadSessionsAndTheirCommitsFail) {
  MemStore mem;
  ASSERT_TRUE(Repository::Init(&mem, SmallPacks()).ok());
  Id a = Backup(&mem, Contents(3, 12), 1000);
  ASSERT_TRUE(mem.Delete(SnapshotKey(a)).ok());
  MarkerInfo dead{"sessions/00000000deadbeef",
                  "backup",
                  "elsewhere",
                  4242,
                  NowUnixNs() - 3600'000'000'000LL,
                  NowUnixNs() - 3600'000'000'000LL};
  ASSERT_TRUE(mem.Put(dead.key, EncodeMarker(dead)).ok());
  auto r = Prune(OpenerFor(&mem), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->stale_sessions_removed, 1u);
  EXPECT_GT(r->packs_deleted, 0u);
  EXPECT_EQ(Count(&mem, "sessions/"), 0u);

  auto live = SessionMarker::Begin(&mem, "backup");
  ASSERT_TRUE(live.ok());
  ASSERT_TRUE((*live)->StillValid().ok());
  ASSERT_TRUE(mem.Delete((*live)->key()).ok());  // as a prune does to a dead one
  Status s = (*live)->StillValid();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("nothing is committed"), std::string::npos) << s.ToString();
}

TEST(Prune, OnlyOneAtATime) {
  MemStore mem;
  ASSERT_TRUE(Repository::Init(&mem, SmallPacks()).ok());
  auto held = SessionMarker::Lock(&mem, "locks/prune", "prune");
  ASSERT_TRUE(held.ok());
  auto r = Prune(OpenerFor(&mem), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kAlreadyExists);
  EXPECT_NE(r.status().message().find("is held by prune on host"), std::string::npos)
      << r.status().ToString();
  held->reset();
  EXPECT_TRUE(Prune(OpenerFor(&mem), {}).ok());
}

TEST(Prune, RefusesToDeleteAnythingWhenASnapshotReferencesAMissingBlob) {
  MemStore mem;
  ASSERT_TRUE(Repository::Init(&mem, SmallPacks()).ok());
  Id a = Backup(&mem, Contents(3, 13), 1000);
  Backup(&mem, Contents(3, 14), 2000);
  {
    // A snapshot whose tree names a chunk the repository never stored.
    auto repo = OpenOn(&mem);
    Tree t;
    Node n;
    n.name = "ghost";
    n.size = 5;
    n.content = {{false, 5, repo->hasher().Hash("never stored")}};
    t.nodes.push_back(n);
    Commit(*repo, *repo->StoreTree(t), 3000);
  }
  ASSERT_TRUE(mem.Delete(SnapshotKey(a)).ok());
  const size_t objects = Count(&mem, "");
  auto r = Prune(OpenerFor(&mem), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("run drctl check"), std::string::npos);
  EXPECT_EQ(Count(&mem, ""), objects);
}

TEST(Prune, MergesManySmallIndexSegments) {
  MemStore mem;
  ASSERT_TRUE(Repository::Init(&mem, SmallPacks()).ok());
  std::vector<std::pair<Id, std::vector<std::string>>> snaps;
  for (int i = 0; i < 40; ++i) {
    auto c = Contents(1, 100 + i, 4 << 10);
    snaps.push_back({Backup(&mem, c, 1000 + i), c});
  }
  ASSERT_GT(Count(&mem, "index/"), kMaxSegmentsBeforeMerge);
  auto r = Prune(OpenerFor(&mem), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Count(&mem, "index/"), 1u);
  EXPECT_EQ(r->segments_after, 1u);
  for (const auto& [id, c] : snaps) ExpectRestorable(&mem, id, c);
}

TEST(Prune, TheReachabilitySetCostsAtMostSixteenBytesPerBlob) {
  MemStore mem;
  ASSERT_TRUE(Repository::Init(&mem, SmallPacks()).ok());
  Backup(&mem, Contents(2000, 15, 512), 1000);
  auto r = Prune(OpenerFor(&mem), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->blobs_indexed, 2001u);
  EXPECT_LE(r->reachability_bytes, 16 * r->blobs_indexed);
  EXPECT_LE(r->reachability_bytes, r->blobs_indexed / 8 + 8);
}

}  // namespace
}  // namespace dr
