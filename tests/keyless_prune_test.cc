// Prune without the key (catalog/keyless_prune.h): an encrypted repository
// pruned only by its snapshots' summaries, as the off-site vault does. The
// summaries are written the way the replicating vault writes them
// (ReferencedPacks over its own copy, which holds the key).
#include "catalog/keyless_prune.h"

#include <gtest/gtest.h>

#include <set>

#include "catalog/checker.h"
#include "catalog/format/blob.h"
#include "catalog/format/pack.h"
#include "catalog/gc_record.h"
#include "catalog/repo_keys.h"
#include "catalog/repository.h"
#include "catalog/snapshot_summary.h"
#include "catalog/store/testing/fault_store.h"
#include "catalog/store/testing/mem_store.h"
#include "core/timefmt.h"
#include "policies/snapshot_groups.h"
#include "replicator/vault/offsite_references.h"
#include "tests/test_util.h"

namespace dr {
namespace {

constexpr int64_t kHourNs = 3600LL * 1'000'000'000;

class KeylessPrune : public ::testing::Test {
 protected:
  void SetUp() override {
    InitOptions o;
    o.pack_size = 1 << 20;
    o.encrypt = SlotSpec{std::nullopt, key_file_, "first"};
    ASSERT_TRUE(Repository::Init(&mem_, o).ok());
  }

  std::unique_ptr<Repository> Open() {
    KeySource k;
    k.key_file = key_file_;
    auto r = Repository::Open(std::make_unique<FaultStore>(&mem_), "", k);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }

  // A snapshot of one file per content; its summary is written unless
  // `summarize` is false.
  Snapshot Backup(const std::vector<std::string>& contents, int64_t time_s, bool summarize = true) {
    auto repo = Open();
    Tree t;
    for (size_t i = 0; i < contents.size(); ++i) {
      const std::string& raw = contents[i];
      const Id id = repo->hasher().Hash(raw);
      if (repo->Claim(id)) {
        EXPECT_TRUE(repo->AddBlob(BlobType::kData, id, EncodeBlob(raw, 3),
                                  static_cast<uint32_t>(raw.size()))
                        .ok());
      }
      Node n;
      n.name = "f" + std::to_string(i);
      n.size = raw.size();
      n.content = {{false, n.size, id}};
      t.nodes.push_back(n);
    }
    Snapshot s;
    s.tree = *repo->StoreTree(t);
    s.host = "finance-host";
    s.paths = {"/srv/ledger"};
    s.time_ns = time_s * 1'000'000'000LL;
    auto id = repo->CommitSnapshot(s);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    s.id = *id;
    if (summarize) Summarize(s);
    return s;
  }

  void Summarize(const Snapshot& s) {
    auto repo = Open();
    auto packs = ReferencedPacks(*repo, s);
    ASSERT_TRUE(packs.ok()) << packs.status().ToString();
    const KeyedHasher ids(repo->keyring()->id_secret());
    ASSERT_TRUE(mem_.Put(SummaryKey(s.id), EncodeSnapshotSummary(s, ids, *packs)).ok());
  }

  std::vector<Id> PacksOf(const Snapshot& s) {
    auto repo = Open();
    auto packs = ReferencedPacks(*repo, s);
    EXPECT_TRUE(packs.ok());
    return packs.ok() ? *packs : std::vector<Id>{};
  }

  std::set<std::string> Keys(const std::string& prefix) {
    std::set<std::string> out;
    auto listed = mem_.List(prefix);
    EXPECT_TRUE(listed.ok());
    if (listed.ok())
      for (const auto& o : *listed) out.insert(o.key);
    return out;
  }

  Result<PruneReport> Run(int64_t grace_ns) {
    KeylessPruneOptions o;
    o.grace_ns = grace_ns;
    return PruneWithoutKey(&mem_, o);
  }

  // Everything the store still holds is whole, with and without the key.
  void ExpectClean() {
    auto repo = Open();
    CheckOptions o;
    o.read_data = true;
    auto keyed = CheckRepository(*repo, o);
    ASSERT_TRUE(keyed.ok());
    EXPECT_EQ(keyed->error_count(), 0u) << keyed->problems[0].message;
    auto keyless = CheckWithoutKey(&mem_, o);
    ASSERT_TRUE(keyless.ok());
    EXPECT_EQ(keyless->error_count(), 0u) << keyless->problems[0].message;
  }

  test::TempDir dir_{"keyless-prune"};
  std::string key_file_ = dir_ / "repo.key";
  MemStore mem_;
  const std::string common_ = test::RandomBytes(200 << 10, 1);
};

TEST_F(KeylessPrune, ForgottenSnapshotsPacksGoAfterTheGraceAndTheRestStaysWhole) {
  const Snapshot s1 = Backup({common_, test::RandomBytes(100 << 10, 2)}, 100);
  const Snapshot s2 = Backup({common_, test::RandomBytes(100 << 10, 3)}, 200);
  const Snapshot s3 = Backup({common_, test::RandomBytes(100 << 10, 4)}, 300);
  std::set<Id> kept;
  for (const Snapshot* s : {&s1, &s3})
    for (const Id& p : PacksOf(*s)) kept.insert(p);
  std::vector<std::string> only_s2;
  for (const Id& p : PacksOf(s2))
    if (!kept.count(p)) only_s2.push_back(PackKey(p));
  ASSERT_FALSE(only_s2.empty());
  ASSERT_TRUE(ForgetSnapshot(mem_, s2.id, NowUnixNs()).ok());
  const auto packs_before = Keys("data/");

  // Condemned, not deleted: the grace has not passed.
  auto first = Run(kHourNs);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->condemned_unused, only_s2.size());
  EXPECT_EQ(first->packs_deleted, 0u);
  EXPECT_EQ(first->records_waiting, 1u);
  EXPECT_EQ(Keys("data/"), packs_before);
  // The forgotten snapshot's summary is gone; its tombstone stays.
  EXPECT_FALSE(mem_.Get(SummaryKey(s2.id)).ok());
  EXPECT_TRUE(mem_.Get(ForgottenKey(s2.id)).ok());

  // A run after the grace deletes exactly them.
  auto second = Run(0);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->packs_deleted, only_s2.size());
  EXPECT_EQ(second->records_dropped, 1u);
  auto after = Keys("data/");
  for (const auto& k : only_s2) EXPECT_FALSE(after.count(k)) << k;
  EXPECT_EQ(after.size(), packs_before.size() - only_s2.size());
  EXPECT_TRUE(Keys("gc/").empty());
  ExpectClean();

  // Nothing left to do.
  auto third = Run(0);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->condemned_unused + third->packs_deleted, 0u);
}

TEST_F(KeylessPrune, ARunStoppedAfterAPackWentIsFinishedByTheNextWithTheIndexWhole) {
  Backup({common_}, 100);
  const Snapshot s2 =
      Backup({test::RandomBytes(100 << 10, 8), test::RandomBytes(100 << 10, 9)}, 200);
  const std::vector<Id> s2_packs = PacksOf(s2);
  ASSERT_GE(s2_packs.size(), 1u);
  ASSERT_TRUE(ForgetSnapshot(mem_, s2.id, NowUnixNs()).ok());
  // The packs go, then deleting the old segments (which list them) fails.
  FaultStore faulty(&mem_);
  faulty.OnlyKeysWithPrefix("index/");
  faulty.FailCalls(StoreOp::kDelete, 1, 1000, Status::IOError("injected"));
  KeylessPruneOptions o;
  o.grace_ns = 0;
  ASSERT_FALSE(PruneWithoutKey(&faulty, o).ok());
  for (const Id& p : s2_packs) EXPECT_FALSE(mem_.Get(PackKey(p)).ok());
  auto next = Run(0);
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_TRUE(Keys("gc/").empty());
  ExpectClean();  // no segment lists the pack the stopped run deleted
}

TEST_F(KeylessPrune, AnInFlightSummaryKeepsItsPacksAndAListedPackIsRescued) {
  const Snapshot s1 = Backup({common_}, 100);
  const Snapshot s2 = Backup({common_, test::RandomBytes(100 << 10, 5)}, 200);
  ASSERT_TRUE(ForgetSnapshot(mem_, s2.id, NowUnixNs()).ok());
  auto condemned = Run(kHourNs);
  ASSERT_TRUE(condemned.ok()) << condemned.status().ToString();
  ASSERT_GT(condemned->condemned_unused, 0u);
  const auto packs_before = Keys("data/");

  // The peer dedups against a condemned pack: a new snapshot's summary
  // lists it and arrives (its snapshot not yet: in flight, no tombstone).
  Snapshot s4 = s2;
  s4.id = Id::FromBytes(std::string(16, '\x44'));
  s4.time_ns += 1;
  const KeyedHasher ids(Open()->keyring()->id_secret());
  ASSERT_TRUE(mem_.Put(SummaryKey(s4.id), EncodeSnapshotSummary(s4, ids, PacksOf(s2))).ok());
  auto rescued = Run(0);
  ASSERT_TRUE(rescued.ok()) << rescued.status().ToString();
  EXPECT_EQ(rescued->packs_deleted, 0u);
  EXPECT_EQ(rescued->packs_rescued, condemned->condemned_unused);
  EXPECT_EQ(Keys("data/"), packs_before);
  EXPECT_TRUE(mem_.Get(SummaryKey(s4.id)).ok());  // not forgotten: kept
  EXPECT_TRUE(Keys("gc/").empty());
  (void)s1;
}

TEST_F(KeylessPrune, WhatCannotBeToldApartStopsTheRunBeforeAnythingIsDeleted) {
  Backup({common_}, 100);
  const Snapshot unsummarized = Backup({test::RandomBytes(50 << 10, 6)}, 200, false);
  const Snapshot forgotten = Backup({test::RandomBytes(50 << 10, 7)}, 300);
  ASSERT_TRUE(ForgetSnapshot(mem_, forgotten.id, NowUnixNs()).ok());
  auto everything = [&] { return Keys(""); };
  const auto before = everything();

  auto r = Run(0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find(unsummarized.id.Hex()), std::string::npos)
      << r.status().ToString();
  EXPECT_EQ(everything(), before);

  // A summary that does not decode is named, and nothing changes either.
  ASSERT_TRUE(mem_.Put(SummaryKey(unsummarized.id), "{\"snapshot_summary\": 1}").ok());
  const auto with_bad = everything();
  r = Run(0);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(SummaryKey(unsummarized.id)), std::string::npos)
      << r.status().ToString();
  EXPECT_EQ(everything(), with_bad);

  // An unreadable condemnation record too.
  ASSERT_TRUE(mem_.Delete(SummaryKey(unsummarized.id)).ok());
  Summarize(unsummarized);
  ASSERT_TRUE(mem_.Put(NewGcRecordKey(1), "not a record").ok());
  const auto with_bad_record = everything();
  EXPECT_FALSE(Run(0).ok());
  EXPECT_EQ(everything(), with_bad_record);
}

TEST_F(KeylessPrune, AListedPackThatIsGoneIsReportedAndAPlaintextRepositoryIsRefused) {
  const Snapshot s = Backup({common_}, 100);
  const std::vector<Id> packs = PacksOf(s);
  ASSERT_FALSE(packs.empty());
  ASSERT_TRUE(mem_.Delete(PackKey(packs[0])).ok());
  auto r = Run(0);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_NE(r->warnings[0].find(packs[0].Hex()), std::string::npos) << r->warnings[0];

  // The keyed prune leaves a copy pruned by summaries alone: it would
  // repack into packs no summary lists.
  RepositoryOpener open = [&]() -> Result<std::unique_ptr<Repository>> {
    KeySource k;
    k.key_file = key_file_;
    return Repository::Open(std::make_unique<FaultStore>(&mem_), "", k);
  };
  auto keyed = Prune(open, PruneOptions{});
  ASSERT_FALSE(keyed.ok());
  EXPECT_NE(keyed.status().message().find("holds snapshot summaries"), std::string::npos)
      << keyed.status().ToString();

  MemStore plain;
  InitOptions o;
  ASSERT_TRUE(Repository::Init(&plain, o).ok());
  auto refused = PruneWithoutKey(&plain, KeylessPruneOptions{});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("not encrypted"), std::string::npos);
}

}  // namespace
}  // namespace dr
