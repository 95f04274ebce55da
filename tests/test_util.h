// Helpers for tests: temporary directories, building source trees with every
// kind of entry, comparing two trees exactly (independently of the code
// under test), and running the drctl binary as a separate process.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace dr::test {

// A fresh empty directory under /tmp; removed by ~TempDir.
class TempDir {
 public:
  explicit TempDir(const std::string& tag);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

void RemoveTree(const std::string& path);
void WriteFile(const std::string& path, const std::string& data);
std::string ReadFile(const std::string& path);
// Deterministic pseudo-random (incompressible) bytes.
std::string RandomBytes(size_t n, uint64_t seed);
// Compressible text-like bytes.
std::string TextBytes(size_t n, uint64_t seed);

bool IsRoot();

// Populates `root` with every kind of entry the backup must capture:
// odd names (GBK bytes, newline, leading dash, 255 bytes), a path longer than
// PATH_MAX, symlinks, hard links, a FIFO, devices (root only), setuid/setgid/
// sticky modes, foreign owners (root only), ns mtimes, xattrs and a POSIX ACL,
// a sparse file, empty and multi-chunk files.
void MakeTortureTree(const std::string& root);

// Compares two trees exactly: types, content, modes, owners, ns mtimes
// (directories too), xattrs, symlink targets, device numbers, hard-link
// groups, and that holes in `a` are holes in `b`. Returns differences.
std::vector<std::string> CompareTrees(const std::string& a, const std::string& b);

struct CommandResult {
  int exit_code = -1;
  std::string out, err;
};
// Runs drctl with `args` (no shell), capturing stdout and stderr.
CommandResult RunDrctl(const std::vector<std::string>& args);
// Runs any program through /bin/sh -c.
CommandResult RunShell(const std::string& command);
// Runs argv[0] (a path) with the rest as arguments, no shell.
CommandResult RunProgram(const std::vector<std::string>& argv);

// A program running in the background, its stdout and stderr going to files.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::string& log_path);
  ~Process();  // SIGKILLs it if still running
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  void Signal(int sig);
  // Waits for it to end; returns the exit code (128 + signal if killed).
  int Wait();
  bool running();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

}  // namespace dr::test

namespace dr::test {
// A rados:// URL in a fresh namespace of the test cluster named by the
// environment (`eval "$(tools/ceph-dev-cluster env)"`), or "" when there is
// none. Tests skip without a cluster, except when DR_REQUIRE_CEPH=1 (set by
// tools/setup test and CI), where a missing cluster is a failure.
std::string RadosTestUrl(const std::string& tag);
bool CephRequired();
}  // namespace dr::test

// Skips (or fails, when a cluster is required) when no test cluster exists.
#define DR_REQUIRE_RADOS(url)                                                          \
  do {                                                                                 \
    if ((url).empty()) {                                                               \
      if (::dr::test::CephRequired()) FAIL() << "DR_REQUIRE_CEPH=1 but no cluster";    \
      GTEST_SKIP() << "no Ceph test cluster (eval \"$(tools/ceph-dev-cluster env)\")"; \
    }                                                                                  \
  } while (0)
