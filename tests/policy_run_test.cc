// drctl run / jobs / rpo end to end: real processes, a dir:// repository,
// policy files on disk.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/test_util.h"
#include "tests/vault_harness.h"

namespace dr {
namespace {

using test::RunDrctl;

class PolicyRun : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(src_ + "/docs");
    std::filesystem::create_directories(policies_);
    test::WriteFile(src_ + "/docs/a.txt", test::TextBytes(100000, 1));
    test::WriteFile(src_ + "/b.bin", test::RandomBytes(300000, 2));
    auto r = RunDrctl({"-r", repo_, "init"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  void WritePolicy(const std::string& file, const std::string& body) {
    test::WriteFile(policies_ + "/" + file, body);
  }
  test::CommandResult Run(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"-r",      repo_,     "run",  "--once", "--policies",
                                     policies_, "--state", state_, "--host", "testhost"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunDrctl(args);
  }
  nlohmann::json Jobs() {
    auto r = RunDrctl({"jobs", "--state", state_, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out);
  }

  test::TempDir dir_{"policy-run"};
  std::string repo_ = dir_ / "repo", src_ = dir_ / "src", policies_ = dir_ / "policies",
              state_ = dir_ / "state";
};

TEST_F(PolicyRun, OnceThreeTimesAppliesRetentionAndRestores) {
  WritePolicy("10-docs.yaml", "name: docs\nsources:\n  paths: [" + src_ +
                                  "]\nschedule:\n  every: 1m\ntags: [auto]\n"
                                  "retention:\n  same-city:\n    keep-last: 2\n");
  for (int i = 0; i < 3; ++i) {
    if (i > 0) {
      test::WriteFile(src_ + "/docs/run" + std::to_string(i) + ".txt",
                      test::TextBytes(5000, 10 + i));
    }
    // The first run is due because the job never ran; the later ones are
    // forced (--all): with `every: 1m` they would otherwise wait a minute.
    auto r = i == 0 ? Run() : Run({"--all"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("docs/files: ok, snapshot "), std::string::npos) << r.out;
  }

  nlohmann::json jobs = Jobs();
  ASSERT_EQ(jobs.size(), 3u) << jobs.dump();
  for (const auto& j : jobs) {
    EXPECT_EQ(j["policy"], "docs");
    EXPECT_EQ(j["source"], "files");
    EXPECT_EQ(j["result"], "ok");
    EXPECT_EQ(j["attempt"], 1);
    EXPECT_EQ(j["snapshot"].get<std::string>().size(), 32u);
    EXPECT_GT(j["bytes_read"].get<uint64_t>(), 0u);
  }
  EXPECT_GT(jobs[0]["bytes_new"].get<uint64_t>(), 0u);
  auto limited = RunDrctl({"jobs", "--state", state_, "--json", "--limit", "1"});
  ASSERT_EQ(limited.exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(limited.out).size(), 1u);
  auto table = RunDrctl({"jobs", "--state", state_});
  EXPECT_NE(table.out.find("docs"), std::string::npos) << table.out;

  auto snaps = RunDrctl({"-r", repo_, "snapshots", "--json"});
  ASSERT_EQ(snaps.exit_code, 0) << snaps.err;
  auto list = nlohmann::json::parse(snaps.out);
  ASSERT_EQ(list.size(), 2u) << "keep-last 2 after each run";
  std::vector<std::string> ids = {list[0]["id"], list[1]["id"]};
  std::sort(ids.begin(), ids.end());
  std::vector<std::string> newest = {jobs[1]["snapshot"], jobs[2]["snapshot"]};
  std::sort(newest.begin(), newest.end());
  EXPECT_EQ(ids, newest);
  EXPECT_EQ(list[0]["tags"][0], "auto");

  auto restore = RunDrctl({"-r", repo_, "restore", "latest", "-t", dir_ / "out"});
  ASSERT_EQ(restore.exit_code, 0) << restore.err;
  EXPECT_EQ(test::CompareTrees(src_, dir_ / "out" + src_), std::vector<std::string>{});

  auto rpo =
      RunDrctl({"-r", repo_, "rpo", "--policies", policies_, "--host", "testhost", "--json"});
  ASSERT_EQ(rpo.exit_code, 0) << rpo.out << rpo.err;
  auto rows = nlohmann::json::parse(rpo.out);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["policy"], "docs");
  EXPECT_NE(rows[0]["state"], "never");
}

TEST_F(PolicyRun, PruneEveryReclaimsWhatRetentionForgotAndWaitsItsTurn) {
  WritePolicy("p.yaml", "name: churn\nsources:\n  paths: [" + src_ +
                            "]\nschedule:\n  every: 1m\n"
                            "retention:\n  same-city:\n    keep-last: 1\n");
  // Each run backs up 2 MiB that only it has; keep-last 1 forgets the one
  // before, and the prune after the jobs takes its data away.
  for (int i = 0; i < 3; ++i) {
    test::WriteFile(src_ + "/churn.bin", test::RandomBytes(2 << 20, 50 + i));
    auto r = i == 0 ? Run({"--prune-every", "1s"}) : Run({"--all", "--prune-every", "1s"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("prune: deleted "), std::string::npos) << r.out;
    EXPECT_LT(test::StoredPackBytes(repo_), 3u << 20) << "run " << i;
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  }
  ASSERT_TRUE(std::filesystem::exists(state_ + "/prune.json"));

  // The last prune was a moment ago: an hourly prune is not due yet.
  test::WriteFile(src_ + "/churn.bin", test::RandomBytes(2 << 20, 60));
  auto r = Run({"--all", "--prune-every", "1h"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out.find("prune:"), std::string::npos) << r.out;
  EXPECT_GT(test::StoredPackBytes(repo_), 4u << 20) << "two versions until the next prune";

  auto check = RunDrctl({"-r", repo_, "check", "--read-data"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  auto restore = RunDrctl({"-r", repo_, "restore", "latest", "-t", dir_ / "out"});
  ASSERT_EQ(restore.exit_code, 0) << restore.err;
  EXPECT_EQ(test::CompareTrees(src_, dir_ / "out" + src_), std::vector<std::string>{});
}

TEST_F(PolicyRun, AnImageSourceIsItsOwnJobSnapshotAndRetention) {
  const std::string img = dir_ / "vm.img";
  std::string disk = test::RandomBytes(6 << 20, 70);
  test::WriteFile(img, disk);
  WritePolicy("vm.yaml", "name: vm\nsources:\n  paths: [" + src_ + "]\n  images: [" + img +
                             "]\nschedule:\n  every: 1m\n"
                             "retention:\n  same-city:\n    keep-last: 1\n");
  std::vector<std::string> snapshots;
  for (int i = 0; i < 2; ++i) {
    if (i > 0) {  // a guest rewrote 1 MiB in the middle of its disk
      disk.replace(2 << 20, 1 << 20, test::RandomBytes(1 << 20, 71));
      test::WriteFile(img, disk);
    }
    auto r = i == 0 ? Run({"--prune-every", "0"}) : Run({"--all", "--prune-every", "0"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("vm/files: ok"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("vm/image:" + img + ": ok"), std::string::npos) << r.out;
  }
  nlohmann::json jobs = Jobs();
  ASSERT_EQ(jobs.size(), 4u) << jobs.dump();
  const nlohmann::json* last_image = nullptr;
  for (const auto& j : jobs) {
    EXPECT_EQ(j["result"], "ok") << j.dump();
    if (j["source"] == "image:" + img) last_image = &j;
  }
  ASSERT_NE(last_image, nullptr);
  // The second image backup reads the image but adds only what changed.
  EXPECT_LT((*last_image)["bytes_new"].get<uint64_t>(), 2u << 20);

  // keep-last 1 applies per source: one file snapshot and one image snapshot.
  auto snaps = RunDrctl({"-r", repo_, "snapshots", "--json"});
  ASSERT_EQ(snaps.exit_code, 0) << snaps.err;
  auto list = nlohmann::json::parse(snaps.out);
  ASSERT_EQ(list.size(), 2u) << list.dump();
  auto restore = RunDrctl(
      {"-r", repo_, "restore", (*last_image)["snapshot"].get<std::string>(), "-t", dir_ / "r.img"});
  ASSERT_EQ(restore.exit_code, 0) << restore.err;
  EXPECT_TRUE(test::ReadFile(dir_ / "r.img") == disk);
}

TEST_F(PolicyRun, BadPolicyFileFailsOnceButTheOthersRun) {
  WritePolicy("good.yaml",
              "name: good\nsources:\n  paths: [" + src_ + "]\nschedule:\n  every: 1h\n");
  WritePolicy("bad.yaml", "name: bad\nsources:\n  paths: [" + src_ + "]\nschedule:\n  every: 15\n");
  auto r = Run({"--prune-every", "0"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const std::string where = policies_ + "/bad.yaml:5:10: schedule.every: ";
  EXPECT_NE(r.err.find(where), std::string::npos) << r.err;
  nlohmann::json jobs = Jobs();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0]["policy"], "good");
  EXPECT_EQ(jobs[0]["result"], "ok");
}

TEST_F(PolicyRun, FailedRunIsRecordedAndRetriedLater) {
  WritePolicy("gone.yaml", "name: gone\nsources:\n  paths: [" + dir_ / "missing" +
                               "]\nschedule:\n  every: 1h\n");
  auto r = Run({"--prune-every", "0"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("gone/files: failed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("next try"), std::string::npos) << r.out;
  // The retry waits a minute: an immediate second --once runs nothing.
  auto again = Run({"--prune-every", "0"});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  nlohmann::json jobs = Jobs();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0]["result"], "failed");
  EXPECT_FALSE(jobs[0]["error"].get<std::string>().empty());
}

// A policy's drills run on their own schedule through drctl run: the newest
// snapshot of the policy restored, verified and checked, reported under the
// state directory, recorded in the repository's drill history and the job
// log; a failed drill pages.
TEST_F(PolicyRun, PolicyDrillsRunReportRecordAndPageOnFailure) {
  const std::string marker = dir_ / "alerts.log";
  WritePolicy("ledger.yaml", "name: ledger\nsources:\n  paths: [" + src_ +
                                 "]\nschedule:\n  every: 1h\nrpo: 2h\n"
                                 "alert: 'echo \"$DR_EVENT $DR_SOURCE\" >> " +
                                 marker +
                                 "'\ndrills:\n"
                                 "  - name: nightly\n    schedule: { every: 1d }\n    rto: 1h\n"
                                 "    checks: ['cmp \"$DR_SANDBOX" +
                                 src_ + "/b.bin\" " + src_ +
                                 "/b.bin']\n"
                                 "  - name: broken\n    schedule: { every: 1d }\n"
                                 "    checks: ['false']\n");
  // At start only the backup is due; the drills wait for their slots.
  auto first = Run({"--prune-every", "0"});
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_EQ(first.out.find("drill:"), std::string::npos) << first.out;
  // --all runs everything now, drills included.
  auto all = Run({"--prune-every", "0", "--all"});
  EXPECT_EQ(all.exit_code, 1) << all.out << all.err;
  EXPECT_NE(all.out.find("ledger/drill:nightly: ok"), std::string::npos) << all.out;
  EXPECT_NE(all.out.find("ledger/drill:broken: failed"), std::string::npos) << all.out;
  nlohmann::json jobs = Jobs();
  size_t drills = 0;
  for (const auto& j : jobs) drills += j["source"].get<std::string>().rfind("drill:", 0) == 0;
  EXPECT_EQ(drills, 2u) << jobs.dump(2);
  size_t reports = 0;
  for (const auto& e : std::filesystem::directory_iterator(state_ + "/drills"))
    reports += e.path().extension() == ".html";
  EXPECT_EQ(reports, 2u);
  auto history = RunDrctl({"-r", repo_, "drill", "history"});
  EXPECT_EQ(history.exit_code, 0) << history.out << history.err;
  EXPECT_NE(history.out.find("passed"), std::string::npos) << history.out;
  EXPECT_NE(history.out.find("FAILED"), std::string::npos) << history.out;
  ASSERT_TRUE(std::filesystem::exists(marker));
  EXPECT_EQ(test::ReadFile(marker), "drill-failed drill:broken\n");
  // Nothing of the restore is left behind.
  const std::string sandbox = state_ + "/drill-sandbox/ledger-nightly";
  EXPECT_TRUE(!std::filesystem::exists(sandbox) || std::filesystem::is_empty(sandbox));
}

TEST_F(PolicyRun, AlertFiresOncePerRpoBreach) {
  const std::string marker = dir_ / "alerts.log";
  // Yearly: after the first run nothing is due, so only the RPO moves.
  WritePolicy("rpo.yaml", "name: tight\nsources:\n  paths: [" + src_ +
                              "]\nschedule:\n  cron: \"0 0 1 1 *\"\nrpo: 1s\n"
                              "alert: 'echo \"$DR_EVENT $DR_POLICY $DR_RPO_STATE\" >> " +
                              marker + "'\n");
  auto first = Run({"--prune-every", "0"});
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));
  for (int i = 0; i < 2; ++i) {
    auto r = Run({"--prune-every", "0"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  ASSERT_TRUE(std::filesystem::exists(marker));
  EXPECT_EQ(test::ReadFile(marker), "rpo-breach tight breached\n");
  auto rpo = RunDrctl({"-r", repo_, "rpo", "--policies", policies_, "--host", "testhost"});
  EXPECT_EQ(rpo.exit_code, 1) << rpo.out << rpo.err;
  EXPECT_NE(rpo.out.find("breached"), std::string::npos) << rpo.out;
  EXPECT_EQ(Jobs().size(), 1u);
}

TEST_F(PolicyRun, ServiceRunsDueJobsAndStopsOnSigterm) {
  WritePolicy("svc.yaml", "name: svc\nsources:\n  paths: [" + src_ + "]\nschedule:\n  every: 1h\n");
  test::Process service({DRCTL_PATH, "-r", repo_, "run", "--policies", policies_, "--state", state_,
                         "--host", "testhost", "--prune-every", "0"},
                        dir_ / "service.log");
  // The job never ran, so it runs at start.
  const std::string log = state_ + "/jobs.jsonl";
  for (int i = 0; i < 300 && !std::filesystem::exists(log); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(std::filesystem::exists(log)) << test::ReadFile(dir_ / "service.log");
  // A second service on the same state would run every job twice.
  auto second = Run();
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.err.find("another drctl run"), std::string::npos) << second.err;
  service.Signal(SIGTERM);
  EXPECT_EQ(service.Wait(), 0) << test::ReadFile(dir_ / "service.log");
  const std::string out = test::ReadFile(dir_ / "service.log");
  EXPECT_NE(out.find("svc/files: ok"), std::string::npos) << out;
  EXPECT_NE(out.find("stopping"), std::string::npos) << out;
  // One run, or two when the test straddled the top of an hour (a slot of
  // `every: 1h`).
  const auto jobs = Jobs();
  EXPECT_GE(jobs.size(), 1u);
  EXPECT_LE(jobs.size(), 2u);
  for (const auto& j : jobs) EXPECT_EQ(j["result"], "ok") << j.dump();
}

}  // namespace
}  // namespace dr
