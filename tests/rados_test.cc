// The repository on a real Ceph cluster: backup, restore and check through
// drctl with a rados:// repository, and the failures an operator meets
// (wrong keyring, missing pool, unreachable monitor, an OSD that dies).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/test_util.h"

namespace dr {
namespace {

using test::RunDrctl;

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

TEST(Rados, BackupRestoreCheckRoundTrip) {
  std::string url = test::RadosTestUrl("roundtrip");
  DR_REQUIRE_RADOS(url);
  test::TempDir dir("rados");
  const std::string src = dir / "src";
  test::MakeTortureTree(src);
  ASSERT_EQ(RunDrctl({"-r", url, "init", "--pack-size", "4"}).exit_code, 0);
  auto b1 = RunDrctl({"-r", url, "--json", "backup", src});
  ASSERT_EQ(b1.exit_code, 0) << b1.err;
  ::usleep(1100000);
  test::WriteFile(src + "/added-later", test::RandomBytes(3 << 20, 77));
  auto b2 = RunDrctl({"-r", url, "--json", "backup", src});
  ASSERT_EQ(b2.exit_code, 0) << b2.err;
  EXPECT_LT(nlohmann::json::parse(b2.out)["bytes_read"].get<uint64_t>(), 4u << 20);

  auto r = RunDrctl({"-r", url, "restore", "latest", "-t", dir / "out"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto diffs = test::CompareTrees(src, dir / "out" + src);
  EXPECT_TRUE(diffs.empty()) << diffs[0];
  auto first = nlohmann::json::parse(b1.out)["snapshot"].get<std::string>();
  auto old = RunDrctl({"-r", url, "restore", first.substr(0, 8), "-t", dir / "old"});
  ASSERT_EQ(old.exit_code, 0) << old.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "old" + src + "/added-later"));
  auto check = RunDrctl({"-r", url, "check", "--read-data"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_NE(check.out.find("no errors found"), std::string::npos);
}

// An encrypted repository in a RADOS namespace: slots and keyrings are
// RADOS objects too (a slot removed is a RADOS delete), and one
// department's key opens nothing of another's even with its objects at hand.
TEST(Rados, EncryptedRepositoryRoundTripAndSlotsAndForeignKeys) {
  std::string url = test::RadosTestUrl("encrypted"), other = test::RadosTestUrl("encrypted-b");
  DR_REQUIRE_RADOS(url);
  test::TempDir dir("rados-enc");
  const std::string src = dir / "src";
  test::MakeTortureTree(src);
  ASSERT_EQ(RunDrctl({"-q", "-r", url, "--key-file", dir / "a.key", "init", "--encrypt"}).exit_code,
            0);
  ASSERT_EQ(
      RunDrctl({"-q", "-r", other, "--key-file", dir / "b.key", "init", "--encrypt"}).exit_code, 0);
  auto b = RunDrctl({"-q", "-r", url, "--key-file", dir / "a.key", "backup", src});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  auto r = RunDrctl(
      {"-q", "-r", url, "--key-file", dir / "a.key", "restore", "latest", "-t", dir / "out"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto diffs = test::CompareTrees(src, dir / "out" + src);
  EXPECT_TRUE(diffs.empty()) << diffs[0];
  auto check = RunDrctl({"-r", url, "--key-file", dir / "a.key", "check", "--read-data"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  auto foreign = RunDrctl({"-r", url, "--key-file", dir / "b.key", "snapshots"});
  EXPECT_EQ(foreign.exit_code, 1);
  EXPECT_NE(foreign.err.find("is for repository"), std::string::npos) << foreign.err;
  ASSERT_EQ(RunDrctl({"-q", "-r", url, "--key-file", dir / "a.key", "key", "add", "--new-key-file",
                      dir / "a2.key"})
                .exit_code,
            0);
  auto list = RunDrctl({"--json", "-r", url, "--key-file", dir / "a2.key", "key", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  const auto slots = nlohmann::json::parse(list.out)["slots"];
  ASSERT_EQ(slots.size(), 2u);
  const std::string first = slots[0]["slot"];
  ASSERT_EQ(
      RunDrctl({"-q", "-r", url, "--key-file", dir / "a2.key", "key", "remove", first}).exit_code,
      0);
  auto removed = RunDrctl({"-r", url, "--key-file", dir / "a.key", "snapshots"});
  EXPECT_EQ(removed.exit_code, 1);
  EXPECT_NE(removed.err.find("no longer holds (removed)"), std::string::npos) << removed.err;
}

TEST(Rados, RepositoriesInNamespacesAreSeparate) {
  std::string a = test::RadosTestUrl("ns-a"), b = test::RadosTestUrl("ns-b");
  DR_REQUIRE_RADOS(a);
  test::TempDir dir("radosns");
  test::WriteFile(dir / "f", "x");
  ASSERT_EQ(RunDrctl({"-r", a, "init"}).exit_code, 0);
  ASSERT_EQ(RunDrctl({"-r", a, "backup", dir.path()}).exit_code, 0);
  auto other = RunDrctl({"-r", b, "snapshots"});
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_NE(other.err.find("not a repository"), std::string::npos) << other.err;
}

TEST(Rados, MissingPoolWrongKeyringAndUnreachableMonitorFailClearlyAndQuickly) {
  std::string url = test::RadosTestUrl("errors");
  DR_REQUIRE_RADOS(url);
  const std::string conf = std::getenv("CEPH_CONF"), id = std::getenv("DR_TEST_RADOS_ID");
  test::TempDir dir("radoserr");

  auto t0 = std::chrono::steady_clock::now();
  auto pool = RunDrctl({"-r", "rados://no-such-pool/x?conf=" + conf + "&id=" + id, "snapshots"});
  EXPECT_EQ(pool.exit_code, 1);
  EXPECT_NE(pool.err.find("pool 'no-such-pool' does not exist"), std::string::npos) << pool.err;

  test::WriteFile(dir / "bad.keyring",
                  "[client." + id + "]\n\tkey = AQBxmTZmAAAAABAAcmC0Dcbq7B0Bd1Q5yhGvkQ==\n");
  auto key = RunDrctl({"-r",
                       "rados://drtest/x?conf=" + conf + "&id=" + id +
                           "&keyring=" + (dir / "bad.keyring") + "&timeout=10",
                       "snapshots"});
  EXPECT_EQ(key.exit_code, 1);
  EXPECT_NE(key.err.find("drctl: rados://drtest/x: "), std::string::npos) << key.err;
  EXPECT_LT(SecondsSince(t0), 40);

  // A monitor address where nothing listens.
  test::WriteFile(dir / "nomon.conf",
                  "[global]\nmon host = v1:127.0.0.1:9\nms bind msgr2 = false\n"
                  "auth cluster required = cephx\nauth client required = cephx\n");
  auto t1 = std::chrono::steady_clock::now();
  auto mon =
      RunDrctl({"-r", "rados://drtest/x?conf=" + (dir / "nomon.conf") + "&id=" + id + "&timeout=5",
                "snapshots"});
  EXPECT_EQ(mon.exit_code, 1);
  EXPECT_NE(mon.err.find("rados://drtest/x"), std::string::npos) << mon.err;
  EXPECT_LT(SecondsSince(t1), 30) << "must not hang";
  auto badurl = RunDrctl({"-r", "rados://drtest/x?color=blue", "snapshots"});
  EXPECT_EQ(badurl.exit_code, 1);
  EXPECT_NE(badurl.err.find("unknown parameter 'color'"), std::string::npos) << badurl.err;
}

// A cluster of its own (BlueStore, so data survives the OSD's restart): the
// OSD is killed in the middle of a backup and started again.
TEST(Rados, OsdKilledDuringBackupAndRestarted) {
  if (test::RadosTestUrl("probe").empty()) {
    DR_REQUIRE_RADOS(std::string());
  }
  test::TempDir dir("radososd");
  const std::string script = std::string(DR_SOURCE_DIR) + "/tools/ceph-dev-cluster";
  const std::string cdir = dir / "ceph";
  auto start = test::RunShell(script + " start --dir " + cdir + " --store bluestore --port 40889");
  ASSERT_EQ(start.exit_code, 0) << start.out << start.err;
  const std::string url = "rados://drtest/osdkill?conf=" + cdir + "/ceph.conf&id=drtest&timeout=60";
  const std::string src = dir / "src";
  std::filesystem::create_directories(src);
  for (int i = 0; i < 16; ++i) {
    test::WriteFile(src + "/f" + std::to_string(i), test::RandomBytes(6 << 20, 900 + i));
  }
  ASSERT_EQ(RunDrctl({"-r", url, "init", "--pack-size", "4"}).exit_code, 0);
  pid_t pid = fork();
  if (pid == 0) {
    execl(DRCTL_PATH, DRCTL_PATH, "-r", url.c_str(), "--json", "backup", "--threads", "1",
          src.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  ::usleep(700000);
  auto kill = test::RunShell("kill -9 $(cat " + cdir + "/run/osd.0.pid)");
  EXPECT_EQ(kill.exit_code, 0) << kill.err;
  ::sleep(3);
  auto restart =
      test::RunShell(script + " start --dir " + cdir + " --store bluestore --port 40889");
  EXPECT_EQ(restart.exit_code, 0) << restart.out << restart.err;
  int status = 0;
  waitpid(pid, &status, 0);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  // Completed after the OSD returned, or failed with an error: either way the
  // repository checks clean and no snapshot points at a missing object.
  EXPECT_TRUE(code == 0 || code == 1) << code;
  auto check = RunDrctl({"-r", url, "check", "--read-data"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  auto again = RunDrctl({"-r", url, "backup", src});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  auto r = RunDrctl({"-r", url, "restore", "latest", "-t", dir / "out"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(test::CompareTrees(src, dir / "out" + src).empty());
  test::RunShell(script + " stop --dir " + cdir + " --purge");
}

}  // namespace
}  // namespace dr
