// The audit log (replicator/vault/audit_log.h): records chain and verify;
// every way the storage operators could change the log is named.
#include "replicator/vault/audit_log.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "catalog/store/testing/mem_store.h"
#include "tests/test_util.h"

namespace dr {
namespace {

class AuditLogTest : public ::testing::Test {
 protected:
  std::unique_ptr<AuditLog> Open() {
    auto key = SigningKey::LoadOrCreate(dir_ / "audit.key");
    EXPECT_TRUE(key.ok()) << key.status().message();
    auto store = std::make_unique<MemStore>();
    if (!store_) store_ = store.get();
    return std::make_unique<AuditLog>(std::move(store), dir_.path(), std::move(key).value());
  }

  void AppendThree(AuditLog& log) {
    for (int i = 1; i <= 3; ++i) {
      AuditEntry e;
      e.time_ns = i * 1'000'000'000LL;
      e.actor = "admin alice";
      e.action = "enrol";
      e.subject = "agent-" + std::to_string(i);
      e.details = {{"namespace", "finance"}};
      auto done = log.Append(e);
      ASSERT_TRUE(done.ok()) << done.status().message();
      EXPECT_EQ(done->seq, static_cast<uint64_t>(i));
    }
  }

  // The problems a read finds, one string.
  std::string Problems(AuditLog& log) {
    auto r = log.Read();
    EXPECT_TRUE(r.ok()) << r.status().message();
    std::string all;
    for (const auto& p : r->problems) all += p + "\n";
    return all;
  }

  test::TempDir dir_{"audit-log"};
  MemStore* store_ = nullptr;
};

TEST_F(AuditLogTest, RecordsChainAndVerify) {
  auto log = Open();
  AppendThree(*log);
  auto r = log->Read();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->problems.empty()) << Problems(*log);
  ASSERT_EQ(r->entries.size(), 3u);
  EXPECT_EQ(r->entries[1].subject, "agent-2");
  EXPECT_EQ(r->entries[1].details["namespace"], "finance");
  // --since: only the records at or after that time.
  auto since = log->Read(2'000'000'000LL);
  ASSERT_TRUE(since.ok());
  ASSERT_EQ(since->entries.size(), 2u);
  EXPECT_EQ(since->entries[0].seq, 2u);
}

TEST_F(AuditLogTest, BytesThatAreNotUtf8AreStoredReplacedAndStillVerify) {
  auto log = Open();
  AuditEntry e;
  e.action = "revoke";
  e.subject = std::string("agent\xff\xfe", 7);
  e.details = {{"file", std::string("/etc/p\xc3.yaml", 13)}};
  auto done = log->Append(e);
  ASSERT_TRUE(done.ok()) << done.status().message();
  auto r = log->Read();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->problems.empty()) << Problems(*log);
  ASSERT_EQ(r->entries.size(), 1u);
  EXPECT_EQ(r->entries[0].subject.rfind("agent", 0), 0u);
}

TEST_F(AuditLogTest, AnEditedRecordIsNamed) {
  auto log = Open();
  AppendThree(*log);
  std::string two = *store_->Get("audit/0000000002");
  two.replace(two.find("agent-2"), 7, "agent-9");
  ASSERT_TRUE(store_->Put("audit/0000000002", two).ok());
  const std::string p = Problems(*log);
  EXPECT_NE(p.find("audit record 2 does not match its signature (edited)"), std::string::npos) << p;
  EXPECT_NE(p.find("audit record 3 does not follow record 2"), std::string::npos) << p;
}

TEST_F(AuditLogTest, ARemovedRecordIsNamedAlsoTheNewest) {
  auto log = Open();
  AppendThree(*log);
  ASSERT_TRUE(store_->Delete("audit/0000000002").ok());
  std::string p = Problems(*log);
  EXPECT_NE(p.find("audit record 2 is missing (removed)"), std::string::npos) << p;
  // The newest one has no successor: the head the vault keeps catches it.
  ASSERT_TRUE(store_->Delete("audit/0000000003").ok());
  p = Problems(*log);
  EXPECT_NE(p.find("audit records 2 to 3 are missing: its writer wrote up to audit record 3"),
            std::string::npos)
      << p;
}

TEST_F(AuditLogTest, ARecordSignedByAnotherKeyIsForgedAndSetAsideWhileTheLogGoesOn) {
  auto log = Open();
  AppendThree(*log);
  // Someone with their own key appends a record that chains correctly.
  test::TempDir other{"audit-other"};
  auto other_key = SigningKey::LoadOrCreate(other / "audit.key");
  ASSERT_TRUE(other_key.ok());
  auto copy = std::make_unique<MemStore>();
  for (int i = 1; i <= 3; ++i) {
    const std::string k = "audit/000000000" + std::to_string(i);
    ASSERT_TRUE(copy->Put(k, *store_->Get(k)).ok());
  }
  MemStore* copy_store = copy.get();
  // Its own head: it continues the copy's chain from record 3.
  test::WriteFile(other / "audit.head", test::ReadFile(dir_ / "audit.head"));
  AuditLog forger(std::move(copy), other.path(), std::move(other_key).value());
  AuditEntry e;
  e.actor = "admin mallory";
  e.action = "revoke";
  ASSERT_TRUE(forger.Append(e).ok());
  ASSERT_TRUE(store_->Put("audit/0000000004", *copy_store->Get("audit/0000000004")).ok());
  const std::string p = Problems(*log);
  EXPECT_NE(p.find("audit record 4 is signed by key"), std::string::npos) << p;
  EXPECT_NE(p.find("(forged)"), std::string::npos) << p;
  // The vault does not chain onto it, and is not silenced by it either: the
  // forgery is kept aside as evidence, recorded, and the log goes on.
  const std::string forged = *store_->Get("audit/0000000004");
  auto next = log->Append(e);
  ASSERT_TRUE(next.ok()) << next.status().message();
  EXPECT_EQ(next->seq, 5u);
  auto r = log->Read();
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->entries.size(), 5u);
  EXPECT_EQ(r->entries[3].action, "planted-record");
  EXPECT_EQ(r->entries[3].subject, "audit/0000000004");
  EXPECT_EQ(r->entries[3].details["blake2b"], ChainDigest(forged));
  ASSERT_EQ(r->problems.size(), 1u) << Problems(*log);
  EXPECT_NE(r->problems[0].find("someone without the writer's key put a record"),
            std::string::npos);
  auto aside = store_->List("audit-planted/");
  ASSERT_TRUE(aside.ok());
  ASSERT_EQ(aside->size(), 1u);
  EXPECT_EQ(*store_->Get(aside->front().key), forged);
  // Once an admin has looked and removed it, the log verifies again.
  ASSERT_TRUE(store_->Delete(aside->front().key).ok());
  EXPECT_TRUE(Problems(*log).empty()) << Problems(*log);
}

TEST_F(AuditLogTest, ARecordWrittenBeforeACrashMovedTheHeadIsAdopted) {
  auto log = Open();
  AppendThree(*log);
  const std::string head_after_two = test::ReadFile(dir_ / "audit.head");
  AuditEntry e;
  e.action = "prune";
  ASSERT_TRUE(log->Append(e).ok());
  // As if the writer died between storing record 4 and moving the head.
  test::WriteFile(dir_ / "audit.head", head_after_two);
  EXPECT_TRUE(Problems(*log).empty()) << Problems(*log);
  auto fifth = log->Append(e);
  ASSERT_TRUE(fifth.ok()) << fifth.status().message();
  EXPECT_EQ(fifth->seq, 5u);
  EXPECT_TRUE(Problems(*log).empty()) << Problems(*log);
}

TEST_F(AuditLogTest, ItsOwnRecordAfterADifferentHeadStopsTheLogButAnOldOneCopiedOnIsSetAside) {
  auto log = Open();
  AppendThree(*log);
  AuditEntry e;
  e.action = "prune";
  ASSERT_TRUE(log->Append(e).ok());
  const std::string fourth = *store_->Get("audit/0000000004");
  // A head from another copy of the state directory: record 3, another digest.
  test::WriteFile(dir_ / "audit.head", R"({"seq":3,"digest":")" + std::string(64, '0') + "\"}\n");
  auto refused = log->Append(e);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.status().IsCorruption());
  EXPECT_NE(refused.status().message().find("audit record 4 is signed by this key but does not "
                                            "follow"),
            std::string::npos)
      << refused.status().message();
  // The vault's own record is neither moved nor changed.
  EXPECT_EQ(*store_->Get("audit/0000000004"), fourth);
  EXPECT_TRUE(store_->List("audit-planted/")->empty());

  // With the right head back, an old record of the vault's copied to the next
  // place carries its old number: planted, set aside, and the log goes on.
  test::WriteFile(dir_ / "audit.head", R"({"seq":4,"digest":")" + ChainDigest(fourth) + "\"}\n");
  ASSERT_TRUE(store_->Put("audit/0000000005", *store_->Get("audit/0000000001")).ok());
  auto next = log->Append(e);
  ASSERT_TRUE(next.ok()) << next.status().message();
  EXPECT_EQ(next->seq, 6u);
  auto r = log->Read();
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->entries.size(), 6u);
  EXPECT_EQ(r->entries[4].action, "planted-record");
  EXPECT_EQ(store_->List("audit-planted/")->size(), 1u);
}

TEST_F(AuditLogTest, AMissingHeadOrAPlantedGiantIsAProblemAndAMissingKeyStopsTheOpen) {
  auto log = Open();
  AppendThree(*log);
  std::filesystem::remove(dir_ / "audit.head");
  std::string p = Problems(*log);
  EXPECT_NE(p.find("audit.head is missing although the log has records"), std::string::npos) << p;
  ASSERT_TRUE(store_->Put("audit/0000000004", std::string(100 << 10, '{')).ok());
  p = Problems(*log);
  EXPECT_NE(p.find("audit record 4 is 102400 bytes, more than any record (planted)"),
            std::string::npos)
      << p;
  // A vault whose key is gone does not make a new one over a log it signed.
  VaultConfig config;
  config.state_dir = dir_ / "vault-state";
  config.repository = "dir://" + dir_ / "repo";
  std::filesystem::create_directories(config.state_dir);
  {
    auto real = AuditLog::Open(config);
    ASSERT_TRUE(real.ok()) << real.status().message();
    AuditEntry e;
    e.action = "enrol";
    ASSERT_TRUE((*real)->Append(e).ok());
  }
  std::filesystem::remove(config.state_dir + "/audit.key");
  auto reopened = AuditLog::Open(config);
  ASSERT_FALSE(reopened.ok());
  EXPECT_NE(reopened.status().message().find("audit.key is missing but"), std::string::npos)
      << reopened.status().message();
  EXPECT_FALSE(std::filesystem::exists(config.state_dir + "/audit.key"));
}

TEST(SigningKeyTest, AFileThatIsNotAKeyIsNeverReplaced) {
  test::TempDir dir{"signing-key"};
  test::WriteFile(dir / "audit.key", "not a key\n");
  auto key = SigningKey::LoadOrCreate(dir / "audit.key");
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.status().message().find("audit.key: not a signing key"), std::string::npos);
  EXPECT_EQ(test::ReadFile(dir / "audit.key"), "not a key\n");
  auto made = SigningKey::LoadOrCreate(dir / "other.key");
  ASSERT_TRUE(made.ok());
  auto again = SigningKey::Load(dir / "other.key");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(made->public_hex(), again->public_hex());
  EXPECT_TRUE(VerifySignature(made->public_hex(), "m", made->Sign("m")));
  EXPECT_FALSE(VerifySignature(made->public_hex(), "n", made->Sign("m")));
}

}  // namespace
}  // namespace dr
