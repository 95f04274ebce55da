// drctl migrate end to end, as separate processes: converging syncs of a
// tree a writer keeps changing, a verified cutover, rollback after a failed
// health check, kill -9 at every step, and incremental applies that write
// only what changed.
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/test_util.h"
#include "tests/vault_harness.h"

namespace dr {
namespace {

using test::RunDrctl;

// Alive and not a zombie waiting for a parent (the test may have inherited it).
bool Running(pid_t pid) {
  if (::kill(pid, 0) != 0) return false;
  const std::string stat = test::ReadFile("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

class MigrateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(RunDrctl({"-q", "-r", repo_, "init"}).exit_code, 0);
    std::filesystem::create_directories(src_);
  }

  // A plan with one system `app` migrating src_ (and `image`, when given)
  // into target_, with the given hooks.
  void WritePlan(const std::string& hooks, const std::string& image = "") {
    std::ofstream(plan_) << "migration: test-move\nrepository: " << repo_ << "\nstate: " << state_
                         << "\nsystems:\n  - name: app\n    department: permits\n    kind: web\n"
                         << "    cloud: administrative\n    wave: 1\n    sources:\n      paths: ["
                         << src_ << "]\n"
                         << (image.empty() ? "" : "      images: [" + image + "]\n")
                         << "    target:\n      directory: " << target_ << "\n"
                         << (image.empty() ? "" : "      image: " + image_target_ + "\n")
                         << (hooks.empty() ? "" : "    hooks:\n" + hooks);
  }

  test::CommandResult Migrate(std::vector<std::string> args) {
    args.insert(args.begin(), {"migrate", "--plan", plan_});
    return RunDrctl(args);
  }
  nlohmann::json MigrateJson(std::vector<std::string> args) {
    args.insert(args.begin(), {"--json", "migrate", "--plan", plan_});
    auto r = RunDrctl(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out, nullptr, false);
  }
  // Runs drctl migrate with DR_CRASH_AT set; true when it was killed there.
  bool MigrateKilledAt(const std::string& point, const std::string& args) {
    auto r = test::RunShell("DR_CRASH_AT=" + point + ":1 " DRCTL_PATH " -q migrate --plan " +
                            plan_ + " " + args);
    return r.exit_code == 128 + SIGKILL;
  }
  std::vector<std::string> TargetDiffers() { return test::CompareTrees(src_, target_ + src_); }

  test::TempDir dir_{"migrate"};
  const std::string repo_ = dir_ / "repo", state_ = dir_ / "state", plan_ = dir_ / "plan.yaml";
  const std::string src_ = dir_ / "src", target_ = dir_ / "cloud";
  const std::string image_target_ = dir_ / "cloud.img";
};

TEST_F(MigrateTest, ATreeChangingDuringSyncsIsIdenticalAtCutover) {
  for (int i = 0; i < 40; ++i)
    test::WriteFile(src_ + "/f" + std::to_string(i), test::RandomBytes(50000 + i * 997, i));
  test::MakeTortureTree(src_ + "/torture");
  // The application: a writer changing, adding and deleting files until the
  // quiesce hook stops it (its pid in a file).
  const std::string pid_file = dir_ / "writer.pid";
  const std::string writer =
      "i=0; while :; do i=$((i+1)); head -c $((i * 131 % 70000)) /dev/urandom > " + src_ +
      "/f$((i % 40)); echo $i >> " + src_ + "/log; rm -f " + src_ + "/tmp$(( (i-1) % 7 )); : > " +
      src_ + "/tmp$((i % 7)); sleep 0.01; done";
  test::Process app({"/bin/sh", "-c", writer}, dir_ / "writer.log");
  std::ofstream(pid_file) << app.pid();
  WritePlan("      quiesce: echo stopping the writer; kill $(cat " + pid_file + ")\n");

  for (int round = 0; round < 3; ++round) {
    auto sync = MigrateJson({"sync", "app"});
    ASSERT_TRUE(sync.is_array()) << sync;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  auto status = MigrateJson({"status"});
  ASSERT_TRUE(status.is_array());
  EXPECT_EQ(status[0]["phase"], "in sync");
  EXPECT_GT(status[0]["delta"]["files_changed"].get<int>(), 0) << status;
  EXPECT_TRUE(status[0].contains("estimated_downtime")) << status;

  auto cut = Migrate({"--json", "cutover", "app", "--ignore-window"});
  ASSERT_EQ(cut.exit_code, 0) << cut.out << cut.err;
  // What hooks print goes to stderr, so --json output stays JSON.
  EXPECT_TRUE(nlohmann::json::parse(cut.out, nullptr, false).is_object()) << cut.out;
  EXPECT_EQ(app.Wait(), 128 + SIGTERM);
  // The target equals the source as the quiesce left it, bit for bit and in
  // every piece of metadata.
  EXPECT_EQ(TargetDiffers(), std::vector<std::string>{});
  auto report = MigrateJson({"report"});
  const auto& c = report["systems"][0]["cutover"];
  EXPECT_TRUE(c["verified"].get<bool>()) << report;
  EXPECT_GT(c["downtime_s"].get<double>(), 0) << report;
  EXPECT_EQ(report["systems"][0]["phase"], "cut over");

  // Done is done: a second cutover changes nothing, a sync is refused.
  auto again = Migrate({"cutover", "app", "--ignore-window"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  auto sync = Migrate({"sync", "app"});
  EXPECT_EQ(sync.exit_code, 1);
  EXPECT_NE(sync.err.find("was cut over"), std::string::npos) << sync.err;
}

TEST_F(MigrateTest, AFailedHealthCheckRollsBackAndTheApplicationRunsAgain) {
  test::WriteFile(src_ + "/data", test::RandomBytes(100000, 1));
  const std::string pid_file = dir_ / "app.pid";
  auto start_app = "sh -c 'echo $$ > " + pid_file + "; exec sleep 600' >/dev/null 2>&1 &";
  ASSERT_EQ(test::RunShell(start_app).exit_code, 0);
  WritePlan("      quiesce: kill $(cat " + pid_file + ")\n      start: touch " +
            (dir_ / "started") + "\n      health-check: test -f " + (dir_ / "never") +
            "\n      rollback: " + start_app + "\n");
  ASSERT_EQ(Migrate({"sync", "app"}).exit_code, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const std::string first_pid = test::ReadFile(pid_file);

  auto cut = Migrate({"cutover", "app", "--ignore-window"});
  EXPECT_EQ(cut.exit_code, 1);
  EXPECT_NE(cut.out.find("FAILED at health-check"), std::string::npos) << cut.out << cut.err;
  EXPECT_NE(cut.out.find("rolled back"), std::string::npos) << cut.out;
  // The application was stopped and is running again under a new pid.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const std::string pid = test::ReadFile(pid_file);
  EXPECT_NE(pid, first_pid);
  EXPECT_TRUE(Running(std::stoi(pid))) << "the rolled-back application is not running";
  EXPECT_FALSE(Running(std::stoi(first_pid)));
  auto status = MigrateJson({"status", "app"});
  EXPECT_EQ(status[0]["phase"], "rolled back") << status;
  EXPECT_NE(status[0]["error"].get<std::string>().find("health-check"), std::string::npos);
  auto report = MigrateJson({"report"});
  EXPECT_EQ(report["systems"][0]["cutover"]["failed_step"], "health-check");
  EXPECT_TRUE(report["systems"][0]["cutover"]["rolled_back"].get<bool>());
  // Rolled back, the system can be synced and cut over later.
  EXPECT_EQ(Migrate({"sync", "app"}).exit_code, 0);
  ::kill(std::stoi(pid), SIGKILL);
}

TEST_F(MigrateTest, ASyncWritesOnlyTheChangedChunksAndLeavesTheRestAlone) {
  // 24 MiB of random data: many content-defined chunks.
  const std::string big = test::RandomBytes(24 << 20, 7);
  test::WriteFile(src_ + "/big", big);
  for (int i = 0; i < 20; ++i)
    test::WriteFile(src_ + "/small" + std::to_string(i), test::RandomBytes(1000, 100 + i));
  WritePlan("");
  ASSERT_EQ(Migrate({"sync", "app"}).exit_code, 0);
  struct stat before;
  ASSERT_EQ(::stat((target_ + src_ + "/small3").c_str(), &before), 0);

  // One byte in the middle of the big file; one small file gone, one new.
  std::string changed = big;
  changed[12 << 20] ^= 1;
  test::WriteFile(src_ + "/big", changed);
  std::filesystem::remove(src_ + "/small5");
  test::WriteFile(src_ + "/new", "new");
  auto sync = MigrateJson({"sync", "app"});
  ASSERT_TRUE(sync.is_array()) << sync;
  const uint64_t written = sync[0]["bytes_written"].get<uint64_t>();
  EXPECT_GT(written, 0u);
  // At most the two chunks around the change (4 MiB at most each) and the
  // new file: not the 24 MiB file again.
  EXPECT_LE(written, uint64_t{8} << 20) << sync;
  EXPECT_EQ(sync[0]["entries_removed"].get<int>(), 1) << sync;
  EXPECT_EQ(TargetDiffers(), std::vector<std::string>{});
  // An unchanged file was not touched at all: same inode, same ctime.
  struct stat after;
  ASSERT_EQ(::stat((target_ + src_ + "/small3").c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_EQ(after.st_ctim.tv_nsec, before.st_ctim.tv_nsec);

  // A file changed at the target behind the syncs' back: the cutover's
  // verification finds it, applies again in full, and succeeds.
  test::WriteFile(target_ + src_ + "/small3", "tampered");
  test::WriteFile(target_ + src_ + "/planted", "x");
  auto cut = Migrate({"cutover", "app", "--ignore-window"});
  EXPECT_EQ(cut.exit_code, 0) << cut.out << cut.err;
  EXPECT_EQ(TargetDiffers(), std::vector<std::string>{});
}

TEST_F(MigrateTest, KilledSyncsAndCutoversCompleteWhenRunAgain) {
  for (int i = 0; i < 10; ++i)
    test::WriteFile(src_ + "/f" + std::to_string(i), test::RandomBytes(300000, i));
  const std::string quiesces = dir_ / "quiesces";
  WritePlan("      quiesce: echo q >> " + quiesces + "\n");
  ASSERT_TRUE(MigrateKilledAt("migrate-captured", "sync app"));
  ASSERT_EQ(Migrate({"sync", "app"}).exit_code, 0);
  EXPECT_EQ(TargetDiffers(), std::vector<std::string>{});

  // Killed after applying, before recording it: the target holds the new
  // snapshot while the state names the old one. The next sync takes
  // nothing for granted and still converges.
  for (int i = 0; i < 5; ++i)
    test::WriteFile(src_ + "/f" + std::to_string(i), test::RandomBytes(200000, 50 + i));
  ASSERT_TRUE(MigrateKilledAt("migrate-applied", "sync app"));
  for (int i = 0; i < 5; ++i)
    test::WriteFile(src_ + "/f" + std::to_string(i), test::RandomBytes(300000, i));
  auto status = MigrateJson({"status", "app"});
  EXPECT_EQ(status[0]["phase"], "syncing") << status;
  ASSERT_EQ(Migrate({"sync", "app"}).exit_code, 0);
  EXPECT_EQ(TargetDiffers(), std::vector<std::string>{});

  // A cutover killed after the quiesce, and again after verifying: a sync
  // is refused meanwhile, and the same command completes.
  test::WriteFile(src_ + "/late", "written just before the cutover");
  ASSERT_TRUE(MigrateKilledAt("migrate-quiesced", "cutover app --ignore-window"));
  auto sync = Migrate({"sync", "app"});
  EXPECT_EQ(sync.exit_code, 1);
  EXPECT_NE(sync.err.find("did not finish"), std::string::npos) << sync.err;
  ASSERT_TRUE(MigrateKilledAt("migrate-verified", "cutover app --ignore-window"));
  EXPECT_EQ(TargetDiffers(), std::vector<std::string>{});
  // Once verified, the target is never synced over again (the system may be
  // starting there): the resumed cutover goes on with the start hook.
  test::WriteFile(src_ + "/after-verify", "not for the target");
  auto cut = Migrate({"cutover", "app", "--ignore-window"});
  ASSERT_EQ(cut.exit_code, 0) << cut.out << cut.err;
  EXPECT_FALSE(std::filesystem::exists(target_ + src_ + "/after-verify"));
  EXPECT_TRUE(std::filesystem::exists(target_ + src_ + "/late"));
  EXPECT_EQ(test::ReadFile(quiesces), "q\nq\n");
  auto report = MigrateJson({"report"});
  EXPECT_TRUE(report["systems"][0]["cutover"]["verified"].get<bool>()) << report;
}

TEST_F(MigrateTest, AnImageSyncWritesOnlyTheChangedBlocks) {
  const std::string image = dir_ / "disk.img";
  std::string disk = test::RandomBytes(16 << 20, 3);
  std::fill(disk.begin() + (4 << 20), disk.begin() + (8 << 20), '\0');  // free space
  test::WriteFile(image, disk);
  WritePlan("", image);
  auto first = MigrateJson({"sync", "app"});
  ASSERT_TRUE(first.is_array()) << first;
  EXPECT_EQ(first[0]["blocks_written"].get<int>(), 12) << first;  // 1 MiB blocks, 4 zero
  EXPECT_EQ(test::ReadFile(image_target_), disk);

  // Two blocks change, one becomes zero.
  disk[1 << 20] ^= 1;
  disk[(10 << 20) + 5] ^= 1;
  std::fill(disk.begin() + (14 << 20), disk.begin() + (15 << 20), '\0');
  test::WriteFile(image, disk);
  auto second = MigrateJson({"sync", "app"});
  ASSERT_TRUE(second.is_array()) << second;
  EXPECT_EQ(second[0]["blocks_written"].get<int>(), 2) << second;
  EXPECT_EQ(test::ReadFile(image_target_), disk);
  auto cut = Migrate({"cutover", "app", "--ignore-window"});
  ASSERT_EQ(cut.exit_code, 0) << cut.out << cut.err;
  EXPECT_EQ(test::ReadFile(image_target_), disk);
}

TEST_F(MigrateTest, AnImageTargetIsWrittenOnlyWhenItIsOurOwn) {
  const std::string image = dir_ / "disk.img";
  const std::string disk = test::RandomBytes(4 << 20, 9);
  test::WriteFile(image, disk);
  WritePlan("", image);
  ASSERT_EQ(Migrate({"sync", "app"}).exit_code, 0);
  // Gone since: made again, every block written, not just the changed ones.
  std::filesystem::remove(image_target_);
  auto again = MigrateJson({"sync", "app"});
  EXPECT_EQ(again[0]["blocks_written"].get<int>(), 4) << again;
  EXPECT_EQ(test::ReadFile(image_target_), disk);
  // Opened up to others (or planted by them): refused, not written into.
  ASSERT_EQ(::chmod(image_target_.c_str(), 0644), 0);
  auto open = Migrate({"sync", "app"});
  EXPECT_EQ(open.exit_code, 1);
  EXPECT_NE(open.err.find("refusing to write a disk image into it"), std::string::npos) << open.err;
  // A FIFO in its place is refused at once, never opened.
  std::filesystem::remove(image_target_);
  ASSERT_EQ(::mkfifo(image_target_.c_str(), 0600), 0);
  auto fifo = Migrate({"sync", "app"});
  EXPECT_EQ(fifo.exit_code, 1);
  EXPECT_NE(fifo.err.find("is not a regular file"), std::string::npos) << fifo.err;
}

TEST_F(MigrateTest, HardLinksStayLinkedAndReplacedDirectoriesConverge) {
  for (const char* d : {"/a", "/b", "/gone/deep"}) std::filesystem::create_directories(src_ + d);
  test::WriteFile(src_ + "/a/x", test::RandomBytes(70000, 1));
  test::WriteFile(src_ + "/b/other", "b");
  ASSERT_EQ(::link((src_ + "/a/x").c_str(), (src_ + "/b/y").c_str()), 0);
  test::WriteFile(src_ + "/gone/deep/file", "d");
  WritePlan("");
  ASSERT_EQ(Migrate({"sync", "app"}).exit_code, 0);
  EXPECT_EQ(TargetDiffers(), std::vector<std::string>{});
  // Only b changes: a (holding the group's first member) is skipped, and
  // b/y must still be the same file as a/x.
  test::WriteFile(src_ + "/b/new", "n");
  ASSERT_EQ(Migrate({"sync", "app"}).exit_code, 0);
  EXPECT_EQ(TargetDiffers(), std::vector<std::string>{});
  // A third link, and a directory that became a file.
  std::filesystem::create_directories(src_ + "/c");
  ASSERT_EQ(::link((src_ + "/a/x").c_str(), (src_ + "/c/z").c_str()), 0);
  std::filesystem::remove_all(src_ + "/gone");
  test::WriteFile(src_ + "/gone", "now a file");
  auto sync = Migrate({"sync", "app"});
  ASSERT_EQ(sync.exit_code, 0) << sync.err;
  EXPECT_EQ(TargetDiffers(), std::vector<std::string>{});
  auto cut = Migrate({"cutover", "app", "--ignore-window"});
  EXPECT_EQ(cut.exit_code, 0) << cut.out << cut.err;
}

TEST_F(MigrateTest, ContinuousSyncFollowsTheSourceUntilStopped) {
  test::WriteFile(src_ + "/a", "one");
  WritePlan("");
  test::Process sync({DRCTL_PATH, "-q", "migrate", "--plan", plan_, "sync", "--wave", "1",
                      "--continuous", "--interval", "1s"},
                     dir_ / "sync.log");
  ASSERT_TRUE(test::WaitFor(30, [&] { return TargetDiffers().empty(); }))
      << test::ReadFile(dir_ / "sync.log");
  test::WriteFile(src_ + "/a", "two");
  test::WriteFile(src_ + "/b", "new");
  ASSERT_TRUE(test::WaitFor(30, [&] { return TargetDiffers().empty(); }))
      << test::ReadFile(dir_ / "sync.log");
  sync.Signal(SIGTERM);
  EXPECT_EQ(sync.Wait(), 0) << test::ReadFile(dir_ / "sync.log");
  auto status = MigrateJson({"status"});
  EXPECT_GE(status[0]["syncs"].get<int>(), 2) << status;
}

TEST_F(MigrateTest, BadPlansAndBusySystemsAreRefusedWithOneLine) {
  std::ofstream(plan_) << "migration: x\nrepository: " << repo_
                       << "\nsystems:\n  - name: app\n    department: d\n    cloud: c\n"
                       << "    sources: {paths: [relative]}\n    target: {directory: /t}\n";
  auto r = Migrate({"plan", "validate"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "drctl: " + plan_ +
                       ":7:23: systems[0].sources.paths[0]: \"relative\" is not an absolute path "
                       "(it must start with /)\n");
  WritePlan("      quiesce: sleep 2\n");
  ASSERT_EQ(Migrate({"sync", "app"}).exit_code, 0);
  test::Process cutover(
      {DRCTL_PATH, "-q", "migrate", "--plan", plan_, "cutover", "app", "--ignore-window"},
      dir_ / "cutover.log");
  ASSERT_TRUE(test::WaitFor(10, [&] {
    return std::filesystem::exists(state_ + "/app.lock") &&
           test::ReadFile(state_ + "/app.lock").find("cutover") != std::string::npos;
  }));
  auto busy = Migrate({"sync", "app"});
  EXPECT_EQ(busy.exit_code, 1);
  EXPECT_NE(busy.err.find("system app is busy: drctl migrate cutover"), std::string::npos)
      << busy.err;
  EXPECT_EQ(cutover.Wait(), 0);
  auto unknown = Migrate({"sync", "nosuch"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("has no system nosuch"), std::string::npos) << unknown.err;
}

}  // namespace
}  // namespace dr
