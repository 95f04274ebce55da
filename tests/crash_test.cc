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

// Durable packs in a directory repository (temporary files start with '.').
int CountPacks(const std::string& repo) {
  int n = 0;
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(repo + "/data", ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->is_regular_file(ec) && it->path().filename().string()[0] != '.') ++n;
  }
  return n;
}

// Waits until the backup `pid` has made `target` packs durable; false if
// it ended (and was reaped) first.
bool WaitForPacks(const std::string& repo, int target, pid_t pid) {
  for (int i = 0; i < 6000 && CountPacks(repo) < target; ++i) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) return false;
    usleep(10000);
  }
  return true;
}

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
    // Even rounds kill at a random moment, often before any pack is durable;
    // odd rounds first wait for two new packs, so that however slow the
    // machine, some of the data is stored before the final backup.
    const bool running = round % 2 == 0 || WaitForPacks(repo, CountPacks(repo) + 2, pid);
    if (running) {
      usleep(50000 + rng() % 700000);
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
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
