// Helpers shared by the block-level tests (block_test.cc, block_device_test.cc):
// writing at offsets, comparing files, loop devices and mounts (root).
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/test_util.h"

namespace dr::test {

namespace fs = std::filesystem;
inline constexpr uint64_t kMiB = 1 << 20;

// pwrite `data` at `offset` into `path`, creating it if needed.
inline void WriteAt(const std::string& path, uint64_t offset, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset)),
            static_cast<ssize_t>(data.size()));
  ::fsync(fd);
  ::close(fd);
}

inline bool SameBytes(const std::string& a, const std::string& b) {
  return RunShell("cmp -s '" + a + "' '" + b + "'").exit_code == 0;
}

// Whether the kernel can mount `fstype` (loading its module if needed).
inline bool KernelHas(const std::string& fstype) {
  (void)RunShell("modprobe " + fstype + " >/dev/null 2>&1");
  return RunShell("grep -qw " + fstype + " /proc/filesystems").exit_code == 0;
}

// Loop devices and mounts need root and a kernel that offers them (CI: root
// on a full VM); elsewhere these tests skip, saying why.
#define REQUIRE_LOOP_DEVICES(fstype)                                                            \
  do {                                                                                          \
    if (!::dr::test::IsRoot()) GTEST_SKIP() << "needs root for loop devices and mounts";        \
    if (::access("/dev/loop-control", F_OK) != 0) GTEST_SKIP() << "no loop device support";     \
    if (!::dr::test::KernelHas(fstype)) GTEST_SKIP() << "the kernel cannot mount " << (fstype); \
  } while (0)

// A loop device over an image file, detached at the end.
class LoopDevice {
 public:
  explicit LoopDevice(const std::string& image) {
    auto r = RunShell("losetup -f --show '" + image + "'");
    if (r.exit_code == 0) dev_ = r.out.substr(0, r.out.find('\n'));
  }
  ~LoopDevice() {
    if (!dev_.empty()) (void)RunShell("losetup -d " + dev_);
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
    auto r = RunShell("mount " + options + " '" + what + "' '" + where + "' 2>&1");
    ok_ = r.exit_code == 0;
    error_ = r.out;
  }
  ~Mount() { Unmount(); }
  void Unmount() {
    if (ok_) (void)RunShell("umount '" + where_ + "'");
    ok_ = false;
  }
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }

 private:
  std::string where_, error_;
  bool ok_ = false;
};

inline nlohmann::json Json(const CommandResult& r) {
  EXPECT_EQ(r.exit_code, 0) << r.err;
  try {
    return nlohmann::json::parse(r.out);
  } catch (...) {
    ADD_FAILURE() << "not JSON: " << r.out << r.err;
    return {};
  }
}

// Writes a few directories of files (text and random) under `root`.
inline void FillFiles(const std::string& root, int seed, int count) {
  for (int i = 0; i < count; ++i) {
    const std::string d = root + "/dir" + std::to_string(i % 5);
    fs::create_directories(d);
    WriteFile(d + "/file" + std::to_string(seed) + "-" + std::to_string(i),
              i % 2 ? TextBytes(50'000 + i * 1000, seed * 100 + i)
                    : RandomBytes(20'000 + i * 3000, seed * 100 + i));
  }
}

}  // namespace dr::test
