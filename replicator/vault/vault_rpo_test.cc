// EvaluateVaultRpo over a real dir:// repository with snapshots committed
// directly (chosen times, identities, policies and paths), the monitor's
// metrics, alert-once and state file, and the job log's agent field.
#include "replicator/vault/vault_rpo.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <thread>

#include "catalog/format/tree.h"
#include "catalog/repository.h"
#include "catalog/store/dir_store.h"
#include "catalog/store/object_store.h"
#include "core/env/file_io.h"
#include "policies/job_log.h"
#include "replicator/vault/offsite_cursor.h"
#include "tests/test_util.h"

namespace dr {
namespace {

constexpr int64_t kOneSecond = 1000000000;
// 30 minutes after an hourly slot (slots are multiples of 1h since 1970).
constexpr int64_t kNowS = 1800000000 + 1800;

std::string LedgerPolicy(const std::string& extra = "") {
  return "name: ledger\nnamespace: finance\nagents: [ledger-01, ledger-02, LEDGER-03, "
         "ledger-04]\nsources:\n  paths: [/srv/ledger]\nschedule:\n  every: 1h\nrpo: 2h\n" +
         extra;
}

class VaultRpoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.state_dir = dir_ / "state";
    config_.repository = "dir://" + dir_ / "repo";
    std::filesystem::create_directories(config_.policies_dir());
  }

  void ApplyPolicy(const std::string& name, const std::string& yaml) {
    test::WriteFile(config_.policies_dir() + "/" + name + ".yaml", yaml);
  }

  Repository& Repo() {
    if (!repo_) {
      auto url = NamespaceRepositoryUrl(config_.repository, "finance");
      EXPECT_TRUE(url.ok());
      std::filesystem::create_directories(dir_ / "repo/finance");
      auto store = OpenObjectStore(*url);
      Status init = Repository::Init(store->get(), {});
      EXPECT_TRUE(init.ok()) << init.ToString();
      auto repo = Repository::Open(std::move(store).value());
      EXPECT_TRUE(repo.ok()) << repo.status().ToString();
      repo_ = std::move(repo).value();
      auto tree = repo_->StoreTree(Tree{});
      EXPECT_TRUE(tree.ok());
      tree_ = *tree;
    }
    return *repo_;
  }

  // A snapshot the vault accepted from `identity` at `time_s`; its key.
  std::string Commit(const std::string& identity, int64_t time_s,
                     const std::string& policy = "ledger", const std::string& path = "/srv/ledger",
                     bool partial = false, const std::string& host = "") {
    Snapshot s;
    s.time_ns = time_s * kOneSecond;
    s.identity = identity;
    s.host = host.empty() ? identity : host;
    s.policy = policy;
    s.paths = {path};
    s.partial = partial;
    Repository& repo = Repo();
    s.tree = tree_;
    auto id = repo.CommitSnapshot(s);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return SnapshotKey(*id);
  }

  void SetCursor(const std::set<std::string>& keys) {
    OffsiteCursor c;
    c.snapshots = keys;
    DirStore state(config_.state_dir);
    ASSERT_TRUE(SaveOffsiteCursor(state, OffsiteCursorKey("finance"), c).ok());
  }

  std::vector<RpoRow> Evaluate(VaultRpoIssues* issues = nullptr) {
    auto rows = EvaluateVaultRpo(config_, kNowS * kOneSecond, issues);
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    return rows.ok() ? *rows : std::vector<RpoRow>{};
  }

  static const RpoRow* Find(const std::vector<RpoRow>& rows, const std::string& agent,
                            const std::string& site) {
    for (const RpoRow& r : rows)
      if (r.agent == agent && r.site == site) return &r;
    return nullptr;
  }

  test::TempDir dir_{"vault-rpo"};
  VaultConfig config_;
  std::unique_ptr<Repository> repo_;
  Id tree_;
};

TEST_F(VaultRpoTest, SameCityRowsJudgeEachAgentsOwnSnapshots) {
  ApplyPolicy("ledger", LedgerPolicy());
  Commit("ledger-01", kNowS - 600);       // after the last slot: ok
  Commit("ledger-02", kNowS - 5400);      // before the last slot, within 2h: late
  Commit("ledger-03", kNowS - 3 * 3600);  // older than 2h: breached
  // None of these is a recovery point of ledger-03 or ledger-04: partial,
  // another policy, other paths, or a host claim from another identity.
  Commit("ledger-03", kNowS - 60, "ledger", "/srv/ledger", /*partial=*/true);
  Commit("ledger-03", kNowS - 60, "other");
  Commit("ledger-03", kNowS - 60, "ledger", "/srv/other");
  Commit("intruder", kNowS - 60, "ledger", "/srv/ledger", false, "ledger-04");

  const auto rows = Evaluate();
  ASSERT_EQ(rows.size(), 4u);  // no off-site peer configured: same-city only
  const RpoRow* ok = Find(rows, "ledger-01", kSiteSameCity);
  ASSERT_NE(ok, nullptr);
  EXPECT_EQ(ok->status.state, RpoState::kOk);
  EXPECT_EQ(ok->status.age_s, 600);
  EXPECT_EQ(ok->newest_ns, (kNowS - 600) * kOneSecond);
  EXPECT_EQ(ok->ns, "finance");
  EXPECT_EQ(ok->policy, "ledger");
  EXPECT_EQ(ok->source, "files");
  EXPECT_EQ(ok->rpo_s, 7200);
  EXPECT_FALSE(ok->AtRisk());
  EXPECT_EQ(Find(rows, "ledger-02", kSiteSameCity)->status.state, RpoState::kLate);
  // The policy's spelling is kept; the identity matches without case.
  const RpoRow* breached = Find(rows, "LEDGER-03", kSiteSameCity);
  ASSERT_NE(breached, nullptr);
  EXPECT_EQ(breached->status.state, RpoState::kBreached);
  EXPECT_EQ(breached->status.age_s, 3 * 3600);
  EXPECT_TRUE(breached->AtRisk());
  const RpoRow* never = Find(rows, "ledger-04", kSiteSameCity);
  ASSERT_NE(never, nullptr);
  EXPECT_EQ(never->status.state, RpoState::kNever);
  EXPECT_EQ(never->status.age_s, -1);
  EXPECT_FALSE(never->newest_ns);
  EXPECT_TRUE(never->AtRisk());  // never, with an objective
}

TEST_F(VaultRpoTest, OffsiteRowCountsOnlyWhatTheCursorSaysIsAtThePeer) {
  config_.offsite = OffsiteConfig{"tcp://peer:7400", "key", 5};
  ApplyPolicy("ledger", LedgerPolicy());
  const std::string old_one = Commit("ledger-01", kNowS - 4 * 3600);
  Commit("ledger-01", kNowS - 600);  // not copied yet
  const std::string two = Commit("ledger-02", kNowS - 600);
  SetCursor({old_one, two});

  const auto rows = Evaluate();
  ASSERT_EQ(rows.size(), 8u);  // four agents, two sites
  // Same-city before off-site for each agent.
  EXPECT_EQ(rows[0].agent, "ledger-01");
  EXPECT_EQ(rows[0].site, kSiteSameCity);
  EXPECT_EQ(rows[1].agent, "ledger-01");
  EXPECT_EQ(rows[1].site, kSiteOffsite);
  EXPECT_EQ(rows[0].status.state, RpoState::kOk);
  EXPECT_EQ(rows[1].status.state, RpoState::kBreached);  // only the 4h old copy is there
  EXPECT_EQ(rows[1].status.age_s, 4 * 3600);
  EXPECT_EQ(Find(rows, "ledger-02", kSiteOffsite)->status.state, RpoState::kOk);
  EXPECT_EQ(Find(rows, "LEDGER-03", kSiteOffsite)->status.state, RpoState::kNever);
  EXPECT_EQ(Find(rows, "ledger-04", kSiteOffsite)->status.state, RpoState::kNever);

  // Without a cursor nothing is off-site yet.
  std::filesystem::remove_all(config_.state_dir + "/offsite");
  for (const RpoRow& r : Evaluate()) {
    if (r.site == kSiteOffsite) {
      EXPECT_EQ(r.status.state, RpoState::kNever) << r.Key();
    }
  }
}

TEST_F(VaultRpoTest, OffsiteVaultHasOneRowFromItsOwnRepository) {
  config_.site = VaultSiteKind::kOffsite;
  ApplyPolicy("ledger", LedgerPolicy());
  Commit("ledger-01", kNowS - 600);
  const auto rows = Evaluate();
  ASSERT_EQ(rows.size(), 4u);
  for (const RpoRow& r : rows) EXPECT_EQ(r.site, kSiteOffsite);
  EXPECT_EQ(Find(rows, "ledger-01", kSiteOffsite)->status.state, RpoState::kOk);
  EXPECT_EQ(Find(rows, "ledger-02", kSiteOffsite)->status.state, RpoState::kNever);
}

TEST_F(VaultRpoTest, PolicyWithoutAgentsHasARowPerAgentThatBackedUpOrOneNeverRow) {
  ApplyPolicy("anyone",
              "name: anyone\nnamespace: finance\nsources:\n  paths: [/srv/ledger]\n"
              "schedule:\n  every: 1h\nrpo: 2h\n");
  auto rows = Evaluate();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].agent, kAnyAgent);
  EXPECT_EQ(rows[0].status.state, RpoState::kNever);
  Commit("b-host", kNowS - 600, "anyone");
  Commit("a-host", kNowS - 3 * 3600, "anyone");
  rows = Evaluate();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].agent, "a-host");
  EXPECT_EQ(rows[0].status.state, RpoState::kBreached);
  EXPECT_EQ(rows[1].agent, "b-host");
  EXPECT_EQ(rows[1].status.state, RpoState::kOk);
}

TEST_F(VaultRpoTest, NoPoliciesNoRepositoryAndBadFiles) {
  std::filesystem::remove_all(config_.policies_dir());
  EXPECT_TRUE(Evaluate().empty());  // no policies directory: no policies
  std::filesystem::create_directories(config_.policies_dir());
  // The namespace has no repository yet (no backup agent enrolled).
  ApplyPolicy("ledger", LedgerPolicy());
  ApplyPolicy("broken", "name: broken\nnamespace: finance\nschedule: [\n");
  VaultRpoIssues issues;
  const auto rows = Evaluate(&issues);
  ASSERT_EQ(rows.size(), 4u);
  for (const RpoRow& r : rows) EXPECT_EQ(r.status.state, RpoState::kNever);
  ASSERT_EQ(issues.policy_errors.size(), 1u);
  EXPECT_NE(issues.policy_errors[0].find("broken.yaml"), std::string::npos);
  EXPECT_TRUE(issues.namespaces.empty());
  // A repository whose config is not a repository's is named, not fatal.
  ApplyPolicy("hr",
              "name: hr\nnamespace: hr\nagents: [hr-01]\nsources:\n  paths: [/srv/hr]\n"
              "schedule:\n  every: 1h\n");
  std::filesystem::create_directories(dir_ / "repo/hr");
  test::WriteFile(dir_ / "repo/hr/config", "not a config");
  const auto more = Evaluate(&issues);
  EXPECT_EQ(more.size(), 4u);
  ASSERT_EQ(issues.namespaces.count("hr"), 1u);
}

TEST_F(VaultRpoTest, RowsSurviveTheStateFile) {
  config_.offsite = OffsiteConfig{"tcp://peer:7400", "key", 5};
  ApplyPolicy("ledger", LedgerPolicy());
  Commit("ledger-01", kNowS - 600);
  const auto rows = Evaluate();
  int64_t at = 0;
  auto back = DecodeRpoRows(EncodeRpoRows(rows, kNowS * kOneSecond), &at);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(at, kNowS * kOneSecond);
  ASSERT_EQ(back->size(), rows.size());
  for (size_t i = 0; i < rows.size(); i++) {
    EXPECT_EQ((*back)[i].Key(), rows[i].Key());
    EXPECT_EQ((*back)[i].status.state, rows[i].status.state);
    EXPECT_EQ((*back)[i].status.age_s, rows[i].status.age_s);
    EXPECT_EQ((*back)[i].newest_ns, rows[i].newest_ns);
    EXPECT_EQ((*back)[i].rpo_s, rows[i].rpo_s);
  }
  EXPECT_FALSE(DecodeRpoRows("{\"rows\": [{\"namespace\": 1}]}", nullptr).ok());
  EXPECT_FALSE(DecodeRpoRows("garbage", nullptr).ok());
}

TEST_F(VaultRpoTest, MonitorPublishesMetricsAndAlertsOncePerBreachAcrossRestarts) {
  const std::string alerts = dir_ / "alerts.log";
  ApplyPolicy("ledger", LedgerPolicy("alert: echo \"$DR_EVENT $DR_POLICY $DR_SOURCE $DR_SITE "
                                     "$DR_RPO_STATE $DR_RPO_AGE_S\" >> " +
                                     alerts + "\n"));
  Commit("ledger-01", kNowS - 600);
  Commit("LEDGER-03", kNowS - 3 * 3600);
  VaultMetrics metrics;
  const auto never = std::chrono::hours(1);
  {
    VaultRpoMonitor monitor(config_, &metrics, never, never);
    monitor.RunOnce(kNowS * kOneSecond);
    monitor.RunOnce((kNowS + 60) * kOneSecond);
  }
  // At the first pass, once.
  EXPECT_EQ(test::ReadFile(alerts), "rpo-breach ledger files same-city breached 10800\n");
  const std::string text = metrics.Render();
  const std::string labels =
      "namespace=\"finance\",policy=\"ledger\",source=\"files\",agent=\"LEDGER-03\","
      "site=\"same-city\"";
  EXPECT_NE(text.find("drvault_rpo_age_seconds{" + labels + "} 10860\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("drvault_rpo_breached{" + labels + "} 1\n"), std::string::npos);
  EXPECT_NE(text.find("drvault_rpo_state{" + labels + ",state=\"breached\"} 1\n"),
            std::string::npos);
  const std::string never_labels =
      "namespace=\"finance\",policy=\"ledger\",source=\"files\",agent=\"ledger-04\","
      "site=\"same-city\"";
  EXPECT_NE(text.find("drvault_rpo_age_seconds{" + never_labels + "} -1\n"), std::string::npos);
  EXPECT_NE(text.find("drvault_rpo_breached{" + never_labels + "} 1\n"), std::string::npos);
  EXPECT_NE(text.find("drvault_rpo_breached{namespace=\"finance\",policy=\"ledger\",source="
                      "\"files\",agent=\"ledger-01\",site=\"same-city\"} 0\n"),
            std::string::npos);
  // What the monitor saw, for `drvault status --last-seen`.
  auto saved = ReadWholeFile(RpoStatePath(config_));
  ASSERT_TRUE(saved.ok());
  auto rows = DecodeRpoRows(*saved, nullptr);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), 4u);

  // A restart remembers the breach (STATE/alerts.json): no second alert.
  {
    VaultRpoMonitor monitor(config_, &metrics, never, never);
    monitor.RunOnce((kNowS + 120) * kOneSecond);
  }
  EXPECT_EQ(test::ReadFile(alerts), "rpo-breach ledger files same-city breached 10800\n");
  // Back to ok re-arms it; the next breach alerts again.
  Commit("ledger-03", kNowS + 100);
  {
    VaultRpoMonitor monitor(config_, &metrics, never, never);
    monitor.RunOnce((kNowS + 180) * kOneSecond);
    monitor.RunOnce((kNowS + 100 + 7300) * kOneSecond);
  }
  // ledger-03 again, and now ledger-01 (its snapshot aged past 2h too).
  const std::string log = test::ReadFile(alerts);
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 3) << log;
}

TEST_F(VaultRpoTest, MonitorThreadEvaluatesOnItsOwn) {
  ApplyPolicy("ledger", LedgerPolicy());
  VaultMetrics metrics;
  VaultRpoMonitor monitor(config_, &metrics, std::chrono::milliseconds(50),
                          std::chrono::milliseconds(10));
  bool seen = false;
  for (int i = 0; i < 200 && !seen; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    seen = metrics.Render().find("drvault_rpo_state{") != std::string::npos;
  }
  EXPECT_TRUE(seen);
}

TEST(VaultJobLog, AgentIsKeptFilteredAndOptional) {
  test::TempDir dir("vault-joblog");
  JobRecord a;
  a.policy = "ledger";
  a.source = "files";
  a.start_ns = 1;
  a.end_ns = 2;
  a.result = JobResult::kOk;
  a.agent = "ledger-01";
  JobRecord b = a;
  b.agent = "ledger-02";
  JobRecord local = a;
  local.agent = "";
  // drctl run's lines carry no agent key at all, as before.
  EXPECT_EQ(EncodeJobRecord(local).find("agent"), std::string::npos);
  EXPECT_NE(EncodeJobRecord(a).find("\"agent\":\"ledger-01\""), std::string::npos);
  for (const JobRecord& r : {a, b, local, a}) ASSERT_TRUE(AppendJobRecord(dir.path(), r).ok());
  auto all = ReadJobLog(dir.path());
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->records.size(), 4u);
  EXPECT_EQ(all->records[1].agent, "ledger-02");
  EXPECT_EQ(all->records[2].agent, "");
  JobLogFilter only_one;
  only_one.agent = "LEDGER-01";
  only_one.limit = 1;
  auto one = ReadJobLog(dir.path(), only_one);
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->records.size(), 1u);
  EXPECT_EQ(one->records[0].agent, "ledger-01");
  // A line older than the field decodes; a wrong type does not.
  const std::string old_line =
      "{\"policy\":\"p\",\"source\":\"files\",\"start_ns\":1,\"end_ns\":2,\"result\":\"ok\","
      "\"attempt\":1,\"bytes_read\":0,\"bytes_new\":0,\"snapshot\":\"\",\"error\":\"\"}";
  auto old_record = DecodeJobRecord(old_line);
  ASSERT_TRUE(old_record.ok()) << old_record.status().ToString();
  EXPECT_EQ(old_record->agent, "");
  EXPECT_FALSE(DecodeJobRecord(old_line.substr(0, old_line.size() - 1) + ",\"agent\":7}").ok());
}

}  // namespace
}  // namespace dr
