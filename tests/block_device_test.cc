// Block-level backup and restore with real devices: loop devices holding real
// file systems, reflink-capable XFS and btrfs, btrfs snapshots, an RBD image
// on the dev Ceph cluster, and a vault over ZeroMQ. Tests that need loop
// devices and mounts run as root (as CI does) and skip elsewhere, saying why.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "catalog/checker.h"
#include "catalog/repository.h"
#include "replicator/capture/block_backup.h"
#include "restore/block/block_restore.h"
#include "tests/block_test_util.h"
#include "tests/test_util.h"
#include "tests/vault_harness.h"

namespace dr {
namespace {

using test::FillFiles;
using test::Json;
using test::kMiB;
using test::LoopDevice;
using test::Mount;
using test::SameBytes;
using test::WriteAt;
namespace fs = std::filesystem;

TEST(BlockDevices, Ext4OnLoopDeviceBackedUpChangedRestoredBlockForBlockAndFileForFile) {
  REQUIRE_LOOP_DEVICES("ext4");
  test::TempDir dir("blockdev");
  const std::string repo = "dir://" + dir / "repo";
  ASSERT_EQ(test::RunDrctl({"-r", repo, "init"}).exit_code, 0);
  const std::string backing = dir / "ext4.img";
  ASSERT_EQ(::truncate((backing).c_str(), 0), -1);
  WriteAt(backing, 128 * kMiB - 1, std::string(1, '\0'));
  LoopDevice loop(backing);
  ASSERT_FALSE(loop.dev().empty());
  ASSERT_EQ(test::RunShell("mkfs.ext4 -q -E lazy_itable_init=0,lazy_journal_init=0 " + loop.dev())
                .exit_code,
            0);
  const std::string mnt = dir / "mnt";
  {
    Mount m(loop.dev(), mnt, "-t ext4");
    ASSERT_TRUE(m.ok()) << m.error();
    FillFiles(mnt, 1, 40);
    ASSERT_EQ(test::RunShell("cp -a '" + mnt + "' '" + dir / "expected1'").exit_code, 0);
  }
  auto b1 = Json(test::RunDrctl({"-r", repo, "--json", "backup", "--device", loop.dev()}));
  EXPECT_EQ(b1["source_kind"], "device");
  EXPECT_EQ(b1["method"], "read-all");
  ASSERT_EQ(test::RunShell("cp " + loop.dev() + " '" + dir / "v1.raw'").exit_code, 0);
  {
    Mount m(loop.dev(), mnt, "-t ext4");
    ASSERT_TRUE(m.ok()) << m.error();
    FillFiles(mnt, 2, 10);                                                   // new files
    test::WriteFile(mnt + "/dir0/file1-0", test::RandomBytes(300'000, 99));  // rewritten
    fs::remove(mnt + "/dir1/file1-1");
    ASSERT_EQ(test::RunShell("cp -a '" + mnt + "' '" + dir / "expected2'").exit_code, 0);
  }
  auto b2 = Json(test::RunDrctl({"-r", repo, "--json", "backup", "--device", loop.dev()}));
  EXPECT_GT(b2["changed_blocks"].get<uint64_t>(), 0u);
  EXPECT_LT(b2["changed_blocks"].get<uint64_t>(), b2["blocks"].get<uint64_t>() / 4);
  EXPECT_LT(b2["bytes_added"].get<uint64_t>(), b1["bytes_added"].get<uint64_t>());

  const std::string id1 = b1["snapshot"], id2 = b2["snapshot"];
  ASSERT_EQ(test::RunDrctl({"-r", repo, "restore", id1, "-t", dir / "r1.img"}).exit_code, 0);
  ASSERT_EQ(test::RunDrctl({"-r", repo, "restore", id2, "-t", dir / "r2.img"}).exit_code, 0);
  EXPECT_TRUE(SameBytes(dir / "v1.raw", dir / "r1.img"));
  EXPECT_TRUE(SameBytes(loop.dev(), dir / "r2.img"));
  auto v = test::RunDrctl({"-r", repo, "restore", id2, "--verify-only", "-t", loop.dev()});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  v = test::RunDrctl({"-r", repo, "restore", id1, "--verify-only", "-t", loop.dev()});
  EXPECT_EQ(v.exit_code, 1) << "the device changed since snapshot 1: " << v.out;
  for (const auto& [img, expected] : {std::pair{dir / "r1.img", dir / "expected1"},
                                      std::pair{dir / "r2.img", dir / "expected2"}}) {
    Mount m(img, dir / "check", "-o loop,ro,noload -t ext4");
    ASSERT_TRUE(m.ok()) << m.error();
    auto diff = test::RunShell("diff -r '" + expected + "' '" + dir / "check" + "'");
    EXPECT_EQ(diff.exit_code, 0) << diff.out;
  }

  // Restored onto a device: smaller is refused, equal works (zero blocks zeroed).
  const std::string small = dir / "small.img", same = dir / "same.img";
  WriteAt(small, 64 * kMiB - 1, std::string(1, '\0'));
  WriteAt(same, 0, test::RandomBytes(128 * kMiB, 5));  // garbage where zeros belong
  LoopDevice small_loop(small), same_loop(same);
  auto tiny = test::RunDrctl({"-r", repo, "restore", id2, "-t", small_loop.dev()});
  EXPECT_EQ(tiny.exit_code, 1);
  EXPECT_NE(tiny.err.find("too small"), std::string::npos) << tiny.err;
  ASSERT_EQ(test::RunDrctl({"-r", repo, "restore", id2, "-t", same_loop.dev()}).exit_code, 0);
  EXPECT_TRUE(SameBytes(dir / "r2.img", same_loop.dev()));

  // Mounted and in use: hooks freeze the file system while it is read.
  Mount m(loop.dev(), mnt, "-t ext4");
  ASSERT_TRUE(m.ok()) << m.error();
  FillFiles(mnt, 3, 5);
  auto b3 =
      Json(test::RunDrctl({"-r", repo, "--json", "backup", "--device", loop.dev(), "--pre-hook",
                           "fsfreeze -f " + mnt, "--post-hook", "fsfreeze -u " + mnt}));
  EXPECT_EQ(b3["consistency"], "hooks (pre-hook before reading, post-hook after)");
  const std::string id3 = b3["snapshot"];
  ASSERT_EQ(test::RunDrctl({"-r", repo, "restore", id3, "-t", dir / "r3.img"}).exit_code, 0);
  auto fsck = test::RunShell("fsck.ext4 -fn '" + dir / "r3.img" + "' 2>&1");
  EXPECT_EQ(fsck.exit_code, 0) << fsck.out;
  auto check = test::RunDrctl({"-r", repo, "check", "--read-data"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

TEST(BlockDevices, DeviceResizedBetweenBackupsIsRecordedAndEachSnapshotRestoresExactly) {
  REQUIRE_LOOP_DEVICES("ext4");
  test::TempDir dir("blockresize");
  const std::string repo = "dir://" + dir / "repo";
  ASSERT_EQ(test::RunDrctl({"-r", repo, "init"}).exit_code, 0);
  const std::string backing = dir / "disk.raw";
  WriteAt(backing, 0, test::RandomBytes(32 * kMiB, 41));
  LoopDevice loop(backing);
  ASSERT_FALSE(loop.dev().empty());
  auto b1 = Json(test::RunDrctl({"-r", repo, "--json", "backup", "--device", loop.dev()}));
  EXPECT_EQ(b1["length"], 32 * kMiB);
  fs::copy_file(backing, dir / "v1.raw");
  WriteAt(backing, 32 * kMiB, test::RandomBytes(16 * kMiB, 42));
  ASSERT_EQ(test::RunShell("losetup -c " + loop.dev()).exit_code, 0);  // the device grows
  auto b2 = Json(test::RunDrctl({"-r", repo, "--json", "backup", "--device", loop.dev()}));
  EXPECT_EQ(b2["length"], 48 * kMiB);
  EXPECT_EQ(b2["changed_blocks"], 16);
  ASSERT_FALSE(b2["warnings"].empty());
  EXPECT_NE(b2["warnings"][0].get<std::string>().find("size changed"), std::string::npos);
  ASSERT_EQ(test::RunDrctl({"-r", repo, "restore", b1["snapshot"], "-t", dir / "r1.img"}).exit_code,
            0);
  ASSERT_EQ(test::RunDrctl({"-r", repo, "restore", b2["snapshot"], "-t", dir / "r2.img"}).exit_code,
            0);
  EXPECT_TRUE(SameBytes(dir / "v1.raw", dir / "r1.img"));
  EXPECT_TRUE(SameBytes(loop.dev(), dir / "r2.img"));
  // The grown snapshot does not fit the old size.
  const std::string old_size = dir / "old.raw";
  WriteAt(old_size, 32 * kMiB - 1, std::string(1, '\0'));
  LoopDevice small(old_size);
  auto tiny = test::RunDrctl({"-r", repo, "restore", b2["snapshot"], "-t", small.dev()});
  EXPECT_EQ(tiny.exit_code, 1);
  EXPECT_NE(tiny.err.find("too small"), std::string::npos) << tiny.err;
}

// For each copy-on-write file system: the second backup compares extents of
// reflink copies and reads only what changed; removing the kept copy falls
// back to reading everything; every snapshot restores exactly.
// One test of ~80 lines on purpose: each backup depends on the copy the
// previous one kept, so the steps cannot run apart.
class ReflinkFileSystems : public ::testing::TestWithParam<std::string> {};

TEST_P(ReflinkFileSystems, IncrementalReadsOnlyChangedExtents) {
  REQUIRE_LOOP_DEVICES(GetParam());
  const std::string fstype = GetParam();
  test::TempDir dir("reflink-" + fstype);
  const std::string backing = dir / "fs.img";
  WriteAt(backing, 1024 * kMiB - 1, std::string(1, '\0'));
  const std::string mkfs = fstype == "xfs" ? "mkfs.xfs -q -m reflink=1 " : "mkfs.btrfs -q ";
  auto made = test::RunShell(mkfs + "'" + backing + "' 2>&1");
  if (made.exit_code == 127 || made.out.find("not found") != std::string::npos)
    GTEST_SKIP() << "no mkfs for " << fstype;
  ASSERT_EQ(made.exit_code, 0) << made.out;
  const std::string mnt = dir / "mnt";
  Mount m(backing, mnt, "-o loop -t " + fstype);
  ASSERT_TRUE(m.ok()) << m.error();
  const std::string repo = "dir://" + dir / "repo";
  ASSERT_EQ(test::RunDrctl({"-r", repo, "init"}).exit_code, 0);
  const std::string img = mnt + "/vm.img";
  WriteAt(img, 0, test::RandomBytes(96 * kMiB, 11));
  WriteAt(img, 200 * kMiB - 1, std::string(1, '\0'));  // a hole up to 200 MiB

  auto b1 = Json(test::RunDrctl({"-r", repo, "--json", "backup", "--image", img}));
  EXPECT_EQ(b1["consistency"], "reflink-copy (crash-consistent)");
  fs::copy_file(img, dir / "v1.img");
  WriteAt(img, 5 * kMiB + 100, test::RandomBytes(8192, 12));    // block 5
  WriteAt(img, 150 * kMiB, test::RandomBytes(4096, 13));        // a hole filled: block 150
  WriteAt(img, 95 * kMiB + 4096, test::RandomBytes(kMiB, 14));  // blocks 95 and 96
  auto b2 = Json(test::RunDrctl({"-r", repo, "--json", "backup", "--image", img}));
  EXPECT_EQ(b2["method"], "extent-compare");
  EXPECT_EQ(b2["changed_blocks"], 4);
  // File systems allocate in extents, so a little more than the changed
  // blocks may be read; far less than the image.
  EXPECT_LE(b2["bytes_read"].get<uint64_t>(), 8 * kMiB);
  EXPECT_GE(b2["bytes_read"].get<uint64_t>(), 4 * kMiB);
  fs::copy_file(img, dir / "v2.img");
  // A second generation: compared with the copy the last backup kept.
  WriteAt(img, 60 * kMiB, test::RandomBytes(4096, 16));
  auto b2b = Json(test::RunDrctl({"-r", repo, "--json", "backup", "--image", img}));
  EXPECT_EQ(b2b["method"], "extent-compare");
  EXPECT_EQ(b2b["changed_blocks"], 1);
  fs::copy_file(img, dir / "v2b.img");

  // While one backup runs (holds the lock), another of the same image is refused.
  std::string lock;
  for (const auto& e : fs::directory_iterator(mnt)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(".vm.img.dr-", 0) == 0 && name.size() > 5 &&
        name.substr(name.size() - 5) == ".lock")
      lock = e.path();
  }
  ASSERT_FALSE(lock.empty());
  {
    int fd = ::open(lock.c_str(), O_RDWR);
    ASSERT_EQ(::flock(fd, LOCK_EX), 0);
    auto busy = test::RunDrctl({"-r", repo, "backup", "--image", img});
    EXPECT_EQ(busy.exit_code, 1);
    EXPECT_NE(busy.err.find("another backup"), std::string::npos) << busy.err;
    ::close(fd);
  }

  // The kept copy gone (or never made): every block is read, still correct.
  for (const auto& e : fs::directory_iterator(mnt))
    if (e.path().filename().string().rfind(".vm.img.dr-", 0) == 0 &&
        e.path().extension() != ".lock")
      fs::remove(e.path());
  WriteAt(img, 30 * kMiB, test::RandomBytes(4096, 15));
  auto b3 = Json(test::RunDrctl({"-r", repo, "--json", "backup", "--image", img}));
  EXPECT_EQ(b3["method"], "read-all");
  EXPECT_EQ(b3["changed_blocks"], 1);
  auto b4 = Json(test::RunDrctl({"-r", repo, "--json", "backup", "--image", img, "--read-all"}));
  EXPECT_EQ(b4["method"], "read-all");
  EXPECT_EQ(b4["changed_blocks"], 0);

  int n = 0;
  for (const auto& [id, expected] :
       {std::pair{b1["snapshot"], dir / "v1.img"}, std::pair{b2["snapshot"], dir / "v2.img"},
        std::pair{b2b["snapshot"], dir / "v2b.img"}, std::pair{b4["snapshot"], img}}) {
    const std::string out = dir / ("r" + std::to_string(n++) + ".img");
    auto r = test::RunDrctl({"-r", repo, "restore", id.get<std::string>(), "-t", out});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(SameBytes(expected, out)) << out;
  }
}

INSTANTIATE_TEST_SUITE_P(Fs, ReflinkFileSystems, ::testing::Values("xfs", "btrfs"));

// File-level backups read from a read-only btrfs snapshot: what changes
// after it is taken (here: in the post-hook, which runs right after it) is
// not in the backup, and the snapshot is gone afterwards.
TEST(Consistency, BtrfsSnapshotFixesTheFilesAtTheStartAndIsRemoved) {
  REQUIRE_LOOP_DEVICES("btrfs");
  test::TempDir dir("btrfs-snap");
  const std::string backing = dir / "fs.img";
  WriteAt(backing, 512 * kMiB - 1, std::string(1, '\0'));
  auto made = test::RunShell("mkfs.btrfs -q '" + backing + "' 2>&1");
  if (made.exit_code == 127) GTEST_SKIP() << "no mkfs.btrfs";
  ASSERT_EQ(made.exit_code, 0) << made.out;
  const std::string mnt = dir / "mnt";
  Mount m(backing, mnt, "-o loop -t btrfs");
  ASSERT_TRUE(m.ok()) << m.error();
  ASSERT_EQ(test::RunShell("btrfs -q subvolume create '" + mnt + "/vol'").exit_code, 0);
  const std::string data = mnt + "/vol/data";
  FillFiles(data, 1, 12);
  const std::string repo = "dir://" + dir / "repo";
  ASSERT_EQ(test::RunDrctl({"-r", repo, "init"}).exit_code, 0);
  // As a backup that crashed would leave it (nobody holds its lock), and one
  // in use by a backup whose pid means nothing here (another PID namespace):
  // it holds the snapshot's lock, and its snapshot must survive.
  for (const char* name : {".dr-snapshot-4194303-0", ".dr-snapshot-4194302-0"}) {
    ASSERT_EQ(test::RunShell("btrfs -q subvolume snapshot -r '" + mnt + "/vol' '" + mnt + "/vol/" +
                             name + "'")
                  .exit_code,
              0);
  }
  const std::string in_use = mnt + "/vol/.dr-snapshot-4194302-0";
  test::Process holder(
      {"/bin/bash", "-c", "exec 9<'" + in_use + "' && flock --shared 9 && sleep 600"},
      dir / "holder.log");
  ASSERT_TRUE(test::WaitFor(10, [&] {
    return test::RunShell("flock --exclusive --nonblock '" + in_use + "' true").exit_code != 0;
  }));
  auto b =
      Json(test::RunDrctl({"-r", repo, "--json", "backup", data, "--btrfs-snapshot", "--pre-hook",
                           "echo before > " + data + "/marker", "--post-hook",
                           "echo after > " + data + "/marker; echo new > " + data + "/added"}));
  EXPECT_EQ(b["consistency"],
            "btrfs-snapshot (read-only snapshot of " + mnt + "/vol) between pre- and post-hook");
  EXPECT_EQ(test::ReadFile(data + "/marker"), "after\n");  // the live tree did change
  auto r = test::RunDrctl({"-r", repo, "restore", "latest", "-t", dir / "out"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string restored = dir / ("out" + data);
  EXPECT_EQ(test::ReadFile(restored + "/marker"), "before\n");
  EXPECT_FALSE(fs::exists(restored + "/added"));
  fs::remove(data + "/added");
  test::WriteFile(data + "/marker", "before\n");
  auto diff = test::RunShell("diff -r '" + data + "' '" + restored + "'");
  EXPECT_EQ(diff.exit_code, 0) << diff.out;
  auto ls = test::RunDrctl({"-r", repo, "ls", "latest", data + "/marker"});
  EXPECT_EQ(ls.exit_code, 0) << ls.err;
  auto left = test::RunShell("btrfs subvolume list '" + mnt + "'");
  EXPECT_EQ(left.out.find(".dr-snapshot-4194303"), std::string::npos) << left.out;
  EXPECT_NE(left.out.find(".dr-snapshot-4194302"), std::string::npos) << left.out;
  holder.Signal(SIGKILL);
  holder.Wait();
  ASSERT_EQ(test::RunShell("btrfs -q subvolume delete '" + in_use + "'").exit_code, 0);

  // A nested subvolume is an empty directory in the snapshot: the backup
  // says so and is marked partial.
  ASSERT_EQ(test::RunShell("btrfs -q subvolume create '" + data + "/nested'").exit_code, 0);
  test::WriteFile(data + "/nested/inside", "x");
  auto nested = test::RunDrctl({"-r", repo, "backup", data, "--btrfs-snapshot"});
  EXPECT_EQ(nested.exit_code, 3) << nested.err;  // partial
  EXPECT_NE(nested.err.find("nested btrfs subvolume"), std::string::npos) << nested.err;
  ASSERT_EQ(test::RunShell("btrfs -q subvolume delete '" + data + "/nested'").exit_code, 0);

  // Not on btrfs: a clear error and no snapshot.
  const std::string plain = dir / "plain";
  FillFiles(plain, 2, 2);
  auto refused = test::RunDrctl({"-r", repo, "backup", plain, "--btrfs-snapshot"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("not on btrfs"), std::string::npos) << refused.err;
  auto snaps = Json(test::RunDrctl({"-r", repo, "--json", "snapshots"}));
  EXPECT_EQ(snaps.size(), 2u);
}

// ---- RBD on the dev Ceph cluster

TEST(BlockRbd, RestoreCreatesAnRbdImageThatReadsBackIdenticalAndTooSmallIsRefused) {
  const std::string rados = test::RadosTestUrl("rbd");
  DR_REQUIRE_RADOS(rados);
  const std::string conf = std::getenv("CEPH_CONF"), id = std::getenv("DR_TEST_RADOS_ID"),
                    pool = std::getenv("DR_TEST_RADOS_POOL");
  test::TempDir dir("rbd");
  const std::string repo = "dir://" + dir / "repo";
  ASSERT_EQ(test::RunDrctl({"-r", repo, "init"}).exit_code, 0);
  const std::string img = dir / "disk.img";
  WriteAt(img, 0, test::RandomBytes(6 * kMiB, 21));
  WriteAt(img, 40 * kMiB, test::TextBytes(3 * kMiB + 5, 22));  // zeros between, odd length
  auto b = Json(test::RunDrctl({"-r", repo, "--json", "backup", "--image", img}));
  const std::string snap = b["snapshot"];
  const std::string image = "drtest-" + std::to_string(::getpid()) + "-" +
                            std::to_string(std::random_device{}() % 100000);
  const std::string url = "rbd://" + pool + "/" + image + "?conf=" + conf + "&id=" + id;
  const std::string rbd = "rbd -c " + conf + " --id " + id + " -p " + pool + " ";
  auto r = Json(test::RunDrctl({"-r", repo, "--json", "restore", snap, "-t", url}));
  EXPECT_EQ(r["length"], fs::file_size(img));
  EXPECT_EQ(r["blocks_written"], 10);  // 6 + 4; the 34 zero blocks are not written
  auto exported = test::RunShell(rbd + "export " + image + " '" + dir / "back.img" + "' 2>&1");
  ASSERT_EQ(exported.exit_code, 0) << exported.out;
  EXPECT_TRUE(SameBytes(img, dir / "back.img"));

  // Restoring an older snapshot over the existing image zeroes what must be zero.
  WriteAt(img, 20 * kMiB, test::RandomBytes(kMiB, 23));
  auto b2 = Json(test::RunDrctl({"-r", repo, "--json", "backup", "--image", img}));
  ASSERT_EQ(test::RunDrctl({"-r", repo, "restore", b2["snapshot"], "-t", url}).exit_code, 0);
  ASSERT_EQ(test::RunDrctl({"-r", repo, "restore", snap, "-t", url}).exit_code, 0);
  ASSERT_EQ(test::RunShell(rbd + "export " + image + " '" + dir / "back2.img" + "' 2>&1").exit_code,
            0);
  EXPECT_TRUE(SameBytes(dir / "back.img", dir / "back2.img"));

  // An image another client has open is not overwritten.
  {
    // `rbd bench` keeps the image open (a watcher) while it writes.
    test::Process watcher(
        {"/usr/bin/rbd", "-c", conf, "--id", id, "-p", pool, "bench", "--io-type", "write",
         "--io-size", "4K", "--io-threads", "1", "--io-total", "4G", "--io-pattern", "rand", image},
        dir / "watch.log");
    ASSERT_TRUE(test::WaitFor(20, [&] {
      return test::RunShell(rbd + "status " + image + " 2>&1").out.find("watcher=") !=
             std::string::npos;
    }));
    auto busy = test::RunDrctl({"-r", repo, "restore", snap, "-t", url});
    EXPECT_EQ(busy.exit_code, 1);
    EXPECT_NE(busy.err.find("in use"), std::string::npos) << busy.err;
  }

  const std::string small = image + "-small";
  ASSERT_EQ(test::RunShell(rbd + "create --size 8M " + small).exit_code, 0);
  auto tiny = test::RunDrctl({"-r", repo, "restore", snap, "-t",
                              "rbd://" + pool + "/" + small + "?conf=" + conf + "&id=" + id});
  EXPECT_EQ(tiny.exit_code, 1);
  EXPECT_NE(tiny.err.find("too small"), std::string::npos) << tiny.err;
  auto bad = test::RunDrctl({"-r", repo, "restore", snap, "-t", "rbd://" + pool});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("no image name"), std::string::npos) << bad.err;
  (void)test::RunShell(rbd + "rm " + image + " >/dev/null 2>&1; " + rbd + "rm " + small +
                       " >/dev/null 2>&1");
}

// ---- through a vault

TEST(BlockVault, AgentSendsOnlyChangedBlocksAndRestoresFromTheVault) {
  test::TempDir dir("blockvault");
  fs::create_directories(dir / "site");
  test::VaultSite site(dir / "site", test::TestPort(6),
                       test::VaultSite::Options{"dir://" + dir / "vault-repo", 32, "", ""});
  auto key = test::MakeAgentKey(dir.path(), "agent1");
  site.Enrol("agent1", key.pub_file, "legacy");
  site.Start();
  const std::string img = dir / "erp.img";
  WriteAt(img, 0, test::RandomBytes(40 * kMiB, 31));
  auto b1 = Json(site.Agent(key, "legacy", {"backup", "--json", "--image", img}));
  EXPECT_GT(b1["wire_bytes_sent"].get<uint64_t>(), 40 * kMiB);
  fs::copy_file(img, dir / "v1.img");
  WriteAt(img, 7 * kMiB + 10, test::RandomBytes(5000, 32));
  WriteAt(img, 33 * kMiB, test::RandomBytes(4096, 33));
  auto b2 = Json(site.Agent(key, "legacy", {"backup", "--json", "--image", img}));
  EXPECT_EQ(b2["changed_blocks"], 2);
  // Two 1 MiB blocks (random: stored raw) plus queries, the map and framing.
  EXPECT_LT(b2["wire_bytes_sent"].get<uint64_t>(), 2 * kMiB + 256 * 1024);
  EXPECT_GT(b2["wire_bytes_sent"].get<uint64_t>(), 2 * kMiB);

  auto r1 = site.Agent(key, "legacy", {"restore", b1["snapshot"], "--target", dir / "r1.img"});
  ASSERT_EQ(r1.exit_code, 0) << r1.err;
  auto r2 = site.Agent(key, "legacy", {"restore", "latest", "--target", dir / "r2.img"});
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  EXPECT_TRUE(SameBytes(dir / "v1.img", dir / "r1.img"));
  EXPECT_TRUE(SameBytes(img, dir / "r2.img"));
  auto ls = Json(site.Agent(key, "legacy", {"ls", "--json", "latest"}));
  EXPECT_EQ(ls[0]["block_size"], kMiB);
  EXPECT_EQ(ls[0]["changed_blocks"], 2);
  auto check = test::RunDrctl({"-r", site.RepositoryOf("legacy"), "check", "--read-data"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

}  // namespace
}  // namespace dr
