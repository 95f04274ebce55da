// Backups, forget and prune at the same time, in separate processes, round
// after round, on dir:// and rados://. Afterwards every snapshot left must
// restore exactly what its backup read, and check --read-data must be clean.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "tests/test_util.h"

namespace dr {
namespace {

namespace fs = std::filesystem;
using test::Process;
using test::RunDrctl;

constexpr int kRounds = 20;

// Changes `dir` for round `round` of writer `w`: a new file each round, one
// file rewritten, the file of three rounds ago removed, so packs fill with
// data later forgotten (prune has work: whole packs and partial ones).
void MutateSource(const fs::path& dir, int w, int round) {
  fs::create_directories(dir / "sub");
  test::WriteFile(dir / ("new" + std::to_string(round)),
                  test::RandomBytes(600 << 10, w * 100000 + round));
  fs::remove(dir / ("new" + std::to_string(round - 3)));
  test::WriteFile(dir / "sub" / "changing", test::TextBytes(200 << 10, w * 1000 + round));
  if (round == 0) test::WriteFile(dir / "stable", test::RandomBytes(900 << 10, w));
}

// The backup's --json object (stderr, which shares the log, has no braces).
std::string SnapshotIdFrom(const std::string& log) {
  const std::string text = test::ReadFile(log);
  const size_t open = text.find('{'), close = text.rfind('}');
  if (open == std::string::npos || close == std::string::npos) return "";
  auto j = nlohmann::json::parse(text.substr(open, close - open + 1), nullptr, false);
  return j.is_object() && j.contains("snapshot") ? j["snapshot"].get<std::string>() : "";
}

std::string Log(const fs::path& root, int round, int w) {
  return (root / ("backup-" + std::to_string(round) + "-" + std::to_string(w) + ".log")).string();
}

void StressRepository(const std::string& url) {
  test::TempDir work("prune-stress");
  const fs::path root = work.path();
  ASSERT_EQ(RunDrctl({"-q", "-r", url, "init", "--pack-size", "1"}).exit_code, 0);
  std::map<std::string, fs::path> expected;  // snapshot id -> copy of what it read
  int prunes = 0, deleted_packs = 0, waited = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::unique_ptr<Process>> backups;
    for (int w = 0; w < 2; ++w) {
      const fs::path src = root / ("src" + std::to_string(w));
      MutateSource(src, w, round);
      // What this backup will read: nothing changes `src` until it ends.
      const fs::path copy = root / "expect" / (std::to_string(round) + "-" + std::to_string(w));
      fs::create_directories(copy.parent_path());
      fs::copy(src, copy, fs::copy_options::recursive);
      backups.push_back(std::make_unique<Process>(
          std::vector<std::string>{DRCTL_PATH, "--json", "-r", url, "backup", src.string()},
          Log(root, round, w)));
    }
    // Forget and prune while both backups run.
    auto forget = RunDrctl({"-q", "-r", url, "forget", "--keep-last", "2"});
    ASSERT_EQ(forget.exit_code, 0) << forget.err;
    auto prune = RunDrctl({"--json", "-r", url, "prune"});
    ASSERT_EQ(prune.exit_code, 0) << prune.err;
    auto report = nlohmann::json::parse(prune.out);
    deleted_packs += report["packs_deleted"].get<int>();
    waited += report["records_waiting"].get<int>() > 0;
    prunes++;
    for (int w = 0; w < 2; ++w) {
      ASSERT_EQ(backups[w]->Wait(), 0) << test::ReadFile(Log(root, round, w));
      std::string id = SnapshotIdFrom(Log(root, round, w));
      ASSERT_FALSE(id.empty()) << test::ReadFile(Log(root, round, w));
      expected[id] = root / "expect" / (std::to_string(round) + "-" + std::to_string(w));
    }
  }
  // Quiet now: one more prune deletes whatever still waited.
  ASSERT_EQ(RunDrctl({"-q", "-r", url, "prune"}).exit_code, 0);
  EXPECT_GT(deleted_packs, 0) << "prune never reclaimed anything in " << prunes << " runs";
  // How often a prune found a backup running (timing decides; not asserted).
  std::fprintf(stderr, "%s: %d prunes, %d waited for a running backup, %d packs deleted\n",
               url.c_str(), prunes, waited, deleted_packs);

  auto check = RunDrctl({"-r", url, "check", "--read-data"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  auto list = RunDrctl({"--json", "-r", url, "snapshots"});
  ASSERT_EQ(list.exit_code, 0);
  auto snaps = nlohmann::json::parse(list.out);
  ASSERT_GE(snaps.size(), 4u);  // keep-last 2 for each of the two sources
  for (const auto& s : snaps) {
    const std::string id = s["id"];
    ASSERT_TRUE(expected.count(id)) << "unknown snapshot " << id;
    const fs::path target = root / ("restore-" + id);
    auto r = RunDrctl({"-q", "-r", url, "restore", id, "--target", target.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string path = s["paths"][0];
    auto diff =
        test::RunShell("diff -r '" + expected[id].string() + "' '" + target.string() + path + "'");
    EXPECT_EQ(diff.exit_code, 0) << "snapshot " << id << ": " << diff.out;
  }
}

TEST(PruneStress, BackupsForgetAndPruneAtOnceOnDir) {
  test::TempDir repo("prune-stress-repo");
  StressRepository("dir://" + repo.path());
}

TEST(PruneStress, BackupsForgetAndPruneAtOnceOnRados) {
  std::string url = test::RadosTestUrl("prune-stress");
  DR_REQUIRE_RADOS(url);
  StressRepository(url);
}

}  // namespace
}  // namespace dr
