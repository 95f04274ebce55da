// Block-level backup and restore of disk images and block devices, with real
// files, loop devices holding real file systems, reflink-capable XFS and
// btrfs, an RBD image on the dev Ceph cluster, and a vault over ZeroMQ.
// Tests that need loop devices and mounts run as root (as CI does).
#include <fcntl.h>
#include <gtest/gtest.h>
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
#include "tests/test_util.h"
#include "tests/vault_harness.h"

namespace dr {
namespace {

namespace fs = std::filesystem;
constexpr uint64_t kMiB = 1 << 20;

// pwrite `data` at `offset` into `path`, creating it if needed.
void WriteAt(const std::string& path, uint64_t offset, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset)),
            static_cast<ssize_t>(data.size()));
  ::fsync(fd);
  ::close(fd);
}

bool SameBytes(const std::string& a, const std::string& b) {
  return test::RunShell("cmp -s '" + a + "' '" + b + "'").exit_code == 0;
}

// Whether the kernel can mount `fstype` (loading its module if needed).
bool KernelHas(const std::string& fstype) {
  (void)test::RunShell("modprobe " + fstype + " >/dev/null 2>&1");
  return test::RunShell("grep -qw " + fstype + " /proc/filesystems").exit_code == 0;
}

// Loop devices and mounts need root and a kernel that offers them (CI: root
// on a full VM); elsewhere these tests skip, saying why.
#define REQUIRE_LOOP_DEVICES(fstype)                                                        \
  do {                                                                                      \
    if (!test::IsRoot()) GTEST_SKIP() << "needs root for loop devices and mounts";          \
    if (::access("/dev/loop-control", F_OK) != 0) GTEST_SKIP() << "no loop device support"; \
    if (!KernelHas(fstype)) GTEST_SKIP() << "the kernel cannot mount " << (fstype);         \
  } while (0)

class BlockBackups : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenObjectStore("dir://" + dir_ / "repo");
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE(Repository::Init(store->get(), {}).ok());
    Reopen();
  }
  void Reopen() {
    auto store = OpenObjectStore("dir://" + dir_ / "repo");
    auto r = Repository::Open(std::move(store).value());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    repo_ = std::move(r).value();
  }
  Result<BackupResult> Backup(BlockBackupOptions o) {
    if (o.host.empty()) o.host = "testhost";
    auto target = MakeRepositoryTarget(*repo_, 2);
    return RunBlockBackup(*target, o);
  }
  Result<BackupResult> Backup(const std::string& source) {
    BlockBackupOptions o;
    o.source = source;
    return Backup(o);
  }
  Result<BlockRestoreResult> Restore(const Snapshot& s, const std::string& target) {
    return RestoreBlockSnapshot(*repo_, s, {target, 0, nullptr});
  }
  size_t SnapshotCount() {
    auto all = repo_->ListSnapshots();
    return all.ok() ? all->size() : 0;
  }
  void ExpectCheckClean() {
    CheckOptions o;
    o.read_data = true;
    auto report = CheckRepository(*repo_, o);
    ASSERT_TRUE(report.ok());
    for (const auto& p : report->problems)
      if (p.IsError()) ADD_FAILURE() << p.where << ": " << p.message;
  }

  test::TempDir dir_{"block"};
  std::unique_ptr<Repository> repo_;
};

TEST_F(BlockBackups, SparseTenGiBImageStoresAndReadsOnlyItsData) {
  const std::string img = dir_ / "sparse.img";
  ASSERT_EQ(::truncate(img.c_str(), 0), -1);  // does not exist yet
  WriteAt(img, 0, test::RandomBytes(kMiB, 1));
  WriteAt(img, 5ull << 30, test::RandomBytes(2 * kMiB, 2));
  WriteAt(img, (10ull << 30) + 3 * kMiB - 100, test::RandomBytes(100, 3));  // ends unaligned
  const uint64_t length = (10ull << 30) + 3 * kMiB;
  ASSERT_EQ(fs::file_size(img), length);

  auto r = Backup(img);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Snapshot& s = r->snapshot;
  ASSERT_TRUE(s.block);
  EXPECT_EQ(s.block->length, length);
  EXPECT_EQ(s.block->blocks, length / kMiB);
  EXPECT_EQ(s.block->zero_blocks, length / kMiB - 4);
  EXPECT_EQ(s.stats.bytes_read, 4 * kMiB);             // the data blocks, nothing else
  EXPECT_LT(s.stats.bytes_added, 3 * kMiB + 200'000);  // data (incompressible) plus the map
  EXPECT_EQ(s.block->source_kind, "image");

  const std::string out = dir_ / "restored.img";
  auto rr = Restore(s, out);
  ASSERT_TRUE(rr.ok()) << rr.status().ToString();
  EXPECT_EQ(rr->blocks_written, 4u);
  EXPECT_EQ(rr->bytes_written, 3 * kMiB + kMiB);  // the last block holds 100 bytes of data
  struct stat st;
  ASSERT_EQ(::stat(out.c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), length);
  EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, 8 * kMiB) << "restored image is not sparse";
  // Reading 10 GiB of holes twice would dominate the test: compare where
  // the data is, and that everything else is a hole in the restored image.
  auto data_regions = [](const std::string& path) {
    std::vector<std::pair<off_t, off_t>> regions;
    int fd = ::open(path.c_str(), O_RDONLY);
    for (off_t pos = 0;;) {
      off_t data = ::lseek(fd, pos, SEEK_DATA);
      if (data < 0) break;
      off_t hole = ::lseek(fd, data, SEEK_HOLE);
      regions.emplace_back(data, hole);
      pos = hole;
    }
    ::close(fd);
    return regions;
  };
  auto read_at = [](const std::string& path, off_t at, size_t n) {
    std::string buf(n, '\0');
    int fd = ::open(path.c_str(), O_RDONLY);
    EXPECT_EQ(::pread(fd, buf.data(), n, at), static_cast<ssize_t>(n));
    ::close(fd);
    return buf;
  };
  auto regions = data_regions(out);
  ASSERT_FALSE(regions.empty());
  uint64_t data_bytes = 0;
  for (auto [from, to] : regions) {
    data_bytes += to - from;
    EXPECT_EQ(read_at(out, from, to - from), read_at(img, from, to - from)) << from;
  }
  EXPECT_LE(data_bytes, 4 * kMiB);
  EXPECT_EQ(read_at(out, 0, kMiB), test::RandomBytes(kMiB, 1));
  EXPECT_EQ(read_at(out, 5ll << 30, 2 * kMiB), test::RandomBytes(2 * kMiB, 2));
  EXPECT_EQ(read_at(out, length - 100, 100), test::RandomBytes(100, 3));
  ExpectCheckClean();
}

TEST_F(BlockBackups, IncrementalStoresOnlyChangedBlocksAndEverySnapshotRestoresExactly) {
  const std::string img = dir_ / "disk.img";
  WriteAt(img, 0, test::RandomBytes(64 * kMiB, 7));
  WriteAt(img, 64 * kMiB, std::string(8 * kMiB, '\0'));  // written zeros, not a hole
  auto first = Backup(img);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->snapshot.block->zero_blocks, 8u);
  EXPECT_EQ(first->snapshot.block->method, "read-all");  // /tmp: no reflink here
  EXPECT_LT(first->snapshot.stats.bytes_added, 65 * kMiB);
  fs::copy_file(img, dir_ / "v1.img");

  // Change 3 blocks: two 4 KiB writes in blocks 3 and 40, one in a zero block.
  WriteAt(img, 3 * kMiB + 4096, test::RandomBytes(4096, 8));
  WriteAt(img, 40 * kMiB + 12345, test::RandomBytes(4096, 9));
  WriteAt(img, 66 * kMiB, test::RandomBytes(4096, 10));
  auto second = Backup(img);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  const Snapshot& s2 = second->snapshot;
  EXPECT_EQ(s2.parent, first->snapshot.id);
  EXPECT_EQ(s2.block->changed_blocks, 3u);
  EXPECT_LT(s2.stats.bytes_added, 3 * kMiB + 100'000);

  auto r1 = Restore(first->snapshot, dir_ / "r1.img");
  ASSERT_TRUE(r1.ok()) << r1.status().ToString();
  EXPECT_TRUE(SameBytes(dir_ / "v1.img", dir_ / "r1.img"));
  auto r2 = Restore(s2, dir_ / "r2.img");
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  EXPECT_TRUE(SameBytes(img, dir_ / "r2.img"));
  ExpectCheckClean();
}

TEST_F(BlockBackups, SizeChangesBetweenBackupsAreRecordedAndRestoreExactly) {
  const std::string img = dir_ / "disk.img";
  WriteAt(img, 0, test::RandomBytes(10 * kMiB, 1));
  ASSERT_TRUE(Backup(img).ok());
  WriteAt(img, 10 * kMiB, test::RandomBytes(5 * kMiB + 7, 2));  // grows, unaligned
  auto grown = Backup(img);
  ASSERT_TRUE(grown.ok()) << grown.status().ToString();
  EXPECT_EQ(grown->snapshot.block->length, 15 * kMiB + 7);
  EXPECT_EQ(grown->snapshot.block->changed_blocks, 6u);
  ASSERT_FALSE(grown->warnings.empty());
  EXPECT_NE(grown->warnings.front().find("size changed"), std::string::npos);
  fs::copy_file(img, dir_ / "grown.img");
  ASSERT_EQ(::truncate(img.c_str(), 4 * kMiB + 1), 0);  // shrinks
  auto shrunk = Backup(img);
  ASSERT_TRUE(shrunk.ok()) << shrunk.status().ToString();
  EXPECT_EQ(shrunk->snapshot.block->blocks, 5u);
  auto r = Restore(grown->snapshot, dir_ / "r-grown.img");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(SameBytes(dir_ / "grown.img", dir_ / "r-grown.img"));
  r = Restore(shrunk->snapshot, dir_ / "r-shrunk.img");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(SameBytes(img, dir_ / "r-shrunk.img"));
}

// A source that fails like a device that vanished, or changes its size,
// after a number of blocks (fault injection around the real reader).
class FaultySource : public BlockSource {
 public:
  enum class Fault { kVanish, kResize };
  FaultySource(std::unique_ptr<BlockSource> real, std::string display, Fault fault, int after_reads)
      : real_(std::move(real)), display_(std::move(display)), fault_(fault), after_(after_reads) {}
  uint64_t length() const override { return real_->length(); }
  bool IsHole(uint64_t o, uint64_t l) override { return real_->IsHole(o, l); }
  void Prefetch(uint64_t o, uint64_t l) override { real_->Prefetch(o, l); }
  Status ReadAt(uint64_t offset, char* buf, size_t len) override {
    if (fault_ == Fault::kVanish && reads_++ >= after_)
      return Status::FromErrno(ENXIO, "read " + display_ + " at offset " + std::to_string(offset));
    return real_->ReadAt(offset, buf, len);
  }
  Result<uint64_t> CurrentLength() override {
    if (fault_ == Fault::kResize) return real_->length() + kMiB;
    return real_->CurrentLength();
  }

 private:
  std::unique_ptr<BlockSource> real_;
  std::string display_;
  Fault fault_;
  int after_, reads_ = 0;
};

TEST_F(BlockBackups, VanishingOrResizedSourceAbortsWithoutSnapshotAndLosesNothing) {
  const std::string img = dir_ / "disk.img";
  WriteAt(img, 0, test::RandomBytes(20 * kMiB, 3));
  auto good = Backup(img);
  ASSERT_TRUE(good.ok());
  WriteAt(img, 0, test::RandomBytes(20 * kMiB, 4));
  for (auto fault : {FaultySource::Fault::kVanish, FaultySource::Fault::kResize}) {
    BlockBackupOptions o;
    o.source = img;
    o.open_source = [fault](const std::string& p,
                            const std::string& d) -> Result<std::unique_ptr<BlockSource>> {
      ASSIGN_OR_RETURN(auto real, OpenBlockSource(p, d));
      return std::unique_ptr<BlockSource>(new FaultySource(std::move(real), d, fault, 7));
    };
    auto r = Backup(o);
    ASSERT_FALSE(r.ok());
    const std::string msg = r.status().message();
    EXPECT_NE(msg.find(img), std::string::npos) << msg;
    EXPECT_NE(msg.find("no snapshot written"), std::string::npos) << msg;
    if (fault == FaultySource::Fault::kVanish)
      EXPECT_NE(msg.find("No such device"), std::string::npos) << msg;
    else
      EXPECT_NE(msg.find("changed size"), std::string::npos) << msg;
    EXPECT_EQ(SnapshotCount(), 1u);
    Reopen();  // as the next run would
  }
  ExpectCheckClean();
  auto again = Backup(img);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  auto r = Restore(again->snapshot, dir_ / "r.img");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(SameBytes(img, dir_ / "r.img"));
  r = Restore(good->snapshot, dir_ / "r-old.img");
  ASSERT_TRUE(r.ok());
}

TEST_F(BlockBackups, HooksRunAroundTheCaptureAndAFailingPreHookAborts) {
  const std::string img = dir_ / "disk.img";
  WriteAt(img, 0, test::RandomBytes(3 * kMiB, 5));
  const std::string log = dir_ / "hooks.log";
  BlockBackupOptions o;
  o.source = img;
  o.pre_hook = "echo pre $DR_SOURCE >> " + log;
  o.post_hook = "echo post >> " + log;
  auto r = Backup(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(test::ReadFile(log), "pre " + img + "\npost\n");
  EXPECT_EQ(r->snapshot.consistency, "hooks (pre-hook before reading, post-hook after)");

  o.pre_hook = "echo pre >> " + log + "; exit 3";
  auto failed = Backup(o);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("pre hook"), std::string::npos);
  EXPECT_NE(failed.status().message().find("exit status 3"), std::string::npos);
  EXPECT_EQ(test::ReadFile(log), "pre " + img + "\npost\npre\n");  // post-hook not run: no pre
  EXPECT_EQ(SnapshotCount(), 1u);
}

TEST_F(BlockBackups, BadInputGetsClearErrors) {
  BlockBackupOptions o;
  o.source = dir_ / "missing.img";
  auto r = Backup(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("missing.img"), std::string::npos);
  o.source = dir_.path();
  r = Backup(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("neither an image file nor a block device"),
            std::string::npos)
      << r.status().message();
  WriteAt(dir_ / "disk.img", 0, "x");
  o.source = dir_ / "disk.img";
  o.block_size = 3 << 20;
  r = Backup(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("power of two"), std::string::npos);
  EXPECT_EQ(SnapshotCount(), 0u);

  // Restoring over an existing file is refused, a file snapshot is not an image.
  o.block_size = kDefaultBlockSize;
  auto s = Backup(o);
  ASSERT_TRUE(s.ok());
  auto rr = Restore(s->snapshot, dir_ / "disk.img");
  ASSERT_FALSE(rr.ok());
  EXPECT_NE(rr.status().message().find("exists"), std::string::npos);
  EXPECT_EQ(test::ReadFile(dir_ / "disk.img"), "x");
}

// ---- the command line, loop devices and file systems (root)

// A loop device over an image file, detached at the end.
class LoopDevice {
 public:
  explicit LoopDevice(const std::string& image) {
    auto r = test::RunShell("losetup -f --show '" + image + "'");
    if (r.exit_code == 0) dev_ = r.out.substr(0, r.out.find('\n'));
  }
  ~LoopDevice() {
    if (!dev_.empty()) (void)test::RunShell("losetup -d " + dev_);
  }
  const std::string& dev() const { return dev_; }

 private:
  std::string dev_;
};

// A mount, undone at the end.
class Mount {
 public:
  Mount(const std::string& what, const std::string& where, const std::string& options)
      : where_(where) {
    fs::create_directories(where);
    auto r = test::RunShell("mount " + options + " '" + what + "' '" + where + "' 2>&1");
    ok_ = r.exit_code == 0;
    error_ = r.out;
  }
  ~Mount() { Unmount(); }
  void Unmount() {
    if (ok_) (void)test::RunShell("umount '" + where_ + "'");
    ok_ = false;
  }
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }

 private:
  std::string where_, error_;
  bool ok_ = false;
};

nlohmann::json Json(const test::CommandResult& r) {
  EXPECT_EQ(r.exit_code, 0) << r.err;
  try {
    return nlohmann::json::parse(r.out);
  } catch (...) {
    ADD_FAILURE() << "not JSON: " << r.out << r.err;
    return {};
  }
}

// Writes a few directories of files (text and random) under `root`.
void FillFiles(const std::string& root, int seed, int count) {
  for (int i = 0; i < count; ++i) {
    const std::string d = root + "/dir" + std::to_string(i % 5);
    fs::create_directories(d);
    test::WriteFile(d + "/file" + std::to_string(seed) + "-" + std::to_string(i),
                    i % 2 ? test::TextBytes(50'000 + i * 1000, seed * 100 + i)
                          : test::RandomBytes(20'000 + i * 3000, seed * 100 + i));
  }
}

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
  // As a backup that crashed would leave it (pid 4194303 is not running).
  ASSERT_EQ(test::RunShell("btrfs -q subvolume snapshot -r '" + mnt + "/vol' '" + mnt +
                           "/vol/.dr-snapshot-4194303-0'")
                .exit_code,
            0);
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
  EXPECT_EQ(left.out.find(".dr-snapshot"), std::string::npos) << left.out;

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
