// RPO and jobs at a running same-city vault: its monitor (every second here,
// DRVAULT_RPO_INTERVAL_S=1) exports each agent's RPO as metrics, runs the
// policy's alert command once per breach (not once per evaluation, nor again
// after a restart), and `drvault status` / `drvault jobs` show the agents'
// backups.
//
// The shortest objective a policy can have is over a minute, too long to
// wait for a real breach: the breached agent's snapshot is committed
// straight into the namespace's repository, three hours old, before the
// vault starts.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "catalog/format/tree.h"
#include "catalog/repository.h"
#include "catalog/store/object_store.h"
#include "core/timefmt.h"
#include "tests/test_util.h"
#include "tests/vault_harness.h"

namespace dr {
namespace {

using test::AgentKey;
using test::VaultSite;

// The labels of `agent`'s row, and `more` (",state=\"ok\"").
std::string Labels(const std::string& agent, const std::string& more = "") {
  return "{namespace=\"finance\",policy=\"ledger\",source=\"files\",agent=\"" + agent +
         "\",site=\"same-city\"" + more + "}";
}

size_t RpoLines(const std::string& text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

class VaultRpoSiteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_ / "site");
    site_ = std::make_unique<VaultSite>(
        dir_ / "site", test::TestPort(30),
        VaultSite::Options{"dir://" + dir_ / "repo", 32, "", "", "", {"DRVAULT_RPO_INTERVAL_S=1"}});
    agent_ = test::MakeAgentKey(dir_.path(), "ledger-01");
    site_->Enrol("ledger-01", agent_.pub_file, "finance");  // creates the repository
    src_ = dir_ / "src";
    std::filesystem::create_directories(src_);
    test::WriteFile(src_ + "/ledger.csv", test::RandomBytes(64 << 10, 7));
    alerts_ = dir_ / "alerts.log";
    // ledger-02 is enrolled nowhere and never backs up; ledger-03's only
    // snapshot is three hours old.
    test::WriteFile(dir_ / "ledger.yaml",
                    "name: ledger\nnamespace: finance\nagents: [ledger-01, ledger-02, "
                    "ledger-03]\nsources:\n  paths: [" +
                        src_ +
                        "]\nschedule:\n  every: 1h\nrpo: 2h\nalert: echo \"$DR_POLICY $DR_SOURCE "
                        "$DR_SITE $DR_RPO_STATE\" >> " +
                        alerts_ + "\n");
    auto r = test::RunProgram(
        {DRVAULT_PATH, "-c", site_->config(), "policy", "apply", dir_ / "ledger.yaml"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    CommitOldSnapshot("ledger-03", 3 * 3600);
    site_->Start();
  }

  void CommitOldSnapshot(const std::string& identity, int64_t age_s) {
    auto store = OpenObjectStore(site_->RepositoryOf("finance"));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto repo = Repository::Open(std::move(store).value());
    ASSERT_TRUE(repo.ok()) << repo.status().ToString();
    auto tree = (*repo)->StoreTree(Tree{});
    ASSERT_TRUE(tree.ok());
    Snapshot s;
    s.time_ns = NowUnixNs() - age_s * 1000000000;
    s.identity = s.host = identity;
    s.policy = "ledger";
    s.paths = {src_};
    s.tree = *tree;
    ASSERT_TRUE((*repo)->CommitSnapshot(s).ok());
  }

  // A backup of the policy by ledger-01; returns the snapshot id.
  std::string Backup() {
    auto b =
        site_->Agent(agent_, "finance", {"-q", "--json", "backup", src_, "--policy", "ledger"});
    EXPECT_EQ(b.exit_code, 0) << b.err;
    auto j = nlohmann::json::parse(b.out, nullptr, false);
    return j.is_object() ? j.value("snapshot", "") : "";
  }

  test::CommandResult Drvault(std::vector<std::string> args) const {
    args.insert(args.begin(), {DRVAULT_PATH, "-c", site_->config()});
    return test::RunProgram(args);
  }

  test::TempDir dir_{"vault-rpo-site"};
  std::unique_ptr<VaultSite> site_;
  AgentKey agent_;
  std::string src_, alerts_;
};

TEST_F(VaultRpoSiteTest, MetricsShowEachAgentAndTheAlertRunsOncePerBreach) {
  ASSERT_FALSE(Backup().empty());
  ASSERT_TRUE(test::WaitFor(30,
                            [&] {
                              return site_->Metric("drvault_rpo_state" +
                                                   Labels("ledger-01", ",state=\"ok\"")) == 1;
                            }))
      << site_->Metrics() << site_->Log();
  EXPECT_EQ(site_->Metric("drvault_rpo_breached" + Labels("ledger-01")), 0);
  EXPECT_GE(site_->Metric("drvault_rpo_age_seconds" + Labels("ledger-01")), 0);
  // Never backed up, with an objective: at risk.
  EXPECT_EQ(site_->Metric("drvault_rpo_age_seconds" + Labels("ledger-02")), -1);
  EXPECT_EQ(site_->Metric("drvault_rpo_breached" + Labels("ledger-02")), 1);
  EXPECT_EQ(site_->Metric("drvault_rpo_breached" + Labels("ledger-03")), 1);
  EXPECT_GE(site_->Metric("drvault_rpo_age_seconds" + Labels("ledger-03")), 3 * 3600);

  // Evaluated every second, alerted once.
  std::this_thread::sleep_for(std::chrono::seconds(4));
  EXPECT_EQ(test::ReadFile(alerts_), "ledger files same-city breached\n") << site_->Log();
  EXPECT_NE(site_->Log().find("\"rpo_state\""), std::string::npos);

  // A restart remembers the breach (STATE/alerts.json).
  site_->Stop();
  site_->Start();
  ASSERT_TRUE(test::WaitFor(30, [&] {
    return site_->Metric("drvault_rpo_breached" + Labels("ledger-03")) == 1;
  })) << site_->Log();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_EQ(RpoLines(test::ReadFile(alerts_)), 1u) << test::ReadFile(alerts_);
}

TEST_F(VaultRpoSiteTest, StatusShowsEveryAgentAndExitsOneOnABreach) {
  ASSERT_FALSE(Backup().empty());
  auto status = Drvault({"status"});
  EXPECT_EQ(status.exit_code, 1) << status.err;  // ledger-03 is breached, as drctl rpo
  EXPECT_NE(status.out.find("NAMESPACE"), std::string::npos) << status.out;
  for (const char* header : {"POLICY", "SOURCE", "AGENT", "SITE", "STATE", "NEWEST", "AGE", "RPO"})
    EXPECT_NE(status.out.find(header), std::string::npos) << header;
  auto json = Drvault({"status", "--json"});
  auto rows = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_TRUE(rows.is_array()) << json.out;
  ASSERT_EQ(rows.size(), 3u);
  std::map<std::string, std::string> state;
  for (const auto& r : rows) {
    EXPECT_EQ(r["namespace"], "finance");
    EXPECT_EQ(r["site"], "same-city");
    EXPECT_EQ(r["rpo_s"], 7200);
    state[r["agent"]] = r["state"];
  }
  EXPECT_EQ(state, (std::map<std::string, std::string>{
                       {"ledger-01", "ok"}, {"ledger-02", "never"}, {"ledger-03", "breached"}}));
  // The table says the same, one line per row.
  for (const auto& [agent, st] : state) {
    const size_t at = status.out.find(agent);
    ASSERT_NE(at, std::string::npos) << status.out;
    const std::string line = status.out.substr(at, status.out.find('\n', at) - at);
    EXPECT_NE(line.find(" " + st + " "), std::string::npos) << line;
  }
  // What the running vault saw last.
  ASSERT_TRUE(test::WaitFor(30, [&] {
    auto seen = Drvault({"status", "--last-seen", "--json"});
    auto j = nlohmann::json::parse(seen.out, nullptr, false);
    return j.is_array() && j.size() == 3 && seen.exit_code == 1;
  })) << site_->Log();
}

TEST_F(VaultRpoSiteTest, JobsListTheBackupsCommittedHere) {
  auto none = Drvault({"jobs"});
  EXPECT_EQ(none.exit_code, 0) << none.err;
  EXPECT_NE(none.out.find("no backups recorded"), std::string::npos) << none.out;
  const std::string first = Backup();
  test::WriteFile(src_ + "/ledger.csv", test::RandomBytes(64 << 10, 8));
  const std::string second = Backup();
  ASSERT_FALSE(first.empty());
  ASSERT_FALSE(second.empty());

  auto table = Drvault({"jobs"});
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(RpoLines(table.out), 3u) << table.out;  // header and two backups
  EXPECT_NE(table.out.find("ledger-01"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find(second.substr(0, 8)), std::string::npos) << table.out;

  auto json = Drvault({"jobs", "--json", "--last", "1"});
  auto jobs = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_TRUE(jobs.is_array()) << json.out;
  ASSERT_EQ(jobs.size(), 1u);
  const auto& j = jobs[0];
  EXPECT_EQ(j["snapshot"], second);
  EXPECT_EQ(j["agent"], "ledger-01");
  EXPECT_EQ(j["policy"], "ledger");
  EXPECT_EQ(j["source"], "files");
  EXPECT_EQ(j["result"], "ok");
  EXPECT_GE(j["bytes_read"].get<uint64_t>(), 64u << 10);
  EXPECT_GT(j["bytes_new"].get<uint64_t>(), 0u);
  EXPECT_GE(j["duration_s"].get<double>(), 0.0);

  auto other = Drvault({"jobs", "--agent", "ledger-02"});
  EXPECT_NE(other.out.find("no backups recorded"), std::string::npos) << other.out;
  auto by_policy = Drvault({"jobs", "--policy", "ledger", "--json"});
  EXPECT_EQ(nlohmann::json::parse(by_policy.out, nullptr, false).size(), 2u) << by_policy.out;
}

}  // namespace
}  // namespace dr
