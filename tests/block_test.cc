// Block-level backup and restore of disk images through the library: sparse
// images, incrementals, size changes, a vanishing source, hooks, bad input.
// Loop devices, real file systems, RBD and a vault: block_device_test.cc.
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
#include "tests/block_test_util.h"
#include "tests/test_util.h"
#include "tests/vault_harness.h"

namespace dr {
namespace {

using test::kMiB;
using test::SameBytes;
using test::WriteAt;
namespace fs = std::filesystem;

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
    return RestoreBlockSnapshot(*repo_, s, {target, 0, nullptr, std::nullopt});
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

}  // namespace
}  // namespace dr
