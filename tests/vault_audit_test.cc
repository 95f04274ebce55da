// The vault's audit log end to end (replicator/vault/audit_log.h): a real
// drvault records the admins' enrolments, revocations and policy changes,
// its own forgets, and an agent's restore; `drvault audit --verify` names a
// record the storage operators edited or removed, and exits 1.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/test_util.h"
#include "tests/vault_harness.h"

namespace dr {
namespace {

using test::AgentKey;
using test::VaultSite;

class VaultAuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_ / "vault");
    vault_ = std::make_unique<VaultSite>(dir_ / "vault", test::TestPort(0),
                                         VaultSite::Options{"dir://" + dir_ / "repo", 32, "", ""});
    key_ = test::MakeAgentKey(dir_.path(), "ledger-01");
    vault_->Enrol("ledger-01", key_.pub_file, "finance");
    src_ = dir_ / "src";
    std::filesystem::create_directories(src_);
  }

  test::CommandResult Drvault(std::vector<std::string> args) {
    args.insert(args.begin(), {DRVAULT_PATH, "-c", vault_->config()});
    return test::RunProgram(args);
  }

  nlohmann::json Records() {
    auto r = Drvault({"audit", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    return j.is_object() ? j["records"] : nlohmann::json::array();
  }

  std::vector<std::string> Actions() {
    std::vector<std::string> out;
    for (const auto& r : Records()) out.push_back(r["action"].get<std::string>());
    return out;
  }

  std::string Backup(int n) {
    test::WriteFile(src_ + "/ledger.csv", test::RandomBytes(64 << 10, 700 + n));
    auto b = vault_->Agent(key_, "finance", {"-q", "--json", "backup", src_, "--policy", "ledger"});
    EXPECT_EQ(b.exit_code, 0) << b.err;
    auto j = nlohmann::json::parse(b.out, nullptr, false);
    return j.is_object() ? j.value("snapshot", "") : "";
  }

  test::TempDir dir_{"vault-audit"};
  std::unique_ptr<VaultSite> vault_;
  AgentKey key_;
  std::string src_;
};

TEST_F(VaultAuditTest, AdminsVaultAndAgentActionsAreRecordedInOrderAndVerify) {
  test::WriteFile(dir_ / "ledger.yaml",
                  "name: ledger\nnamespace: finance\nagents: [ledger-01]\nsources:\n  paths: [" +
                      src_ +
                      "]\nschedule:\n  every: 1h\nretention:\n  same-city:\n    keep-last: 1\n");
  auto applied = Drvault({"policy", "apply", dir_ / "ledger.yaml"});
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  vault_->Start();
  const std::string first = Backup(0);
  Backup(1);
  ASSERT_TRUE(test::WaitFor(30, [&] {
    auto a = Actions();
    return std::count(a.begin(), a.end(), "forget") == 1;
  })) << vault_->Log();
  auto r = vault_->Agent(key_, "finance", {"-q", "restore", "latest", "--target", dir_ / "out"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The vault writes its records on a thread of its own.
  ASSERT_TRUE(test::WaitFor(30, [&] { return Actions().size() == 4; })) << vault_->Log();
  auto revoked = Drvault({"revoke", "ledger-01"});
  ASSERT_EQ(revoked.exit_code, 0) << revoked.err;

  const nlohmann::json records = Records();
  std::vector<std::string> actions;
  for (const auto& rec : records) actions.push_back(rec["action"]);
  // Backups read no stored data; only the restore does.
  EXPECT_EQ(actions,
            (std::vector<std::string>{"enrol", "policy-apply", "forget", "read-data", "revoke"}));
  EXPECT_EQ(records[0]["subject"], "ledger-01");
  EXPECT_EQ(records[0]["details"]["namespace"], "finance");
  EXPECT_EQ(records[0]["actor"].get<std::string>().rfind("admin ", 0), 0u);
  EXPECT_EQ(records[1]["subject"], "ledger");
  EXPECT_EQ(records[2]["actor"], "vault");
  EXPECT_EQ(records[2]["subject"], first);
  EXPECT_EQ(records[2]["details"]["rules"], "last 1");
  EXPECT_EQ(records[3]["actor"], "agent ledger-01");
  for (size_t i = 0; i < records.size(); ++i) EXPECT_EQ(records[i]["seq"], i + 1);

  auto verified = Drvault({"audit", "--verify"});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  EXPECT_NE(verified.out.find("audit log intact: 5 records"), std::string::npos) << verified.out;
  // --since leaves out what came before.
  for (const auto& [since, count] : {std::pair{"@0", 5u}, {"@4102444800", 0u}}) {
    auto r = Drvault({"audit", "--json", "--since", since});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["records"].size(), count) << since;
  }
  auto bad_since = Drvault({"audit", "--since", "yesterday-ish"});
  EXPECT_EQ(bad_since.exit_code, 1);
  EXPECT_NE(bad_since.err.find("--since"), std::string::npos) << bad_since.err;
}

TEST_F(VaultAuditTest, AnEditedOrRemovedRecordIsNamedAndTheVerifyFails) {
  auto revoked = Drvault({"revoke", "ledger-01"});
  ASSERT_EQ(revoked.exit_code, 0) << revoked.err;
  const AgentKey second = test::MakeAgentKey(dir_.path(), "ledger-02");
  vault_->Enrol("ledger-02", second.pub_file, "finance");
  ASSERT_EQ(Records().size(), 3u);
  const std::string audit_dir = dir_ / "repo/_audit/audit";
  // A storage operator rewrites who was enrolled first.
  std::string one = test::ReadFile(audit_dir + "/0000000001");
  one.replace(one.find("ledger-01"), 9, "ledger-99");
  test::WriteFile(audit_dir + "/0000000001", one);
  auto edited = Drvault({"audit", "--verify"});
  EXPECT_EQ(edited.exit_code, 1);
  EXPECT_NE(edited.err.find("audit record 1 does not match its signature (edited)"),
            std::string::npos)
      << edited.err;
  // ... and removes the newest record, which no later one names.
  std::filesystem::remove(audit_dir + "/0000000003");
  auto cut = Drvault({"audit", "--verify"});
  EXPECT_EQ(cut.exit_code, 1);
  EXPECT_NE(cut.err.find("audit record 3 is missing: its writer wrote up to audit record 3"),
            std::string::npos)
      << cut.err;
  // Listing shows what is there and still fails.
  auto listed = Drvault({"audit"});
  EXPECT_EQ(listed.exit_code, 1);
  EXPECT_NE(listed.out.find("revoke"), std::string::npos) << listed.out;
}

}  // namespace
}  // namespace dr
