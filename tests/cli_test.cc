// drctl as a user runs it: separate processes, exit codes, one-line errors.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/test_util.h"

namespace dr {
namespace {

using test::RunDrctl;

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = dir_ / "repo";
    src_ = dir_ / "src";
    std::filesystem::create_directories(src_ + "/docs");
    test::WriteFile(src_ + "/docs/report.txt", test::TextBytes(200000, 1));
    test::WriteFile(src_ + "/data.bin", test::RandomBytes(3 << 20, 2));
    auto r = RunDrctl({"-r", repo_, "init"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  test::CommandResult Drctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"-r", repo_});
    return RunDrctl(args);
  }
  // The error contract: non-zero exit and a single "drctl: ..." line naming `what`.
  static void ExpectOneLineError(const test::CommandResult& r, int code, const std::string& what) {
    EXPECT_EQ(r.exit_code, code) << r.out << r.err;
    EXPECT_EQ(r.err.rfind("drctl: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(what), std::string::npos) << r.err;
  }
  test::TempDir dir_{"cli"};
  std::string repo_, src_;
};

TEST_F(Cli, BackupListLsDiffRestoreAtAndStats) {
  auto b1 = Drctl({"backup", src_, "--tag", "daily", "--json"});
  ASSERT_EQ(b1.exit_code, 0) << b1.err;
  auto j1 = nlohmann::json::parse(b1.out);
  EXPECT_EQ(j1["files_new"], 2);
  ::usleep(1100000);  // --at has one-second resolution
  test::WriteFile(src_ + "/docs/new.txt", "new");
  auto b2 = Drctl({"backup", src_, "--json"});
  ASSERT_EQ(b2.exit_code, 0) << b2.err;
  auto j2 = nlohmann::json::parse(b2.out);
  EXPECT_EQ(j2["files_unchanged"], 2);

  auto snaps = Drctl({"snapshots", "--json"});
  ASSERT_EQ(snaps.exit_code, 0);
  auto list = nlohmann::json::parse(snaps.out);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["tags"][0], "daily");
  EXPECT_EQ(list[1]["parent"], list[0]["id"]);
  auto table = Drctl({"snapshots"});
  EXPECT_NE(table.out.find(list[0]["short_id"].get<std::string>()), std::string::npos);

  auto ls = Drctl({"ls", "latest", src_ + "/docs"});
  EXPECT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_NE(ls.out.find("new.txt"), std::string::npos);
  EXPECT_NE(ls.out.find("report.txt"), std::string::npos);

  auto diff = Drctl({"diff", list[0]["short_id"], list[1]["short_id"]});
  EXPECT_EQ(diff.exit_code, 0) << diff.err;
  EXPECT_NE(diff.out.find("+    " + src_ + "/docs/new.txt"), std::string::npos) << diff.out;

  // --at picks the last snapshot at or before the time: the first one.
  auto at = Drctl({"restore", "--at", list[0]["time"].get<std::string>().substr(0, 19) + "Z", "-t",
                   dir_ / "at", "--json"});
  ASSERT_EQ(at.exit_code, 0) << at.err;
  EXPECT_EQ(nlohmann::json::parse(at.out)["snapshot"], list[0]["id"]);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "at" + src_ + "/docs/new.txt"));

  auto one = Drctl({"restore", "latest", "-t", dir_ / "one", "-i", src_ + "/docs/report.txt"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(test::ReadFile(dir_ / "one" + src_ + "/docs/report.txt"),
            test::ReadFile(src_ + "/docs/report.txt"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "one" + src_ + "/data.bin"));

  auto verify = Drctl({"restore", "latest", "--verify-only", "-t", "/"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_NE(verify.out.find("identical"), std::string::npos);

  auto check = Drctl({"check", "--read-data"});
  EXPECT_EQ(check.exit_code, 0) << check.err;
  EXPECT_NE(check.out.find("no errors found"), std::string::npos);
  auto stats = Drctl({"stats", "--json"});
  EXPECT_EQ(stats.exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(stats.out)["snapshots"], 2);
}

TEST_F(Cli, HelpForEveryCommand) {
  for (const char* cmd :
       {"init", "backup", "snapshots", "ls", "diff", "check", "stats", "restore"}) {
    auto r = RunDrctl({cmd, "--help"});
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << cmd << r.out;
  }
}

TEST_F(Cli, UsageErrorsExitWithTwo) {
  EXPECT_EQ(RunDrctl({}).exit_code, 2);
  EXPECT_EQ(RunDrctl({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(Drctl({"restore", "latest"}).exit_code, 2);  // --target missing
}

TEST_F(Cli, MissingSourcePathGivesPartialSnapshotAndExitThree) {
  auto r = Drctl({"backup", src_, dir_ / "missing"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("warning: "), std::string::npos);
  EXPECT_NE(r.err.find("missing"), std::string::npos);
  EXPECT_NE(r.out.find("PARTIAL"), std::string::npos);
  auto none = Drctl({"backup", dir_ / "missing"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("nothing to back up"), std::string::npos);
  EXPECT_NE(Drctl({"snapshots", "--json"}).out.find("\"partial\": true"), std::string::npos);
}

TEST_F(Cli, UnreadableFileInsideTheTree) {
  if (!test::IsRoot()) GTEST_SKIP() << "runs drctl as nobody via setpriv, which needs root";
  test::WriteFile(src_ + "/secret", "secret");
  test::RunShell("chmod -R a+rX " + dir_.path() + " && chown -R nobody " + repo_);
  ::chmod((src_ + "/secret").c_str(), 0600);
  auto r = test::RunShell("setpriv --reuid=nobody --regid=nogroup --clear-groups " +
                          std::string(DRCTL_PATH) + " -r " + repo_ + " backup " + src_);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("secret"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.err;
  auto ls = Drctl({"ls", "latest", src_});
  EXPECT_NE(ls.out.find("data.bin"), std::string::npos);
  EXPECT_EQ(ls.out.find("secret"), std::string::npos);
}

TEST_F(Cli, RepositoryProblemsAreOneLineErrors) {
  ExpectOneLineError(RunDrctl({"-r", dir_ / "nope", "snapshots"}), 1, "not a repository");
  std::filesystem::create_directories(dir_ / "foreign");
  test::WriteFile(dir_ / "foreign/config", "[core]\nrepositoryformatversion = 0\n");
  ExpectOneLineError(RunDrctl({"-r", dir_ / "foreign", "snapshots"}), 1, "not a repository object");
  ExpectOneLineError(RunDrctl({"-r", "s3://bucket", "snapshots"}), 1, "unknown scheme");
  ExpectOneLineError(Drctl({"init"}), 1, "already holds a repository");
  // A corrupted config is named; nothing else in the repository is touched.
  ASSERT_EQ(Drctl({"backup", src_}).exit_code, 0);
  std::string config = test::ReadFile(repo_ + "/config");
  std::string bad = config;
  bad[40] ^= 0x08;
  test::WriteFile(repo_ + "/config", bad);
  ExpectOneLineError(Drctl({"snapshots"}), 1, "config");
  test::WriteFile(repo_ + "/config", config);
  EXPECT_EQ(Drctl({"check"}).exit_code, 0);
}

TEST_F(Cli, SnapshotAndTargetProblemsAreOneLineErrors) {
  ExpectOneLineError(Drctl({"restore", "latest", "-t", dir_ / "t"}), 1, "has no snapshots");
  ASSERT_EQ(Drctl({"backup", src_}).exit_code, 0);
  ExpectOneLineError(Drctl({"restore", "deadbeef", "-t", dir_ / "t"}), 1, "no snapshot deadbeef");
  ExpectOneLineError(Drctl({"restore", "not-an-id", "-t", dir_ / "t"}), 1, "not-an-id");
  ExpectOneLineError(Drctl({"restore", "--at", "2001-01-01 00:00", "-t", dir_ / "t"}), 1,
                     "no snapshot at or before");
  ExpectOneLineError(Drctl({"restore", "--at", "last tuesday", "-t", dir_ / "t"}), 1,
                     "last tuesday");
  test::WriteFile(dir_ / "a-file", "x");
  ExpectOneLineError(Drctl({"restore", "latest", "-t", dir_ / "a-file"}), 1, "a-file");
  ExpectOneLineError(Drctl({"restore", "latest", "-t", "/proc/drtest"}), 1, "/proc/drtest");
  ExpectOneLineError(Drctl({"ls", "latest", "/no/such/path"}), 1, "/no/such/path");
}

TEST_F(Cli, DamagedPackMakesCheckAndRestoreFailButRestoreSavesTheRest) {
  for (int i = 0; i < 8; ++i) {
    test::WriteFile(src_ + "/f" + std::to_string(i), test::RandomBytes(1 << 20, 50 + i));
  }
  ASSERT_EQ(Drctl({"backup", src_}).exit_code, 0);
  test::RunShell("f=$(ls -S $(find " + repo_ + "/data -type f) | head -1); " +
                 "printf '\\377' | dd of=$f bs=1 seek=4096 conv=notrunc status=none");
  auto check = Drctl({"check", "--read-data"});
  EXPECT_EQ(check.exit_code, 1);
  EXPECT_NE(check.err.find("error: pack damaged: pack "), std::string::npos) << check.err;
  EXPECT_NE(check.err.find("error: file damaged: snapshot "), std::string::npos) << check.err;
  auto r = Drctl({"restore", "latest", "-t", dir_ / "out", "--json"});
  EXPECT_EQ(r.exit_code, 1);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["errors"].size(), 1u);
  EXPECT_EQ(j["files_verified"], j["files"].get<int>() - 1);
}

}  // namespace
}  // namespace dr
