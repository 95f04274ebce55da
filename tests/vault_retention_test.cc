// Retention at the vaults: the same-city vault forgets what a policy's
// same-city rules let go after each commit (agents cannot forget), the
// off-site vault applies the policy's own off-site rules to what is
// replicated to it, keeps what the same-city site forgot, and is never sent
// back what it forgot itself. Each site prunes, and what the off-site pruned
// is sent again when a new snapshot needs it.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "catalog/format/snapshot.h"
#include "catalog/store/object_store.h"
#include "tests/test_util.h"
#include "tests/vault_harness.h"

namespace dr {
namespace {

using test::AgentKey;
using test::RunDrctl;
using test::VaultSite;

std::set<std::string> SnapshotKeys(const std::string& url, const std::string& prefix) {
  std::set<std::string> out;
  auto store = OpenObjectStore(url);
  if (!store.ok()) return out;
  auto list = (*store)->List(prefix);
  if (!list.ok()) return out;
  for (const auto& o : *list) out.insert(o.key.substr(o.key.find('/') + 1));
  return out;
}

// The snapshots a vault's retention_applied events say it forgot.
size_t ForgottenLogged(const std::string& log) {
  size_t n = 0;
  for (size_t at = 0, end; at < log.size(); at = end + 1) {
    end = log.find('\n', at);
    if (end == std::string::npos) end = log.size();
    auto j = nlohmann::json::parse(log.substr(at, end - at), nullptr, false);
    if (j.is_object() && j.value("event", "") == "retention_applied")
      n += j.value("forgotten", size_t{0});
  }
  return n;
}

std::string RetentionPolicyYaml(const std::string& src, int same_city, int off_site) {
  return "name: ledger\nnamespace: finance\nagents: [ledger-01]\nsources:\n  paths: [" + src +
         "]\nschedule:\n  every: 1h\nretention:\n  same-city:\n    keep-last: " +
         std::to_string(same_city) + "\n  off-site:\n    keep-last: " + std::to_string(off_site) +
         "\n";
}

void Apply(const VaultSite& site, const std::string& file) {
  auto r = test::RunProgram({DRVAULT_PATH, "-c", site.config(), "policy", "apply", file});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
}

class VaultRetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* d : {"offsite", "primary"}) std::filesystem::create_directories(dir_ / d);
    offsite_ = std::make_unique<VaultSite>(
        dir_ / "offsite", test::TestPort(20),
        VaultSite::Options{"dir://" + dir_ / "offsite-repo", 32, "", "", "off-site"});
    primary_ = std::make_unique<VaultSite>(
        dir_ / "primary", test::TestPort(22),
        VaultSite::Options{"dir://" + dir_ / "primary-repo", 32, offsite_->endpoint(),
                           offsite_->server_pub(), ""});
    agent_ = test::MakeAgentKey(dir_.path(), "ledger-01");
    primary_->Enrol("ledger-01", agent_.pub_file, "finance");
    offsite_->Enrol("primary", primary_->OffsiteClientPub(), "*", "replicate");
    src_ = dir_ / "src";
    std::filesystem::create_directories(src_);
    test::WriteFile(dir_ / "ledger.yaml", RetentionPolicyYaml(src_, 2, 4));
    Apply(*primary_, dir_ / "ledger.yaml");
    Apply(*offsite_, dir_ / "ledger.yaml");
    offsite_->Start();
    primary_->Start();
  }

  // A backup recorded for the policy; returns the snapshot id.
  std::string Backup(int n, const std::string& policy = "ledger") {
    test::WriteFile(src_ + "/ledger.csv", test::RandomBytes(64 << 10, 500 + n));
    std::vector<std::string> args = {"-q", "--json", "backup", src_};
    if (!policy.empty()) args.insert(args.end(), {"--policy", policy});
    auto b = primary_->Agent(agent_, "finance", args);
    EXPECT_EQ(b.exit_code, 0) << b.err;
    auto j = nlohmann::json::parse(b.out, nullptr, false);
    return j.is_object() ? j.value("snapshot", "") : "";
  }

  std::set<std::string> At(const VaultSite& site, const char* prefix = "snapshots/") {
    return SnapshotKeys(site.RepositoryOf("finance"), prefix);
  }

  test::TempDir dir_{"vault-retention"};
  std::unique_ptr<VaultSite> offsite_, primary_;
  AgentKey agent_;
  std::string src_;
};

TEST_F(VaultRetentionTest, EachSiteKeepsByItsOwnRulesAndNeitherDeletionPropagates) {
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    ids.push_back(Backup(i));
    ASSERT_FALSE(ids.back().empty());
    // Each snapshot reaches the off-site before the next, so the off-site
    // weighs every one of them (it forgets as they arrive).
    ASSERT_TRUE(test::WaitFor(60, [&] {
      return At(*offsite_).count(ids.back()) || At(*offsite_, "forgotten/").count(ids.back());
    })) << offsite_->Log();
  }
  // Same-city: keep-last 2, after every commit.
  ASSERT_TRUE(test::WaitFor(30, [&] {
    return At(*primary_) == std::set<std::string>{ids[4], ids[5]};
  })) << primary_->Log();
  // Off-site: keep-last 4 of what it received, although the same-city
  // site forgot two of those.
  ASSERT_TRUE(test::WaitFor(30, [&] {
    return At(*offsite_) == std::set<std::string>{ids[2], ids[3], ids[4], ids[5]};
  })) << offsite_->Log();
  EXPECT_EQ(At(*offsite_, "forgotten/"), (std::set<std::string>{ids[0], ids[1]}));
  // The snapshots the same-city site forgot still restore at the off-site.
  offsite_->Enrol("ledger-01", agent_.pub_file, "finance", "restore");
  auto r = offsite_->Agent(agent_, "finance", {"-q", "restore", ids[2], "--target", dir_ / "out"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(dir_ / "out" + src_ + "/ledger.csv"));
  // Each site prunes what its own retention let go.
  for (const VaultSite* site : {offsite_.get(), primary_.get()}) {
    auto prune = RunDrctl({"-q", "-r", site->RepositoryOf("finance"), "prune"});
    EXPECT_EQ(prune.exit_code, 0) << prune.err;
  }
}

TEST_F(VaultRetentionTest, ALockSetAtTheSameCitySiteHoldsAtBothSites) {
  test::WriteFile(dir_ / "ledger.yaml", RetentionPolicyYaml(src_, 1, 1));
  Apply(*primary_, dir_ / "ledger.yaml");
  Apply(*offsite_, dir_ / "ledger.yaml");
  std::vector<std::string> ids = {Backup(0)};
  ASSERT_TRUE(test::WaitFor(60, [&] { return At(*offsite_).count(ids[0]) > 0; }))
      << offsite_->Log();
  // The admin locks it at the same-city site; the lock travels with the
  // next cycle, ahead of the snapshots that would push it out.
  auto lock = RunDrctl({"-q", "-r", primary_->RepositoryOf("finance"), "lock", ids[0], "--for",
                        "1d", "--reason", "court order"});
  ASSERT_EQ(lock.exit_code, 0) << lock.err;
  for (int i = 1; i < 3; ++i) ids.push_back(Backup(i));
  ASSERT_TRUE(test::WaitFor(60, [&] {
    return At(*offsite_).count(ids[2]) || At(*offsite_, "forgotten/").count(ids[2]);
  })) << offsite_->Log();
  // keep-last 1 at each site, and the locked snapshot besides.
  ASSERT_TRUE(test::WaitFor(30, [&] {
    return At(*primary_) == std::set<std::string>{ids[0], ids[2]};
  })) << primary_->Log();
  ASSERT_TRUE(test::WaitFor(30, [&] {
    return At(*offsite_) == std::set<std::string>{ids[0], ids[2]};
  })) << offsite_->Log();
  EXPECT_EQ(At(*offsite_, "retention-locks/").size(), 1u);
  EXPECT_NE(primary_->Log().find("\"offsite_lock_sent\""), std::string::npos) << primary_->Log();
  // Prune at the off-site keeps what the locked snapshot needs.
  auto prune = RunDrctl({"-q", "-r", offsite_->RepositoryOf("finance"), "prune"});
  ASSERT_EQ(prune.exit_code, 0) << prune.err;
  offsite_->Enrol("ledger-01", agent_.pub_file, "finance", "restore");
  auto r = offsite_->Agent(agent_, "finance", {"-q", "restore", ids[0], "--target", dir_ / "out"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(test::ReadFile(dir_ / "out" + src_ + "/ledger.csv"), test::RandomBytes(64 << 10, 500));
}

TEST_F(VaultRetentionTest, WhatTheOffsiteForgotIsNeverSentBack) {
  // Here the off-site keeps less than the same-city site.
  test::WriteFile(dir_ / "ledger.yaml", RetentionPolicyYaml(src_, 10, 1));
  Apply(*primary_, dir_ / "ledger.yaml");
  Apply(*offsite_, dir_ / "ledger.yaml");
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(Backup(i));
    ASSERT_TRUE(test::WaitFor(60, [&] {
      return At(*offsite_).count(ids.back()) || At(*offsite_, "forgotten/").count(ids.back());
    })) << offsite_->Log();
  }
  ASSERT_TRUE(test::WaitFor(30, [&] { return At(*offsite_) == std::set<std::string>{ids[2]}; }))
      << offsite_->Log();
  // A snapshot sent back would be forgotten again at once, so what shows a
  // resend is the off-site forgetting once more. The count starts once the
  // two forgets so far are logged (the pass logs after it has deleted).
  auto forgets = [&] { return ForgottenLogged(offsite_->Log()); };
  ASSERT_TRUE(test::WaitFor(30, [&] { return forgets() == 2; })) << offsite_->Log();
  const size_t before = forgets();
  // Reconciliation (at start, then every 12 cycles of 1 s) compares the
  // sites; the same-city site still has all three, and sends none back.
  std::this_thread::sleep_for(std::chrono::seconds(15));
  EXPECT_EQ(At(*primary_).size(), 3u);
  // Restarting the sender with its cursor lost changes nothing either.
  primary_->Stop();
  std::filesystem::remove_all(dir_ / "primary/state/offsite");
  primary_->Start();
  std::this_thread::sleep_for(std::chrono::seconds(5));
  EXPECT_EQ(forgets(), before) << offsite_->Log();
  EXPECT_EQ(At(*offsite_), std::set<std::string>{ids[2]});
}

// The off-site keeps less than the same-city site and prunes what it let
// go; the same-city site still holds that data and deduplicates a new
// backup against it. The snapshot must still arrive whole at the off-site:
// the replicator sends again the chunks the off-site deleted.
TEST_F(VaultRetentionTest, AnOffsiteThatPrunedIsSentAgainTheChunksANewSnapshotNeeds) {
  test::WriteFile(dir_ / "ledger.yaml", RetentionPolicyYaml(src_, 10, 1));
  Apply(*primary_, dir_ / "ledger.yaml");
  Apply(*offsite_, dir_ / "ledger.yaml");
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(Backup(i));
    ASSERT_TRUE(test::WaitFor(60, [&] {
      return At(*offsite_).count(ids.back()) || At(*offsite_, "forgotten/").count(ids.back());
    })) << offsite_->Log();
  }
  ASSERT_TRUE(test::WaitFor(30, [&] { return At(*offsite_) == std::set<std::string>{ids[2]}; }))
      << offsite_->Log();
  // Prune at the off-site until the first two versions' data is gone (a
  // replicating session alive at condemnation defers the deletion).
  const std::string offsite_repo = offsite_->RepositoryOf("finance");
  const uint64_t before = test::StoredPackBytes(offsite_repo);
  ASSERT_TRUE(test::WaitFor(
      60,
      [&] {
        auto prune = RunDrctl({"-q", "-r", offsite_repo, "prune", "--max-unused", "0"});
        EXPECT_EQ(prune.exit_code, 0) << prune.err;
        return test::StoredPackBytes(offsite_repo) + (100 << 10) < before;
      }))
      << "off-site stored " << test::StoredPackBytes(offsite_repo) << " of " << before;

  // The first version again: the same-city site still has its chunks.
  const std::string again = Backup(0);
  ASSERT_TRUE(test::WaitFor(60, [&] { return At(*offsite_).count(again) > 0; })) << primary_->Log();
  EXPECT_GE(primary_->Metric("drvault_offsite_resent_blobs_total"), 1) << primary_->Log();
  auto check = RunDrctl({"-r", offsite_repo, "check", "--read-data"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err << primary_->Log();
  offsite_->Enrol("ledger-01", agent_.pub_file, "finance", "restore");
  auto r = offsite_->Agent(agent_, "finance", {"-q", "restore", again, "--target", dir_ / "out"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(test::ReadFile(dir_ / "out" + src_ + "/ledger.csv"), test::RandomBytes(64 << 10, 500));
}

// The latest lock of each snapshot at `site`, as "<id>" -> seconds from now.
std::map<std::string, int64_t> LockSecondsLeft(const std::set<std::string>& lock_keys) {
  std::map<std::string, int64_t> out;
  const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  for (const auto& k : lock_keys) {  // "<id>/<until ns, 20 digits>"
    const int64_t left = std::stoll(k.substr(k.find('/') + 1)) / 1'000'000'000 - now_s;
    int64_t& latest = out[k.substr(0, k.find('/'))];
    latest = std::max(latest, left);
  }
  return out;
}

TEST_F(VaultRetentionTest, APolicysLockForHoldsEverySnapshotAtEachSiteForThatSitesTime) {
  test::WriteFile(dir_ / "ledger.yaml",
                  "name: ledger\nnamespace: finance\nagents: [ledger-01]\nsources:\n  paths: [" +
                      src_ +
                      "]\nschedule:\n  every: 1h\nretention:\n  same-city:\n    keep-last: 1\n"
                      "    lock-for: 1h\n  off-site:\n    keep-last: 1\n    lock-for: 2h\n");
  Apply(*primary_, dir_ / "ledger.yaml");
  Apply(*offsite_, dir_ / "ledger.yaml");
  std::set<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.insert(Backup(i));
    ASSERT_TRUE(test::WaitFor(60, [&] { return At(*offsite_) == ids; })) << offsite_->Log();
  }
  // keep-last 1 would keep one; each site's lock-for keeps all three, with
  // its own lock: 1 h at the same-city site, 2 h at the off-site.
  // The same-city site's locks reach the off-site too: wait for the
  // off-site's own, longer ones.
  auto all_locked_for = [&](const VaultSite& site, int64_t at_least_s) {
    auto left = LockSecondsLeft(At(site, "retention-locks/"));
    return left.size() == 3 && std::all_of(left.begin(), left.end(),
                                           [&](const auto& kv) { return kv.second > at_least_s; });
  };
  ASSERT_TRUE(test::WaitFor(30,
                            [&] {
                              return all_locked_for(*primary_, 3600 - 300) &&
                                     all_locked_for(*offsite_, 7200 - 300);
                            }))
      << primary_->Log() << offsite_->Log();
  for (const auto& [site, hours] : {std::pair{primary_.get(), 1}, {offsite_.get(), 2}}) {
    for (const auto& [id, left] : LockSecondsLeft(At(*site, "retention-locks/"))) {
      EXPECT_TRUE(ids.count(id)) << id;
      EXPECT_GT(left, hours * 3600 - 300) << id;
      EXPECT_LE(left, hours * 3600) << id;
    }
  }
  EXPECT_EQ(At(*primary_), ids);
  EXPECT_EQ(At(*offsite_), ids);
  // Neither an admin's forget nor a prune takes them.
  for (const VaultSite* site : {primary_.get(), offsite_.get()}) {
    const std::string repo = site->RepositoryOf("finance");
    auto forget = RunDrctl({"-q", "-r", repo, "forget", "--keep-last", "1"});
    EXPECT_EQ(forget.exit_code, 0) << forget.err;
    auto prune = RunDrctl({"-q", "-r", repo, "prune"});
    EXPECT_EQ(prune.exit_code, 0) << prune.err;
    EXPECT_EQ(At(*site), ids) << repo;
    auto check = RunDrctl({"-q", "-r", repo, "check", "--read-data"});
    EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  }
  // Each lock the policy wrote is in the site's audit log.
  for (const VaultSite* site : {primary_.get(), offsite_.get()}) {
    EXPECT_TRUE(test::WaitFor(30, [&] {
      auto audit = test::RunProgram({DRVAULT_PATH, "-c", site->config(), "audit", "--json"});
      auto j = nlohmann::json::parse(audit.out, nullptr, false);
      if (audit.exit_code != 0 || !j.is_object()) return false;
      std::set<std::string> locked;
      for (const auto& r : j["records"])
        if (r["action"] == "lock") locked.insert(r["subject"].get<std::string>());
      return locked == ids;
    })) << site->Log();
  }
  // The lock says which policy set it.
  auto store = OpenObjectStore(primary_->RepositoryOf("finance"));
  ASSERT_TRUE(store.ok());
  const std::string key = "retention-locks/" + *At(*primary_, "retention-locks/").begin();
  EXPECT_NE((*store)->Get(key)->find("policy ledger: lock-for 1h"), std::string::npos);
}

TEST_F(VaultRetentionTest, PruneAtTheSameCitySiteWhileItReplicatesLeavesBothSitesWhole) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(Backup(i));
    ASSERT_TRUE(test::WaitFor(60, [&] {
      return At(*offsite_).count(ids.back()) || At(*offsite_, "forgotten/").count(ids.back());
    })) << offsite_->Log();
  }
  ASSERT_TRUE(test::WaitFor(30, [&] { return At(*primary_).size() == 2; })) << primary_->Log();
  // Prune (repacking everything it can) while backups and replication go on.
  const std::string primary_repo = primary_->RepositoryOf("finance");
  std::thread backups([&] {
    for (int i = 5; i < 8; ++i) ids.push_back(Backup(i));
  });
  int deleted = 0;
  // What the repository looked like right after a prune that refused: a
  // transient view (check clean) or a snapshot whose blobs are really gone.
  auto diagnose = [&] {
    auto check = RunDrctl({"-r", primary_repo, "check"});
    return "\ncheck right after (exit " + std::to_string(check.exit_code) + "):\n" + check.out +
           check.err + "\nprimary vault log:\n" + primary_->Log();
  };
  for (int round = 0; round < 3; ++round) {
    auto prune = RunDrctl({"--json", "-r", primary_repo, "prune", "--max-unused", "0"});
    EXPECT_EQ(prune.exit_code, 0) << prune.err << (prune.exit_code != 0 ? diagnose() : "");
    auto j = nlohmann::json::parse(prune.out, nullptr, false);
    if (j.is_object()) deleted += j.value("packs_deleted", 0);
  }
  backups.join();
  ASSERT_EQ(ids.size(), 8u);
  ASSERT_TRUE(test::WaitFor(60, [&] { return At(*offsite_).count(ids.back()) > 0; }))
      << primary_->Log();
  // Once the sessions alive at condemnation have ended (the agents' and the
  // off-site feed's), a prune deletes what is still waiting. An agent whose
  // bye was lost (a loaded machine) keeps its marker until the vault drops
  // it after a minute of silence (kMarkerReleaseAfter): hence 90 s.
  std::string last_report;
  EXPECT_TRUE(test::WaitFor(
      90,
      [&] {
        auto last = RunDrctl({"--json", "-r", primary_repo, "prune", "--max-unused", "0"});
        EXPECT_EQ(last.exit_code, 0) << last.err;
        last_report = last.out;
        auto j = nlohmann::json::parse(last.out, nullptr, false);
        if (j.is_object()) deleted += j.value("packs_deleted", 0);
        return deleted > 0;
      }))
      << "last prune: " << last_report << primary_->Log();
  for (const auto& url : {primary_repo, offsite_->RepositoryOf("finance")}) {
    auto check = RunDrctl({"-r", url, "check", "--read-data"});
    EXPECT_EQ(check.exit_code, 0) << url << "\n" << check.out << check.err;
  }
  // Every snapshot each site holds restores there.
  offsite_->Enrol("ledger-01", agent_.pub_file, "finance", "restore");
  for (const VaultSite* site : {primary_.get(), offsite_.get()}) {
    for (const auto& id : At(*site)) {
      const std::string out = dir_ / ("out-" + id);
      auto r = site->Agent(agent_, "finance", {"-q", "restore", id, "--target", out});
      EXPECT_EQ(r.exit_code, 0) << id << ": " << r.err;
      std::filesystem::remove_all(out);
    }
  }
}

TEST_F(VaultRetentionTest, SnapshotsOfOtherPoliciesAgentsOrNoPolicyAreKept) {
  // No policy label, an unknown policy, and a policy that does not cover
  // this agent: none of them is ever weighed, however many there are.
  test::WriteFile(dir_ / "other.yaml",
                  "name: other\nnamespace: finance\nagents: [someone-else]\nsources:\n  paths: [" +
                      src_ +
                      "]\nschedule:\n  every: 1h\nretention:\n  same-city:\n    keep-last: 1\n");
  Apply(*primary_, dir_ / "other.yaml");
  std::set<std::string> expected;
  for (int i = 0; i < 3; ++i) {
    expected.insert(Backup(10 + i, ""));
    expected.insert(Backup(20 + i, "unknown"));
    expected.insert(Backup(30 + i, "other"));
  }
  // One weighed commit afterwards proves the retention pass ran.
  const std::string a = Backup(40), b = Backup(41), c = Backup(42);
  expected.insert(b);
  expected.insert(c);
  ASSERT_TRUE(test::WaitFor(30, [&] { return !At(*primary_).count(a); })) << primary_->Log();
  EXPECT_EQ(At(*primary_), expected);
}

}  // namespace
}  // namespace dr
