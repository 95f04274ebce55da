// A namespace's sealed history at the vault (history_log.h): after a crash
// only what the vault journaled is sealed, never a snapshot someone put into
// the storage; a record copied from another namespace's history (same key)
// neither stops nor joins this one; an edit before a forget is named.
#include "replicator/vault/history_log.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "catalog/history.h"
#include "catalog/signing.h"
#include "catalog/store/object_store.h"
#include "replicator/vault/audit_log.h"
#include "replicator/vault/enrolment.h"
#include "tests/test_util.h"

namespace dr {
namespace {

class NamespaceHistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.state_dir = dir_ / "state";
    config_.repository = "dir://" + dir_ / "repo";
    std::filesystem::create_directories(config_.state_dir);
    ASSERT_TRUE(SigningKey::LoadOrCreate(VaultSigningKeyPath(config_)).ok());
  }

  std::unique_ptr<ObjectStore> Store(const std::string& ns) {
    auto url = NamespaceRepositoryUrl(config_.repository, ns);
    EXPECT_TRUE(url.ok());
    EXPECT_TRUE(CreateRepositoryDirectory(*url).ok());
    auto s = OpenObjectStore(*url);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return std::move(s).value();
  }

  std::unique_ptr<NamespaceHistory> Open(const std::string& ns) {
    Store(ns);
    auto h = NamespaceHistory::Open(config_, ns);
    EXPECT_TRUE(h.ok()) << h.status().message();
    return std::move(h).value();
  }

  // Stores snapshot `id` the way the vault does, sealing it unless `crash`.
  void Commit(NamespaceHistory& h, ObjectStore& store, const std::string& id,
              const std::string& bytes, bool crash = false) {
    ASSERT_TRUE(h.Begin("agent a1", id, bytes).ok());
    ASSERT_TRUE(store.PutIfAbsent("snapshots/" + id, bytes).ok());
    if (!crash) {
      Status st = h.Settle();
      ASSERT_TRUE(st.ok()) << st.message();
    }
  }

  std::string Problems(ObjectStore& store, const std::string& ns) {
    auto key = SigningKey::Load(VaultSigningKeyPath(config_));
    auto head = ReadLogHead(config_.state_dir + "/history/" + ns + ".head");
    auto v =
        VerifySiteHistory(store, key->public_hex(), ns, ns, &*head, std::chrono::milliseconds(0));
    EXPECT_TRUE(v.ok());
    std::string all;
    for (const auto& p : v->problems) all += p + "\n";
    return all;
  }

  static std::string Id(char c) { return std::string(32, c); }

  test::TempDir dir_{"ns-history"};
  VaultConfig config_;
};

TEST_F(NamespaceHistoryTest, AfterACrashOnlyWhatTheVaultJournaledIsSealed) {
  auto store = Store("hr");
  {
    auto h = Open("hr");
    Commit(*h, *store, Id('a'), "first");
    Commit(*h, *store, Id('b'), "second", /*crash=*/true);
  }
  // Meanwhile someone puts a snapshot of their own into the storage.
  ASSERT_TRUE(store->PutIfAbsent("snapshots/" + Id('c'), "planted").ok());
  auto reopened = Open("hr");
  ASSERT_TRUE(reopened->Settle().ok());
  const std::string p = Problems(*store, "hr");
  EXPECT_EQ(p.find(Id('b').substr(0, 16)), std::string::npos) << p;
  EXPECT_NE(p.find("snapshot " + Id('c').substr(0, 16) + " is not in the sealed history"),
            std::string::npos)
      << p;

  // Journaled, then stored by someone else with other bytes: not sealed.
  ASSERT_TRUE(reopened->Begin("agent a1", Id('d'), "what the vault encoded").ok());
  ASSERT_TRUE(store->PutIfAbsent("snapshots/" + Id('d'), "something else").ok());
  ASSERT_TRUE(reopened->Settle().ok());
  EXPECT_NE(Problems(*store, "hr").find("snapshot " + Id('d').substr(0, 16) + " is not in"),
            std::string::npos);
  // Journaled and never written (a crash before the write): nothing sealed.
  ASSERT_TRUE(reopened->Begin("agent a1", Id('e'), "never written").ok());
  ASSERT_TRUE(reopened->Settle().ok());
  EXPECT_EQ(Problems(*store, "hr").find(Id('e').substr(0, 16)), std::string::npos);
}

TEST_F(NamespaceHistoryTest, ARecordCopiedFromAnotherNamespaceNeitherStopsNorJoinsThisOne) {
  auto hr_store = Store("hr");
  auto fin_store = Store("finance");
  auto hr = Open("hr");
  auto fin = Open("finance");
  Commit(*hr, *hr_store, Id('a'), "hr 1");
  Commit(*hr, *hr_store, Id('b'), "hr 2");
  Commit(*fin, *fin_store, Id('c'), "finance 1");
  // hr's record 2 is signed by the same vault key and sits where finance's
  // record 2 goes.
  ASSERT_TRUE(fin_store->Put("history/0000000002", *hr_store->Get("history/0000000002")).ok());
  EXPECT_NE(Problems(*fin_store, "finance").find("history record 2 belongs to another namespace"),
            std::string::npos);
  Commit(*fin, *fin_store, Id('d'), "finance 2");  // not stopped
  auto log = fin->log().Read();
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->entries.size(), 3u);
  EXPECT_EQ(log->entries[1].action, "planted-record");
  EXPECT_EQ(log->entries[2].subject, Id('d'));
  // The vault's own note of it is finance's: only the copy set aside is named.
  const std::string after = Problems(*fin_store, "finance");
  EXPECT_EQ(after.find("belongs to another namespace"), std::string::npos) << after;
  EXPECT_NE(after.find("someone without the writer's key put a record"), std::string::npos)
      << after;

  // A new namespace, its head still 0: hr's first record is not adopted.
  auto new_store = Store("legal");
  ASSERT_TRUE(new_store->Put("history/0000000001", *hr_store->Get("history/0000000001")).ok());
  auto legal = Open("legal");
  Commit(*legal, *new_store, Id('e'), "legal 1");
  auto legal_log = legal->log().Read();
  ASSERT_TRUE(legal_log.ok());
  ASSERT_EQ(legal_log->entries.size(), 2u);
  EXPECT_EQ(legal_log->entries[0].action, "planted-record");
}

TEST_F(NamespaceHistoryTest, AForgetNotCarriedOutAndAnEditBeforeAForgetAreNamed) {
  auto store = Store("hr");
  auto h = Open("hr");
  Commit(*h, *store, Id('a'), "kept");
  ASSERT_TRUE(h->Forget(Id('a'), "kept", {{"policy", "p"}}).ok());
  EXPECT_NE(Problems(*store, "hr").find("was forgotten (history record 2) yet is stored"),
            std::string::npos);

  // Edited behind the vault's back, then forgotten by its retention.
  Commit(*h, *store, Id('b'), "as accepted");
  ASSERT_TRUE(store->Delete("snapshots/" + Id('b')).ok());
  ASSERT_TRUE(store->Put("snapshots/" + Id('b'), "edited").ok());
  ASSERT_TRUE(h->Forget(Id('b'), "edited", {{"policy", "p"}}).ok());
  ASSERT_TRUE(store->Delete("snapshots/" + Id('b')).ok());
  EXPECT_NE(
      Problems(*store, "hr")
          .find("snapshot " + Id('b').substr(0, 16) + " was edited before the vault forgot it"),
      std::string::npos);
}

}  // namespace
}  // namespace dr
