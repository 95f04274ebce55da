// Ransomware in the backup stream (policies/change_watch.h), end to end on
// the reference corpus builder's tree (tools/make-corpus): ten rounds of
// ordinary churn (mutate-tree --pct 1, new seeds) are not flagged; 20 % of
// the files encrypted in place with `openssl enc` and renamed is, the last
// clean snapshot is locked and survives retention, and at a vault the
// policy's alert command runs, the metric rises and the lock is audited.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/test_util.h"
#include "tests/vault_harness.h"

namespace dr {
namespace {

const std::string kCorpusTool = std::string(DR_SOURCE_DIR) + "/tools/make-corpus";

class RansomwareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto built = test::RunProgram({kCorpusTool, "build", dir_ / "corpus", "--tree-size", "24M",
                                   "--image-size", "3M", "--max-file", "2M"});
    ASSERT_EQ(built.exit_code, 0) << built.err;
    src_ = dir_ / "corpus/tree";
  }

  void Churn(int seed) {
    auto m = test::RunProgram(
        {kCorpusTool, "mutate-tree", src_, "--seed", std::to_string(seed), "--pct", "1"});
    ASSERT_EQ(m.exit_code, 0) << m.err;
  }

  // Every fifth file, in path order, encrypted with openssl enc under
  // NAME.locked, the original removed: what a ransomware run leaves.
  void Attack() {
    auto r = test::RunProgram(
        {"/bin/bash", "-c",
         "set -o pipefail; cd '" + src_ +
             "' && i=0 && find . -type f -print0 | sort -z | "
             "while IFS= read -r -d '' f; do i=$((i+1)); [ $((i % 5)) -eq 0 ] || continue; "
             "openssl enc -aes-256-cbc -pbkdf2 -salt -pass pass:ransom -in \"$f\" -out "
             "\"$f.locked\" "
             "&& rm -f \"$f\" || exit 1; done"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  test::TempDir dir_{"ransomware"};
  std::string src_;
};

nlohmann::json Parse(const test::CommandResult& r) {
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_TRUE(j.is_object()) << r.out << r.err;
  return j.is_object() ? j : nlohmann::json::object();
}

TEST_F(RansomwareTest, ChurnIsNotFlaggedAndTheAttackIsAndItsCleanSnapshotIsLocked) {
  const std::string repo = "dir://" + dir_ / "repo";
  ASSERT_EQ(test::RunDrctl({"-r", repo, "init"}).exit_code, 0);
  auto first = test::RunDrctl({"-r", repo, "-q", "--json", "backup", src_});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_TRUE(Parse(first)["change"]["base"].is_null()) << first.out;
  std::string clean;
  for (int round = 1; round <= 10; ++round) {
    Churn(100 + round);
    auto b = test::RunDrctl({"-r", repo, "-q", "--json", "backup", src_});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    const auto j = Parse(b);
    EXPECT_FALSE(j["change"]["suspicious"].get<bool>()) << "round " << round << ": " << b.out;
    EXPECT_GT(j["change"]["changed"].get<uint64_t>(), 0u) << b.out;
    EXPECT_EQ(b.err.find("ransomware"), std::string::npos) << b.err;
    clean = j["snapshot"];
  }

  Attack();
  auto hit = test::RunDrctl({"-r", repo, "-q", "--json", "backup", src_});
  ASSERT_EQ(hit.exit_code, 0) << hit.err;
  const auto change = Parse(hit)["change"];
  ASSERT_TRUE(change["suspicious"].get<bool>()) << hit.out;
  const std::string reasons = change["reasons"].dump();
  EXPECT_NE(reasons.find("(encrypted?)"), std::string::npos) << reasons;
  EXPECT_NE(reasons.find("renamed to another extension"), std::string::npos) << reasons;
  EXPECT_EQ(change["locked"], clean) << hit.out;
  EXPECT_NE(hit.err.find("looks like ransomware at work"), std::string::npos) << hit.err;
  EXPECT_NE(hit.err.find(clean.substr(0, 8) + ", the last before it, is locked until"),
            std::string::npos)
      << hit.err;

  // Nothing removes the clean copy: forget keeps it, the table marks the
  // suspicious snapshot.
  auto forget = test::RunDrctl({"-r", repo, "forget", "--keep-last", "1"});
  EXPECT_EQ(forget.exit_code, 0) << forget.err;
  auto listed = test::RunDrctl({"-r", repo, "snapshots", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  std::vector<std::string> ids;
  for (const auto& snap : nlohmann::json::parse(listed.out)) ids.push_back(snap["id"]);
  EXPECT_EQ(ids, (std::vector<std::string>{clean, Parse(hit)["snapshot"]})) << forget.out;
  auto table = test::RunDrctl({"-r", repo, "snapshots"});
  EXPECT_NE(table.out.find("(SUSPICIOUS: looks like ransomware"), std::string::npos) << table.out;
  auto locks = test::RunDrctl({"-r", repo, "lock", "--list"});
  EXPECT_NE(locks.out.find(clean.substr(0, 8)), std::string::npos) << locks.out;
  // The clean copy restores the files the attack took.
  auto restored = test::RunDrctl({"-r", repo, "restore", clean, "--target", dir_ / "restored"});
  EXPECT_EQ(restored.exit_code, 0) << restored.err;
}

TEST_F(RansomwareTest, AtAVaultTheAlertRunsTheMetricRisesAndTheLockIsAudited) {
  std::filesystem::create_directories(dir_ / "vault");
  test::VaultSite vault(dir_ / "vault", test::TestPort(44),
                        test::VaultSite::Options{"dir://" + dir_ / "vault-repo", 32, "", ""});
  const auto agent = test::MakeAgentKey(dir_.path(), "clerk-01");
  vault.Enrol("clerk-01", agent.pub_file, "records");
  const std::string alerts = dir_ / "alerts.txt";
  test::WriteFile(dir_ / "records.yaml",
                  "name: records\nnamespace: records\nagents: [clerk-01]\nsources:\n  paths: [" +
                      src_ +
                      "]\nschedule:\n  every: 1h\nretention:\n  same-city:\n    keep-last: 1\n"
                      "alert: 'echo \"$DR_EVENT $DR_POLICY $DR_AGENT $DR_NAMESPACE $DR_ERROR\" "
                      ">> " +
                      alerts + "'\n");
  auto applied = test::RunProgram(
      {DRVAULT_PATH, "-c", vault.config(), "policy", "apply", dir_ / "records.yaml"});
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  vault.Start();
  auto backup = [&] {
    auto b = vault.Agent(agent, "records", {"-q", "--json", "backup", src_, "--policy", "records"});
    EXPECT_EQ(b.exit_code, 0) << b.err;
    return Parse(b).value("snapshot", "");
  };
  backup();
  std::string clean;
  for (int round = 1; round <= 3; ++round) {
    Churn(200 + round);
    clean = backup();
  }
  ASSERT_TRUE(test::WaitFor(60, [&] {
    return vault.Metric("drvault_change_measured_snapshots_total") == 4;
  })) << vault.Log();
  EXPECT_EQ(
      vault.Metric("drvault_suspicious_snapshots_total{namespace=\"records\",policy=\"records\"}"),
      -1);

  auto count = [&](const std::string& what) {
    const std::string log = vault.Log();
    size_t n = 0;
    for (size_t at = log.find(what); at != std::string::npos; at = log.find(what, at + 1)) ++n;
    return n;
  };
  Attack();
  const std::string attacked = backup();
  ASSERT_TRUE(test::WaitFor(60, [&] {
    return vault.Metric(
               "drvault_suspicious_snapshots_total{namespace=\"records\",policy=\"records\"}") == 1;
  })) << vault.Log();
  EXPECT_TRUE(test::WaitFor(
      30, [&] { return vault.Log().find("suspicious_snapshot") != std::string::npos; }));
  std::string said;
  ASSERT_TRUE(test::WaitFor(30, [&] {
    std::ifstream in(alerts);
    std::stringstream ss;
    ss << in.rdbuf();
    said = ss.str();
    return !said.empty();
  }));
  EXPECT_EQ(said.rfind("suspicious-change records clerk-01 records snapshot " + attacked, 0), 0u)
      << said;
  EXPECT_NE(said.find("locked snapshot " + clean), std::string::npos) << said;

  // Retention (keep-last 1) forgets the attacked snapshot once a newer one
  // comes, never the locked clean one.
  const size_t retention_runs = count("retention_applied");
  Churn(300);
  const std::string after = backup();
  ASSERT_TRUE(test::WaitFor(30, [&] { return count("retention_applied") > retention_runs; }))
      << vault.Log();
  auto listed = vault.Agent(agent, "records", {"-q", "--json", "snapshots"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  std::vector<std::string> ids;
  for (const auto& snap : nlohmann::json::parse(listed.out)) ids.push_back(snap["id"]);
  EXPECT_EQ(ids, (std::vector<std::string>{clean, after})) << listed.out << vault.Log();
  auto verified = test::RunProgram({DRVAULT_PATH, "-c", vault.config(), "audit", "--verify"});
  EXPECT_EQ(verified.exit_code, 0) << verified.err;
  auto audit = test::RunProgram({DRVAULT_PATH, "-c", vault.config(), "audit"});
  EXPECT_NE(audit.out.find(clean), std::string::npos) << audit.out;
  EXPECT_NE(audit.out.find("looks like ransomware"), std::string::npos) << audit.out;
}

}  // namespace
}  // namespace dr
