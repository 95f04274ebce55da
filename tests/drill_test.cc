// drctl drill and drill history as real processes: a passing drill with
// checks and objectives, a failing check, a damaged pack, an image drill, a
// sandbox that is not empty, a missed RPO, and a drill history that was
// tampered with.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/test_util.h"

namespace dr {
namespace {

using test::RunDrctl;

class DrillTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(src_ + "/db");
    ASSERT_EQ(RunDrctl({"-r", repo_, "init"}).exit_code, 0);
    for (int i = 0; i < 6; ++i) {
      test::WriteFile(src_ + "/db/part" + std::to_string(i), test::RandomBytes(1 << 20, 10 + i));
    }
    test::WriteFile(src_ + "/README", "ledger");
    auto b = RunDrctl({"-q", "-r", repo_, "backup", src_});
    ASSERT_EQ(b.exit_code, 0) << b.err;
  }

  test::CommandResult Drill(std::vector<std::string> extra) {
    std::vector<std::string> args = {"-r",        repo_,    "--json",   "drill",
                                     "--catalog", catalog_, "--report", dir_ / "report"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunDrctl(args);
  }
  test::CommandResult History() {
    return RunDrctl({"-r", repo_, "--json", "drill", "history", "--catalog", catalog_});
  }
  std::string LargestPack() {
    std::string best;
    uintmax_t size = 0;
    for (const auto& e : std::filesystem::recursive_directory_iterator(repo_ + "/data")) {
      if (e.is_regular_file() && e.file_size() > size) {
        size = e.file_size();
        best = e.path();
      }
    }
    return best;
  }

  test::TempDir dir_{"drill"};
  std::string repo_ = dir_ / "repo", src_ = dir_ / "src", catalog_ = dir_ / "catalog.db",
              sandbox_ = dir_ / "sandbox";
};

TEST_F(DrillTest, APassingDrillIsVerifiedCheckedMeasuredReportedAndRecorded) {
  auto r = Drill({"--sandbox", sandbox_, "--rto", "1h", "--rpo", "1h", "--check",
                  "test \"$(cat \"$DR_SANDBOX" + src_ + "/README\")\" = ledger", "--check",
                  "cmp \"$DR_SANDBOX" + src_ + "/db/part3\" " + src_ + "/db/part3"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j["passed"].get<bool>()) << j.dump(2);
  EXPECT_EQ(j["restored"]["files"], 7);
  EXPECT_EQ(j["problem_count"], 0);
  EXPECT_EQ(j["checks"].size(), 2u);
  EXPECT_EQ(j["checks"][1]["exit_code"], 0);
  std::vector<std::string> phases;
  for (const auto& p : j["phases"]) phases.push_back(p["name"]);
  EXPECT_EQ(phases, (std::vector<std::string>{"fetch", "write", "verify", "checks"}));
  EXPECT_GT(j["rto_s"].get<double>(), 0);
  EXPECT_LT(j["rpo_s"].get<int64_t>(), 3600);
  EXPECT_EQ(j["rto_objective_s"], 3600);
  EXPECT_FALSE(std::filesystem::exists(sandbox_)) << "removed unless --keep";
  // The report files: JSON for scripts, one self-contained HTML page.
  EXPECT_EQ(nlohmann::json::parse(test::ReadFile(dir_ / "report.json"))["drill_id"], j["drill_id"]);
  const std::string html = test::ReadFile(dir_ / "report.html");
  EXPECT_NE(html.find("PASSED"), std::string::npos);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("http://"), std::string::npos) << "no external resource";

  auto kept = Drill({"--sandbox", sandbox_, "--keep", "-i", src_ + "/README"});
  ASSERT_EQ(kept.exit_code, 0) << kept.out << kept.err;
  EXPECT_EQ(test::ReadFile(sandbox_ + src_ + "/README"), "ledger");
  EXPECT_FALSE(std::filesystem::exists(sandbox_ + src_ + "/db/part0")) << "only what -i names";

  auto h = History();
  ASSERT_EQ(h.exit_code, 0) << h.out << h.err;
  auto hist = nlohmann::json::parse(h.out);
  EXPECT_TRUE(hist["intact"].get<bool>()) << hist["problems"].dump();
  ASSERT_EQ(hist["records"].size(), 2u);
  EXPECT_EQ(hist["records"][1]["prev"], hist["records"][0]["digest"]);
  EXPECT_EQ(hist["catalog_anchors"], 2);
  auto table = RunDrctl({"-r", repo_, "drill", "history", "--catalog", catalog_});
  EXPECT_NE(table.out.find("chain intact: 2 records"), std::string::npos) << table.out;
}

TEST_F(DrillTest, AFailingCheckOrAMissedRpoFailsTheDrill) {
  auto r = Drill({"--sandbox", sandbox_, "--check", "echo service did not start; exit 3"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_FALSE(j["passed"].get<bool>());
  EXPECT_EQ(j["checks"][0]["exit_code"], 3);
  EXPECT_NE(j["checks"][0]["output"].get<std::string>().find("service did not start"),
            std::string::npos);
  EXPECT_NE(j["verdict"][0].get<std::string>().find("check failed (exit 3)"), std::string::npos)
      << j["verdict"].dump();
  EXPECT_NE(test::ReadFile(dir_ / "report.html").find("FAILED"), std::string::npos);

  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  auto late = Drill({"--sandbox", sandbox_, "--rpo", "1s"});
  EXPECT_EQ(late.exit_code, 1) << late.out << late.err;
  auto lj = nlohmann::json::parse(late.out);
  EXPECT_NE(lj["verdict"][0].get<std::string>().find("RPO objective missed"), std::string::npos)
      << lj["verdict"].dump();

  // The limit holds also for a check whose output goes elsewhere, and what a
  // check leaves running in the background ends with it.
  const std::string marker = dir_ / "still-running";
  auto timeout =
      Drill({"--sandbox", sandbox_, "--check",
             "(sleep 2; touch " + marker + ") >/dev/null 2>&1 & sleep 30 >/dev/null 2>&1",
             "--check-timeout", "1s"});
  EXPECT_EQ(timeout.exit_code, 1);
  auto tj = nlohmann::json::parse(timeout.out);
  EXPECT_TRUE(tj["checks"][0]["timed_out"].get<bool>());
  EXPECT_LT(tj["checks"][0]["seconds"].get<double>(), 20);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_FALSE(std::filesystem::exists(marker)) << "the background job outlived the drill";

  // A relative sandbox: the checks are told its absolute path.
  auto rel = test::RunShell("cd " + dir_.path() + " && " + DRCTL_PATH + " -r " + repo_ +
                            " drill --catalog " + catalog_ + " --report " + dir_ / "rel" +
                            " --sandbox relative-sandbox --check 'test -f \"$DR_SANDBOX" + src_ +
                            "/README\" && case \"$DR_SANDBOX\" in /*) ;; *) exit 9;; esac'");
  EXPECT_EQ(rel.exit_code, 0) << rel.out << rel.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "relative-sandbox"));
}

TEST_F(DrillTest, ADamagedPackFailsTheDrillAndNamesTheFiles) {
  const std::string pack = LargestPack();
  std::string bytes = test::ReadFile(pack);
  // Early in the pack: a file's chunk (trees are stored after their files;
  // a damaged tree fails the drill too, naming the directory).
  bytes[1000] = static_cast<char>(~bytes[1000]);
  test::WriteFile(pack, bytes);
  auto r = Drill({"--sandbox", sandbox_});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_FALSE(j["passed"].get<bool>());
  EXPECT_GT(j["problem_count"].get<int>(), 0);
  bool named = false;
  for (const auto& p : j["problems"]) {
    named |= p.get<std::string>().find(src_ + "/db/part") != std::string::npos;
  }
  EXPECT_TRUE(named) << j["problems"].dump(2);
  EXPECT_EQ(j["checks"].size(), 0u) << "no check runs on a recovery that did not come back";
}

TEST_F(DrillTest, AnImageDrillRestoresAndVerifiesTheImage) {
  const std::string img = dir_ / "vm.img";
  const std::string disk = test::RandomBytes(3 << 20, 90);
  test::WriteFile(img, disk);
  auto b = RunDrctl({"-r", repo_, "--json", "backup", "--image", img});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  const std::string id = nlohmann::json::parse(b.out)["snapshot"];
  auto r = Drill({id, "--sandbox", sandbox_, "--check", "cmp \"$DR_IMAGE\" " + img});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["recovery_point"]["kind"], "image");
  EXPECT_EQ(j["restored"]["bytes"], 3 << 20);
  EXPECT_GT(j["restored"]["entries_verified"].get<int>(), 0);
  EXPECT_EQ(j["sandbox"]["image"], sandbox_ + "/vm.img.img");
}

TEST_F(DrillTest, ThePolicysNewestRecoveryPointIsChosen) {
  test::WriteFile(src_ + "/README", "policy version");
  auto b = RunDrctl({"-r", repo_, "--json", "backup", "--policy", "ledger", src_});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  const std::string id = nlohmann::json::parse(b.out)["snapshot"];
  test::WriteFile(src_ + "/README", "by hand, later");
  ASSERT_EQ(RunDrctl({"-q", "-r", repo_, "backup", src_}).exit_code, 0);
  auto r = Drill({"--policy", "ledger", "--sandbox", sandbox_, "--keep"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["recovery_point"]["snapshot"], id);
  EXPECT_EQ(test::ReadFile(sandbox_ + src_ + "/README"), "policy version");
  auto none = RunDrctl({"-r", repo_, "drill", "--policy", "nope", "--sandbox", dir_ / "s3"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("no snapshot of policy nope"), std::string::npos) << none.err;
}

TEST_F(DrillTest, ASandboxThatIsNotEmptyIsRefusedAndLeftAlone) {
  std::filesystem::create_directories(sandbox_);
  test::WriteFile(sandbox_ + "/precious", "do not touch");
  auto r = RunDrctl({"-r", repo_, "drill", "--sandbox", sandbox_, "--catalog", catalog_});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("sandbox " + sandbox_ + " is not empty"), std::string::npos) << r.err;
  EXPECT_EQ(test::ReadFile(sandbox_ + "/precious"), "do not touch");
  // An empty sandbox others may write to is refused too: they could swap
  // what was restored before it is verified.
  const std::string shared = dir_ / "shared";
  std::filesystem::create_directories(shared);
  std::filesystem::permissions(shared, std::filesystem::perms::all);
  auto open = RunDrctl({"-r", repo_, "drill", "--sandbox", shared, "--catalog", catalog_});
  EXPECT_EQ(open.exit_code, 1);
  EXPECT_NE(open.err.find("may be changed by another user"), std::string::npos) << open.err;
  // An empty one of ours is used, emptied afterwards, and left in place.
  std::filesystem::permissions(shared, std::filesystem::perms::owner_all);
  auto mine = RunDrctl({"-r", repo_, "drill", "--sandbox", shared, "--catalog", catalog_,
                        "--report", dir_ / "mine"});
  EXPECT_EQ(mine.exit_code, 0) << mine.out << mine.err;
  EXPECT_TRUE(std::filesystem::is_directory(shared));
  EXPECT_TRUE(std::filesystem::is_empty(shared));
  auto none = RunDrctl({"-r", repo_, "drill", "--catalog", catalog_});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("--sandbox"), std::string::npos) << none.err;
  auto bad = RunDrctl({"-r", repo_, "drill", "--sandbox", dir_ / "s2", "--rto", "soon"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("--rto"), std::string::npos) << bad.err;
}

TEST_F(DrillTest, AnotherCatalogThatSyncedAnchorsTheDrillsItSaw) {
  for (int i = 0; i < 2; ++i) ASSERT_EQ(Drill({"--sandbox", sandbox_}).exit_code, 0);
  const std::string auditor = dir_ / "auditor.db";
  auto sync = RunDrctl({"--json", "-r", repo_, "catalog", "sync", "--catalog", auditor});
  ASSERT_EQ(sync.exit_code, 0) << sync.err;
  EXPECT_EQ(nlohmann::json::parse(sync.out)["drills_added"], 2);
  // The newest record is rewritten, and the drill's own catalog is gone: the
  // auditor's catalog still catches it.
  const std::string newest = repo_ + "/drills/0000000002";
  std::string changed = test::ReadFile(newest);
  changed.replace(changed.find("\"passed\": true"), 14, "\"passed\":  true");
  test::WriteFile(newest, changed);
  std::filesystem::remove(catalog_);
  auto h = RunDrctl({"-r", repo_, "drill", "history", "--catalog", auditor});
  EXPECT_EQ(h.exit_code, 1) << h.out;
  EXPECT_NE(h.out.find("record 2 differs from what the catalog recorded"), std::string::npos)
      << h.out;
  auto again = RunDrctl({"--json", "-r", repo_, "catalog", "sync", "--catalog", auditor});
  ASSERT_EQ(again.exit_code, 0);
  EXPECT_NE(again.err.find("drill record 2 of"), std::string::npos) << again.err;
  // A broken chain is not imported into a catalog that never saw it.
  std::filesystem::remove(repo_ + "/drills/0000000001");
  auto fresh = RunDrctl({"--json", "-r", repo_, "catalog", "sync", "--catalog", dir_ / "new.db"});
  ASSERT_EQ(fresh.exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(fresh.out)["drills_added"], 0);
  EXPECT_NE(fresh.err.find("not imported: record 1 is missing"), std::string::npos) << fresh.err;
}

TEST_F(DrillTest, ATamperedDrillHistoryIsDetected) {
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Drill({"--sandbox", sandbox_}).exit_code, 0);
  ASSERT_EQ(History().exit_code, 0);
  const std::string first = repo_ + "/drills/0000000001", last = repo_ + "/drills/0000000003";
  ASSERT_TRUE(std::filesystem::exists(first));

  // An earlier record edited to turn a failure into a pass, say.
  std::string edited = test::ReadFile(first);
  const size_t at = edited.find("\"passed\": true");
  ASSERT_NE(at, std::string::npos) << edited.substr(0, 400);
  edited.replace(at, 14, "\"passed\":  true");
  const std::string original = test::ReadFile(first);
  test::WriteFile(first, edited);
  auto h = History();
  EXPECT_EQ(h.exit_code, 1) << h.out;
  EXPECT_NE(h.out.find("record 2: does not follow record 1"), std::string::npos) << h.out;
  test::WriteFile(first, original);
  EXPECT_EQ(History().exit_code, 0);

  // The newest record, which no later record vouches for: the catalog does.
  const std::string newest = test::ReadFile(last);
  std::string changed = newest;
  changed.replace(changed.find("\"passed\": true"), 14, "\"passed\":  true");
  test::WriteFile(last, changed);
  auto h2 = History();
  EXPECT_EQ(h2.exit_code, 1) << h2.out;
  EXPECT_NE(h2.out.find("record 3 differs from what the catalog recorded"), std::string::npos)
      << h2.out;
  std::filesystem::remove(last);
  auto h3 = History();
  EXPECT_EQ(h3.exit_code, 1) << h3.out;
  EXPECT_NE(h3.out.find("record 3 is missing"), std::string::npos) << h3.out;
  auto table = RunDrctl({"-r", repo_, "drill", "history", "--catalog", catalog_});
  EXPECT_EQ(table.exit_code, 1);
  EXPECT_NE(table.out.find("PROBLEM: record 3 is missing"), std::string::npos) << table.out;

  // The next drill takes number 3 again; the catalog keeps the anchor of
  // the removed one, so the history still shows the cut.
  auto next = Drill({"--sandbox", sandbox_});
  EXPECT_EQ(next.exit_code, 0);
  EXPECT_NE(next.err.find("already remembers drill record 3"), std::string::npos) << next.err;
  auto h4 = History();
  EXPECT_EQ(h4.exit_code, 1);
  EXPECT_NE(h4.out.find("record 3 differs from what the catalog recorded"), std::string::npos)
      << h4.out;
}

}  // namespace
}  // namespace dr
