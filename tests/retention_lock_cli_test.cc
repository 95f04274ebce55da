// drctl lock end to end: a locked snapshot survives forget and prune and
// restores; a lock only ever extends; bad lock requests are one-line errors.
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/test_util.h"

namespace dr {
namespace {

using test::RunDrctl;

TEST(RetentionLockCli, ALockedSnapshotSurvivesForgetAndPruneAndRestores) {
  test::TempDir dir("lock-cli");
  const std::string repo = dir / "repo", src = dir / "src";
  std::filesystem::create_directories(src);
  ASSERT_EQ(RunDrctl({"-q", "-r", repo, "init"}).exit_code, 0);
  std::vector<std::string> ids, versions;
  for (int i = 0; i < 3; ++i) {
    versions.push_back(test::RandomBytes(300000, 10 + i));
    test::WriteFile(src + "/ledger", versions.back());
    auto b = RunDrctl({"--json", "-r", repo, "backup", src});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    ids.push_back(nlohmann::json::parse(b.out)["snapshot"].get<std::string>());
  }
  auto locked = RunDrctl({"-r", repo, "lock", ids[0], "--for", "1d", "--reason", "audit 2026"});
  ASSERT_EQ(locked.exit_code, 0) << locked.err;
  EXPECT_NE(locked.out.find("locked until"), std::string::npos) << locked.out;

  // Only ever extended; a lock in the past, an unknown snapshot, no end:
  // each one line, exit 1, nothing changed.
  for (const auto& [args, expected] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"lock", ids[0], "--for", "1h"}, "can only be extended"},
           {{"lock", ids[0], "--until", "2001-01-01Z"}, "would already have expired"},
           {{"lock", "deadbeef", "--for", "1d"}, "deadbeef"},
           {{"lock", ids[0]}, "--until TIME or --for DURATION"},
           {{"lock", ids[0], "--for", "soon"}, "--for"}}) {
    std::vector<std::string> argv = {"-r", repo};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunDrctl(argv);
    EXPECT_EQ(r.exit_code, 1) << args[1];
    EXPECT_NE(r.err.find(expected), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }

  auto forget = RunDrctl({"--json", "-r", repo, "forget", "--keep-last", "1"});
  ASSERT_EQ(forget.exit_code, 0) << forget.err;
  const auto decisions = nlohmann::json::parse(forget.out);
  EXPECT_EQ(decisions["forgotten"], 1) << decisions;
  bool saw_lock = false;
  for (const auto& d : decisions["groups"][0]["decisions"]) {
    if (d["id"] == ids[0]) {
      EXPECT_TRUE(d["keep"].get<bool>());
      saw_lock = d["reasons"][0].get<std::string>().rfind("locked until", 0) == 0;
    }
  }
  EXPECT_TRUE(saw_lock) << decisions;
  ASSERT_EQ(RunDrctl({"-q", "-r", repo, "prune"}).exit_code, 0);
  auto check = RunDrctl({"-r", repo, "check", "--read-data"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  auto restored = RunDrctl({"-q", "-r", repo, "restore", ids[0], "--target", dir / "out"});
  ASSERT_EQ(restored.exit_code, 0) << restored.err;
  EXPECT_EQ(test::ReadFile(dir / "out" + src + "/ledger"), versions[0]);

  auto list = RunDrctl({"--json", "-r", repo, "lock", "--list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  const auto locks = nlohmann::json::parse(list.out);
  ASSERT_EQ(locks.size(), 1u) << locks;
  EXPECT_EQ(locks[0]["snapshot"], ids[0]);
  EXPECT_TRUE(locks[0]["active"].get<bool>());
}

}  // namespace
}  // namespace dr
