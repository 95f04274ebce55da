#include "tests/test_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>

namespace dr::test {

TempDir::TempDir(const std::string& tag) {
  std::string tmpl = "/tmp/drtest-" + tag + "-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() { RemoveTree(path_); }

void RemoveTree(const std::string& path) {
  // rm copes with paths longer than PATH_MAX; std::filesystem does not.
  std::string cmd = "chmod -R u+rwx '" + path + "' 2>/dev/null; rm -rf '" + path + "'";
  if (std::system(cmd.c_str()) != 0) std::filesystem::remove_all(path);
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!f) throw std::runtime_error("cannot write " + path);
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    std::memcpy(s.data() + i, &v, std::min<size_t>(8, n - i));
  }
  return s;
}

std::string TextBytes(size_t n, uint64_t seed) {
  static const char* words[] = {"backup ", "restore ", "vault ", "chunk ", "department ",
                                "city ",   "record\n", "2026 ",  "ceph ",  "replica "};
  std::mt19937_64 rng(seed);
  std::string s;
  while (s.size() < n) s += words[rng() % 10];
  s.resize(n);
  return s;
}

bool IsRoot() { return ::geteuid() == 0; }

namespace {

void Check(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error(what + ": " + std::strerror(errno));
}

void SetMtime(int dirfd, const char* name, int64_t sec, long nsec) {
  struct timespec ts[2] = {{sec, nsec}, {sec, nsec}};
  Check(::utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) == 0, std::string("utimensat ") + name);
}

void WriteAt(int dirfd, const std::string& name, const std::string& data, mode_t mode = 0644) {
  int fd = ::openat(dirfd, name.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode);
  Check(fd >= 0, "create " + name);
  Check(::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()),
        "write " + name);
  ::close(fd);
}

}  // namespace

void MakeTortureTree(const std::string& root) {
  std::filesystem::create_directories(root);
  int r = ::open(root.c_str(), O_RDONLY | O_DIRECTORY);
  Check(r >= 0, "open " + root);
  WriteAt(r, "empty", "");
  WriteAt(r, "one-byte", "x");
  WriteAt(r, "random-5MiB", RandomBytes(5 << 20, 1));
  WriteAt(r, "text-3MiB", TextBytes(3 << 20, 2));
  WriteAt(r, "\xd6\xd0\xce\xc4-gbk.txt", "gbk-named file\n");
  WriteAt(r, "new\nline", "newline in name\n");
  WriteAt(r, "-rf", "leading dash\n");
  WriteAt(r, std::string(255, 'n'), "255-byte name\n");
  // A path longer than PATH_MAX (4096): 24 levels of 200-byte names.
  int d = ::dup(r);
  for (int i = 0; i < 24; ++i) {
    std::string name = std::to_string(i) + std::string(200, 'd');
    Check(::mkdirat(d, name.c_str(), 0755) == 0, "mkdir deep");
    int nd = ::openat(d, name.c_str(), O_RDONLY | O_DIRECTORY);
    ::close(d);
    d = nd;
  }
  WriteAt(d, "deep-file", "beyond PATH_MAX\n");
  ::close(d);
  // Symlinks: relative, absolute, dangling.
  Check(::symlinkat("one-byte", r, "link-rel") == 0, "symlink");
  Check(::symlinkat("/etc/hostname", r, "link-abs") == 0, "symlink");
  Check(::symlinkat("does/not/exist", r, "link-dangling") == 0, "symlink");
  // Hard links, within and across directories.
  Check(::mkdirat(r, "links", 0755) == 0, "mkdir links");
  WriteAt(r, "hard-a", RandomBytes(300000, 3));
  Check(::linkat(r, "hard-a", r, "hard-b", 0) == 0, "link");
  Check(::linkat(r, "hard-a", r, "links/hard-c", 0) == 0, "link");
  Check(::mkfifoat(r, "fifo", 0640) == 0, "mkfifo");
  // Special modes.
  WriteAt(r, "setuid", "#!/bin/sh\n", 0755);
  Check(::fchmodat(r, "setuid", 04755, 0) == 0, "chmod");
  Check(::mkdirat(r, "setgid-dir", 0755) == 0, "mkdir");
  Check(::fchmodat(r, "setgid-dir", 02775, 0) == 0, "chmod");
  Check(::mkdirat(r, "sticky-dir", 0755) == 0, "mkdir");
  Check(::fchmodat(r, "sticky-dir", 01777, 0) == 0, "chmod");
  WriteAt(r, "setgid-dir/inside", "in setgid dir\n", 0600);
  // Extended attributes and a POSIX ACL.
  WriteAt(r, "xattrs", "has xattrs\n");
  const std::string bin("\x00\x01\xff binary", 10);
  Check(::setxattr((root + "/xattrs").c_str(), "user.note", "hello", 5, 0) == 0, "setxattr");
  Check(::setxattr((root + "/xattrs").c_str(), "user.bin", bin.data(), bin.size(), 0) == 0,
        "setxattr");
  WriteAt(r, "acl", "has an ACL\n");
  Check(std::system(("setfacl -m u:1234:rw,g:5678:r '" + root + "/acl'").c_str()) == 0, "setfacl");
  // A sparse file: 64 MiB with data at 0 and at 40 MiB only.
  {
    int fd = ::openat(r, "sparse", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    Check(fd >= 0, "create sparse");
    std::string data = RandomBytes(70000, 4);
    Check(::pwrite(fd, data.data(), data.size(), 0) == static_cast<ssize_t>(data.size()), "pwrite");
    Check(::pwrite(fd, data.data(), data.size(), 40 << 20) == static_cast<ssize_t>(data.size()),
          "pwrite");
    Check(::ftruncate(fd, 64 << 20) == 0, "ftruncate");
    ::close(fd);
  }
  if (IsRoot()) {
    Check(::mknodat(r, "chardev", S_IFCHR | 0600, makedev(1, 3)) == 0, "mknod");
    Check(::mknodat(r, "blockdev", S_IFBLK | 0600, makedev(7, 200)) == 0, "mknod");
    WriteAt(r, "foreign-owner", "owned by someone else\n");
    Check(::fchownat(r, "foreign-owner", 1234, 5678, 0) == 0, "chown");
    Check(::fchownat(r, "link-rel", 4321, 8765, AT_SYMLINK_NOFOLLOW) == 0, "lchown");
  }
  SetMtime(r, "one-byte", 1700000000, 123456789);
  SetMtime(r, "link-rel", 1600000000, 987654321);
  SetMtime(r, "links", 1650000000, 5);
  ::close(r);
}

namespace {

struct Comparer {
  std::vector<std::string> diffs;
  std::map<ino_t, ino_t> links;  // inode in a -> inode in b

  void Diff(const std::string& path, const std::string& what) {
    diffs.push_back(path + ": " + what);
  }

  static std::vector<std::string> Names(int dirfd) {
    std::vector<std::string> out;
    int fd = ::dup(dirfd);
    DIR* d = ::fdopendir(fd);
    ::rewinddir(d);
    while (struct dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) out.push_back(e->d_name);
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
  }

  static std::map<std::string, std::string> Xattrs(int dirfd, const std::string& name) {
    std::string p = "/proc/self/fd/" + std::to_string(dirfd) + "/" + name;
    std::map<std::string, std::string> out;
    char names[65536];
    ssize_t n = ::llistxattr(p.c_str(), names, sizeof names);
    for (ssize_t i = 0; i < n;) {
      std::string k = names + i;
      i += static_cast<ssize_t>(k.size()) + 1;
      char v[65536];
      ssize_t m = ::lgetxattr(p.c_str(), k.c_str(), v, sizeof v);
      out[k] = std::string(v, m > 0 ? static_cast<size_t>(m) : 0);
    }
    return out;
  }

  static std::string Content(int dirfd, const std::string& name) {
    int fd = ::openat(dirfd, name.c_str(), O_RDONLY);
    std::string s;
    char buf[1 << 16];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) s.append(buf, static_cast<size_t>(n));
    ::close(fd);
    return s;
  }

  // Offsets of data regions (SEEK_DATA) per 1 MiB step, to compare holes.
  static std::vector<off_t> DataMap(int dirfd, const std::string& name) {
    int fd = ::openat(dirfd, name.c_str(), O_RDONLY);
    std::vector<off_t> out;
    off_t size = ::lseek(fd, 0, SEEK_END);
    for (off_t off = 0; off < size;) {
      off_t d = ::lseek(fd, off, SEEK_DATA);
      if (d < 0) break;
      off_t h = ::lseek(fd, d, SEEK_HOLE);
      out.push_back(d);
      out.push_back(h);
      off = h;
    }
    ::close(fd);
    return out;
  }

  void Dir(int a, int b, const std::string& path) {
    auto na = Names(a), nb = Names(b);
    if (na != nb) {
      for (auto& n : na)
        if (!std::binary_search(nb.begin(), nb.end(), n)) Diff(path + "/" + n, "missing in b");
      for (auto& n : nb)
        if (!std::binary_search(na.begin(), na.end(), n)) Diff(path + "/" + n, "extra in b");
    }
    for (const auto& n : na) {
      if (!std::binary_search(nb.begin(), nb.end(), n)) continue;
      Entry(a, b, n, path + "/" + n);
    }
  }

  void Entry(int a, int b, const std::string& name, const std::string& path) {
    struct stat sa, sb;
    ::fstatat(a, name.c_str(), &sa, AT_SYMLINK_NOFOLLOW);
    ::fstatat(b, name.c_str(), &sb, AT_SYMLINK_NOFOLLOW);
    if ((sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT)) return Diff(path, "type");
    if (!S_ISLNK(sa.st_mode) && (sa.st_mode & 07777) != (sb.st_mode & 07777)) Diff(path, "mode");
    if (sa.st_uid != sb.st_uid || sa.st_gid != sb.st_gid) Diff(path, "owner");
    if (sa.st_mtim.tv_sec != sb.st_mtim.tv_sec || sa.st_mtim.tv_nsec != sb.st_mtim.tv_nsec) {
      Diff(path, "mtime");
    }
    if (Xattrs(a, name) != Xattrs(b, name)) Diff(path, "xattrs");
    if (S_ISREG(sa.st_mode)) {
      if (sa.st_size != sb.st_size) return Diff(path, "size");
      if (Content(a, name) != Content(b, name)) Diff(path, "content");
      auto da = DataMap(a, name), db = DataMap(b, name);
      // Holes must stay holes (b may have fewer data bytes, never more).
      off_t data_a = 0, data_b = 0;
      for (size_t i = 0; i + 1 < da.size(); i += 2) data_a += da[i + 1] - da[i];
      for (size_t i = 0; i + 1 < db.size(); i += 2) data_b += db[i + 1] - db[i];
      if (data_b > data_a + (1 << 20)) Diff(path, "holes not preserved");
      if (sa.st_nlink > 1) {
        auto [it, inserted] = links.emplace(sa.st_ino, sb.st_ino);
        if (!inserted && it->second != sb.st_ino) Diff(path, "hard link group broken");
        if (sb.st_nlink != sa.st_nlink) Diff(path, "link count");
      }
    } else if (S_ISLNK(sa.st_mode)) {
      char ta[8192], tb[8192];
      ssize_t la = ::readlinkat(a, name.c_str(), ta, sizeof ta);
      ssize_t lb = ::readlinkat(b, name.c_str(), tb, sizeof tb);
      if (std::string(ta, la) != std::string(tb, lb)) Diff(path, "link target");
    } else if (S_ISCHR(sa.st_mode) || S_ISBLK(sa.st_mode)) {
      if (sa.st_rdev != sb.st_rdev) Diff(path, "device number");
    } else if (S_ISDIR(sa.st_mode)) {
      int da = ::openat(a, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      int db = ::openat(b, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      if (da < 0 || db < 0) {
        Diff(path, "cannot open directory");
      } else {
        Dir(da, db, path);
      }
      if (da >= 0) ::close(da);
      if (db >= 0) ::close(db);
    }
  }
};

}  // namespace

std::vector<std::string> CompareTrees(const std::string& a, const std::string& b) {
  Comparer c;
  int fa = ::open(a.c_str(), O_RDONLY | O_DIRECTORY),
      fb = ::open(b.c_str(), O_RDONLY | O_DIRECTORY);
  if (fa < 0 || fb < 0) return {"cannot open " + a + " or " + b};
  c.Dir(fa, fb, "");
  ::close(fa);
  ::close(fb);
  return c.diffs;
}

namespace {
// Starts argv[0] with stdin from /dev/null and stdout/stderr on `out`/`err`.
pid_t Spawn(const std::vector<std::string>& argv, int out, int err) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out, 1);
    ::dup2(err, 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

CommandResult Run(const std::vector<std::string>& argv) {
  CommandResult r;
  std::string out_path = "/tmp/drtest-out-XXXXXX", err_path = "/tmp/drtest-err-XXXXXX";
  int out = mkstemp(out_path.data()), err = mkstemp(err_path.data());
  pid_t pid = Spawn(argv, out, err);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  ::close(out);
  ::close(err);
  r.out = ReadFile(out_path);
  r.err = ReadFile(err_path);
  ::unlink(out_path.c_str());
  ::unlink(err_path.c_str());
  return r;
}
}  // namespace

CommandResult RunDrctl(const std::vector<std::string>& args) {
  std::vector<std::string> argv{DRCTL_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  return Run(argv);
}

CommandResult RunShell(const std::string& command) { return Run({"/bin/sh", "-c", command}); }
CommandResult RunProgram(const std::vector<std::string>& argv) { return Run(argv); }

Process::Process(const std::vector<std::string>& argv, const std::string& log_path) {
  int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  pid_ = Spawn(argv, log, log);
  ::close(log);
}

Process::~Process() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    Wait();
  }
}

void Process::Signal(int sig) {
  if (status_ == -1) ::kill(pid_, sig);
}

bool Process::running() {
  if (status_ != -1) return false;
  int st = 0;
  if (::waitpid(pid_, &st, WNOHANG) == pid_) {
    status_ = st;
    return false;
  }
  return true;
}

int Process::Wait() {
  if (status_ == -1) {
    int st = 0;
    ::waitpid(pid_, &st, 0);
    status_ = st;
  }
  return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
}

}  // namespace dr::test

namespace dr::test {

std::string RadosTestUrl(const std::string& tag) {
  const char* conf = std::getenv("CEPH_CONF");
  const char* pool = std::getenv("DR_TEST_RADOS_POOL");
  const char* id = std::getenv("DR_TEST_RADOS_ID");
  if (!conf || !pool || !id || !*conf || !*pool || !*id) return "";
  static std::atomic<int> counter{0};
  std::string ns = "t-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) +
                   "-" + std::to_string(std::random_device{}() % 100000);
  return std::string("rados://") + pool + "/" + ns + "?conf=" + conf + "&id=" + id;
}

bool CephRequired() {
  const char* r = std::getenv("DR_REQUIRE_CEPH");
  return r && std::string(r) == "1";
}

}  // namespace dr::test
