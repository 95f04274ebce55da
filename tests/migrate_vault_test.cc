// dragent migrate through a real vault, as separate processes: the source
// host's agent (backup right) captures, the cloud host's agent (restore
// right) applies and cuts over; the quiesce hook has the source take the
// final capture. Another agent's snapshots are never applied, whatever their
// tags say.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/test_util.h"
#include "tests/vault_harness.h"

namespace dr {
namespace {

using test::AgentKey;
using test::VaultSite;

std::string ShellJoin(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) out += (out.empty() ? "" : " ") + ("'" + a + "'");
  return out;
}

class MigrateVaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_ / "vault");
    std::filesystem::create_directories(src_);
    vault_ = std::make_unique<VaultSite>(dir_ / "vault", test::TestPort(0),
                                         VaultSite::Options{"dir://" + dir_ / "repo", 32, "", ""});
    source_ = test::MakeAgentKey(dir_.path(), "src-host");
    cloud_ = test::MakeAgentKey(dir_.path(), "cloud-host");
    intruder_ = test::MakeAgentKey(dir_.path(), "intruder");
    vault_->Enrol("src-host", source_.pub_file, "permits", "backup");
    vault_->Enrol("cloud-host", cloud_.pub_file, "permits", "restore");
    vault_->Enrol("intruder", intruder_.pub_file, "permits", "backup");
    vault_->Start();
  }

  // One system `app`: src_ (and `image`, when given) from agent src-host
  // into target_ (and image_target_) at the cloud host.
  void WritePlan(const std::string& hooks, const std::string& image = "") {
    std::ofstream(plan_) << "migration: test-move\nstate: " << state_
                         << "\nsystems:\n  - name: app\n    department: permits\n"
                         << "    cloud: administrative\n    source-agent: src-host\n"
                         << "    sources:\n      paths: [" << src_ << "]\n"
                         << (image.empty() ? "" : "      images: [" + image + "]\n")
                         << "    target:\n      directory: " << target_ << "\n"
                         << (image.empty() ? "" : "      image: " + image_target_ + "\n")
                         << (hooks.empty() ? "" : "    hooks:\n" + hooks);
  }
  std::vector<std::string> Args(std::vector<std::string> args) {
    args.insert(args.begin(), {"migrate", "--plan", plan_});
    return args;
  }
  test::CommandResult AtSource(const std::vector<std::string>& args) {
    return vault_->Agent(source_, "permits", Args(args));
  }
  test::CommandResult AtCloud(const std::vector<std::string>& args) {
    return vault_->Agent(cloud_, "permits", Args(args));
  }
  // The row of `status --json` for `role`, or null. (Both agents keep
  // their state in one directory here, so both show both rows.)
  static nlohmann::json Row(const nlohmann::json& status, const std::string& role) {
    for (const auto& row : status)
      if (row["role"] == role) return row;
    return nullptr;
  }
  nlohmann::json Json(const test::CommandResult& r) {
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return nlohmann::json::parse(r.out, nullptr, false);
  }
  // The source agent's final capture, as a quiesce hook runs it.
  std::string FinalCaptureCommand() {
    std::string cmd = ShellJoin(
        vault_->AgentArgv(source_, "permits", Args({"-q", "capture", "--final", "TOKEN", "app"})));
    return cmd.replace(cmd.find("'TOKEN'"), 7, "\"$DR_CUTOVER_TOKEN\"");
  }
  std::vector<std::string> TargetDiffers() { return test::CompareTrees(src_, target_ + src_); }

  test::TempDir dir_{"migrate-vault"};
  const std::string state_ = dir_ / "state", plan_ = dir_ / "plan.yaml";
  const std::string src_ = dir_ / "src", target_ = dir_ / "cloud";
  const std::string image_target_ = dir_ / "cloud.img";
  std::unique_ptr<VaultSite> vault_;
  AgentKey source_, cloud_, intruder_;
};

TEST_F(MigrateVaultTest, TheSourceAgentCapturesTheCloudAgentAppliesAndCutsOver) {
  for (int i = 0; i < 20; ++i)
    test::WriteFile(src_ + "/f" + std::to_string(i), test::RandomBytes(40000 + i * 997, i));
  test::MakeTortureTree(src_ + "/torture");
  const std::string image = dir_ / "disk.img";
  std::string disk = test::RandomBytes(8 << 20, 3);
  test::WriteFile(image, disk);
  // The application: a writer changing files until the quiesce stops it.
  const std::string pid_file = dir_ / "writer.pid";
  const std::string writer =
      "i=0; while :; do i=$((i+1)); head -c $((i * 131 % 70000)) "
      "/dev/urandom > " +
      src_ + "/f$((i % 20)); echo $i >> " + src_ + "/log; sleep 0.01; done";
  test::Process app({"/bin/sh", "-c", writer}, dir_ / "writer.log");
  std::ofstream(pid_file) << app.pid();
  WritePlan("      quiesce: kill $(cat " + pid_file + ") && " + FinalCaptureCommand() + "\n",
            image);

  // Neither side can do the other's half: the vault refuses.
  auto wrong = vault_->Agent(cloud_, "permits", Args({"capture", "app"}));
  EXPECT_EQ(wrong.exit_code, 1) << wrong.err;
  wrong = AtCloud({"apply", "app"});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("no capture of system app"), std::string::npos) << wrong.err;
  EXPECT_NE(wrong.err.find("by agent src-host"), std::string::npos) << wrong.err;

  for (int round = 0; round < 2; ++round) {
    auto captured = Json(AtSource({"--json", "capture", "app"}));
    ASSERT_TRUE(captured.is_array()) << captured;
    auto applied = Json(AtCloud({"--json", "apply", "app"}));
    ASSERT_TRUE(applied.is_array() && applied.size() == 1) << applied;
    if (round == 0) {
      EXPECT_EQ(applied[0]["blocks_written"].get<int>(), 8) << applied;
    }
  }
  EXPECT_EQ(test::ReadFile(image_target_), disk);
  auto wrong_side = vault_->Agent(source_, "permits", Args({"apply", "app"}));
  EXPECT_EQ(wrong_side.exit_code, 1) << wrong_side.err;

  // Applied already: nothing to do. An intruder's snapshot tagged as the
  // system's capture changes nothing either.
  auto again = Json(AtCloud({"--json", "apply", "app"}));
  EXPECT_EQ(again, nlohmann::json::array()) << again;
  const std::string fake = dir_ / "fake";
  std::filesystem::create_directories(fake);
  test::WriteFile(fake + "/evil", "not the application's data");
  auto forged = vault_->Agent(intruder_, "permits",
                              {"-q", "backup", fake, "--host", "elsewhere", "--tag",
                               "migrate:test-move", "--tag", "system:app"});
  ASSERT_EQ(forged.exit_code, 0) << forged.err;
  again = Json(AtCloud({"--json", "apply", "app"}));
  EXPECT_EQ(again, nlohmann::json::array()) << again;
  EXPECT_FALSE(std::filesystem::exists(target_ + fake));

  // Two blocks of the image change: the next apply writes those two.
  disk[1 << 20] ^= 1;
  disk[(5 << 20) + 7] ^= 1;
  test::WriteFile(image, disk);
  ASSERT_EQ(AtSource({"-q", "capture", "app"}).exit_code, 0);
  auto status = Row(Json(AtCloud({"--json", "status", "app"})), "target");
  ASSERT_TRUE(status.is_object()) << status;
  EXPECT_FALSE(status["newest_capture"]["applied"].get<bool>()) << status;
  EXPECT_TRUE(status.contains("estimated_downtime")) << status;
  auto applied = Json(AtCloud({"--json", "apply", "app"}));
  ASSERT_EQ(applied.size(), 1u) << applied;
  EXPECT_EQ(applied[0]["blocks_written"].get<int>(), 2) << applied;
  // The source agent sees its captures' delta; it reads no repository, so
  // its target row is an error.
  auto at_source = AtSource({"--json", "status", "app"});
  EXPECT_EQ(at_source.exit_code, 1);
  auto source_status = Row(nlohmann::json::parse(at_source.out, nullptr, false), "source");
  ASSERT_TRUE(source_status.is_object()) << at_source.out << at_source.err;
  EXPECT_TRUE(source_status.contains("delta")) << source_status;

  auto cut = AtCloud({"--json", "cutover", "app", "--ignore-window"});
  ASSERT_EQ(cut.exit_code, 0) << cut.out << cut.err;
  EXPECT_EQ(app.Wait(), 128 + SIGTERM);
  // The target equals the source as the quiesce left it.
  EXPECT_EQ(TargetDiffers(), std::vector<std::string>{});
  EXPECT_EQ(test::ReadFile(image_target_), test::ReadFile(image));
  auto report = Json(AtCloud({"report"}));
  const auto& c = report["systems"][0]["cutover"];
  EXPECT_TRUE(c["verified"].get<bool>()) << report;
  EXPECT_EQ(report["systems"][0]["phase"], "cut over");
  // Two rounds, the two-block apply and the final one; applies with
  // nothing new are not syncs.
  EXPECT_EQ(report["systems"][0]["syncs"].get<int>(), 4) << report;
}

TEST_F(MigrateVaultTest, ACutoverWithoutItsFinalCaptureRollsBackAndKilledStepsComplete) {
  for (int i = 0; i < 8; ++i)
    test::WriteFile(src_ + "/f" + std::to_string(i), test::RandomBytes(200000, i));
  const std::string rolled = dir_ / "rolled-back";
  // A quiesce hook that forgets the final capture: an earlier capture must
  // not stand in for it.
  WritePlan("      quiesce: \"true\"\n      rollback: touch " + rolled + "\n");
  ASSERT_EQ(AtSource({"-q", "capture", "app"}).exit_code, 0);
  ASSERT_EQ(AtCloud({"-q", "apply", "app"}).exit_code, 0);
  auto cut = AtCloud({"cutover", "app", "--ignore-window"});
  EXPECT_EQ(cut.exit_code, 1) << cut.out << cut.err;
  EXPECT_NE(cut.out.find("FAILED at sync"), std::string::npos) << cut.out;
  EXPECT_NE(cut.out.find("capture --final"), std::string::npos) << cut.out;
  EXPECT_TRUE(std::filesystem::exists(rolled));
  auto status = Row(Json(AtCloud({"--json", "status", "app"})), "target");
  EXPECT_EQ(status["phase"], "rolled back") << status;

  // A final capture needs the cutover's token.
  auto bad = AtSource({"capture", "--final", "not-a-token", "app"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("32 hex digits"), std::string::npos) << bad.err;

  // An apply killed after writing the target, before recording it: the next
  // one takes nothing for granted and converges.
  for (int i = 0; i < 4; ++i)
    test::WriteFile(src_ + "/f" + std::to_string(i), test::RandomBytes(150000, 40 + i));
  ASSERT_EQ(AtSource({"-q", "capture", "app"}).exit_code, 0);
  auto argv = vault_->AgentArgv(cloud_, "permits", Args({"-q", "apply", "app"}));
  auto killed = test::RunShell("DR_CRASH_AT=migrate-applied:1 " + ShellJoin(argv));
  ASSERT_EQ(killed.exit_code, 128 + SIGKILL) << killed.err;
  ASSERT_EQ(AtCloud({"-q", "apply", "app"}).exit_code, 0);
  EXPECT_EQ(TargetDiffers(), std::vector<std::string>{});

  // A cutover killed after its quiesce resumes with the same token: the
  // quiesce hook runs again and its final capture is the one applied.
  WritePlan("      quiesce: echo q >> " + (dir_ / "quiesces") + " && " + FinalCaptureCommand() +
            "\n");
  test::WriteFile(src_ + "/late", "written just before the cutover");
  argv = vault_->AgentArgv(cloud_, "permits", Args({"-q", "cutover", "app", "--ignore-window"}));
  killed = test::RunShell("DR_CRASH_AT=migrate-quiesced:1 " + ShellJoin(argv));
  ASSERT_EQ(killed.exit_code, 128 + SIGKILL) << killed.err;
  auto done = AtCloud({"cutover", "app", "--ignore-window"});
  ASSERT_EQ(done.exit_code, 0) << done.out << done.err;
  EXPECT_EQ(test::ReadFile(dir_ / "quiesces"), "q\nq\n");
  EXPECT_EQ(TargetDiffers(), std::vector<std::string>{});
}

TEST_F(MigrateVaultTest, AFinalCaptureWaitsForACaptureRoundAnOrdinaryOneDoesNot) {
  test::WriteFile(src_ + "/data", test::RandomBytes(10000, 1));
  WritePlan("");
  ASSERT_EQ(AtSource({"-q", "capture", "app"}).exit_code, 0);
  // A round of `capture --continuous` holds the system's capture lock.
  const std::string lock = state_ + "/app@source.lock";
  int fd = ::open(lock.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  auto busy = AtSource({"capture", "app"});
  EXPECT_EQ(busy.exit_code, 1);
  EXPECT_NE(busy.err.find("is busy"), std::string::npos) << busy.err;
  std::thread round_ends([fd] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    ::close(fd);
  });
  const auto start = std::chrono::steady_clock::now();
  auto final_capture = AtSource({"-q", "capture", "--final", std::string(32, 'a'), "app"});
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  round_ends.join();
  EXPECT_EQ(final_capture.exit_code, 0) << final_capture.err;
  EXPECT_GE(waited, 1.0);
}

}  // namespace
}  // namespace dr
