// kill -9 of a backup at many moments: the repository must always check
// clean, and the next backup must succeed and reuse what was stored.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "tests/test_util.h"

namespace dr {
namespace {

TEST(Crash, KillNineDuringBackupLeavesACleanRepository) {
  test::TempDir dir("crash");
  const std::string repo = dir / "repo", src = dir / "src";
  std::filesystem::create_directories(src);
  for (int i = 0; i < 24; ++i) {
    test::WriteFile(src + "/f" + std::to_string(i), test::RandomBytes(8 << 20, 300 + i));
  }
  ASSERT_EQ(test::RunDrctl({"-r", repo, "init", "--pack-size", "4"}).exit_code, 0);
  std::mt19937 rng(42);
  for (int round = 0; round < 6; ++round) {
    pid_t pid = fork();
    if (pid == 0) {
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 1);
      dup2(devnull, 2);
      execl(DRCTL_PATH, DRCTL_PATH, "-r", repo.c_str(), "backup", "--threads", "1", "--force",
            src.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    usleep(50000 + rng() % 700000);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    auto check = test::RunDrctl({"-r", repo, "check"});
    ASSERT_EQ(check.exit_code, 0) << "round " << round << ": " << check.out << check.err;
  }
  auto b = test::RunDrctl({"-r", repo, "--json", "backup", src});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  auto j = nlohmann::json::parse(b.out);
  // 192 MiB of incompressible data: the interrupted runs stored part of it.
  EXPECT_LT(j["bytes_added"].get<uint64_t>(), 190ull << 20);
  auto check = test::RunDrctl({"-r", repo, "check", "--read-data"});
  EXPECT_EQ(check.exit_code, 0) << check.err;
  auto restore = test::RunDrctl({"-r", repo, "restore", "latest", "-t", dir / "out"});
  EXPECT_EQ(restore.exit_code, 0) << restore.err;
  EXPECT_TRUE(test::CompareTrees(src, dir / "out" + src).empty());
}

}  // namespace
}  // namespace dr
