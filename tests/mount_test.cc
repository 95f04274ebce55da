// drctl mount end to end: a real FUSE mount served by a separate drctl
// process, read with ordinary tools (find, cp, cmp, mount -o loop).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/test_util.h"
#include "tests/vault_harness.h"

namespace dr {
namespace {

namespace fs = std::filesystem;

void Write(const std::string& path, const std::string& data) {
  fs::create_directories(fs::path(path).parent_path());
  test::WriteFile(path, data);
}

// A `drctl mount` (or `dragent mount`) process; unmounted when destroyed.
class Mounted {
 public:
  Mounted(std::vector<std::string> argv, std::string mountpoint, const std::string& log)
      : mountpoint_(std::move(mountpoint)), log_(log) {
    fs::create_directories(mountpoint_);
    argv.push_back(mountpoint_);
    process_ = std::make_unique<test::Process>(argv, log);
    up_ = test::WaitFor(
              30, [&] { return fs::exists(mountpoint_ + "/snapshots") || !process_->running(); }) &&
          process_->running();
  }
  ~Mounted() { Unmount(); }
  bool up() const { return up_; }
  std::string Log() const { return test::ReadFile(log_); }
  // fusermount3 -u, then the server's exit code.
  int Unmount() {
    if (!process_) return -1;
    test::RunProgram({"/usr/bin/fusermount3", "-u", mountpoint_});
    const int rc = process_->Wait();
    process_.reset();
    return rc;
  }

 private:
  std::string mountpoint_, log_;
  std::unique_ptr<test::Process> process_;
  bool up_ = false;
};

class MountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access("/dev/fuse", R_OK | W_OK) != 0) GTEST_SKIP() << "no usable /dev/fuse";
    repo_ = dir_ / "repo";
    ASSERT_EQ(test::RunDrctl({"-q", "-r", repo_, "init"}).exit_code, 0);
  }

  std::string Backup(const std::vector<std::string>& args) {
    std::vector<std::string> all = {"-q", "--json", "-r", repo_, "backup"};
    all.insert(all.end(), args.begin(), args.end());
    auto r = test::RunDrctl(all);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    return j.is_object() ? j.value("snapshot", "") : "";
  }

  std::unique_ptr<Mounted> Mount(const std::string& url, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {DRCTL_PATH, "-r", url, "mount"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::make_unique<Mounted>(argv, dir_ / "mnt", dir_ / "mount.log");
  }

  // The name of the snapshot directory whose name ends with the id's prefix.
  static std::string DirOf(const std::string& mnt, const std::string& id) {
    for (const auto& e : fs::directory_iterator(mnt + "/snapshots")) {
      const std::string name = e.path().filename();
      if (name.size() > 8 && name.substr(name.size() - 8) == id.substr(0, 8)) return name;
    }
    return "";
  }

  // What find says of every entry: path, type, size (not of directories,
  // whose size is the file system's own), mode, links, target.
  static std::string FindListing(const std::string& dir) {
    auto r = test::RunShell("cd '" + dir +
                            "' && { find . -type d -printf '%p %y %m %n\\n'; "
                            "find . ! -type d -printf '%p %y %s %m %n %l\\n'; } | sort");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }

  test::TempDir dir_{"mount"};
  std::string repo_;
};

TEST_F(MountTest, EveryEntryReadThroughTheMountIsIdenticalToARestore) {
  const std::string src = dir_ / "src";
  test::MakeTortureTree(src);
  const std::string first = Backup({src});
  // A second version: a file changed, one added, one removed.
  Write(src + "/one-byte", "y");
  Write(src + "/added", test::RandomBytes(3 << 20, 7));
  fs::remove(src + "/empty");
  const std::string second = Backup({src});
  for (const auto& id : {first, second}) {
    auto r = test::RunDrctl({"-q", "-r", repo_, "restore", id, "--target", dir_ / ("out-" + id)});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  auto m = Mount(repo_);
  ASSERT_TRUE(m->up()) << m->Log();
  const std::string mnt = dir_ / "mnt";
  for (const auto& id : {first, second}) {
    const std::string name = DirOf(mnt, id);
    ASSERT_FALSE(name.empty()) << id;
    const std::string restored = dir_ / ("out-" + id) + src;
    const std::string mounted = mnt + "/snapshots/" + name + src;
    EXPECT_EQ(test::CompareTrees(restored, mounted), std::vector<std::string>{}) << id;
    EXPECT_EQ(FindListing(mounted), FindListing(restored)) << id;
  }
  // latest and the per-host folder point at the newest snapshot.
  const std::string newest = DirOf(mnt, second);
  EXPECT_EQ(fs::read_symlink(mnt + "/latest").string(), "snapshots/" + newest);
  std::string host(256, '\0');
  ASSERT_EQ(::gethostname(host.data(), host.size()), 0);
  host.resize(std::strlen(host.c_str()));
  EXPECT_EQ(fs::read_symlink(mnt + "/hosts/" + host + "/" + newest).string(),
            "../../snapshots/" + newest);
  // cp -a out of the mount gives the same tree again (holes, links,
  // xattrs), but for the directory deeper than PATH_MAX, which cp cannot
  // copy from any file system.
  fs::create_directories(dir_ / "copied");
  auto cp = test::RunShell("cd '" + mnt + "/latest" + src +
                           "' && find . -mindepth 1 -maxdepth 1 ! -name '0ddd*' -exec cp -a -t '" +
                           dir_ / "copied' {} +");
  ASSERT_EQ(cp.exit_code, 0) << cp.err;
  std::vector<std::string> differences;
  for (const auto& d : test::CompareTrees(dir_ / ("out-" + second) + src, dir_ / "copied"))
    if (d.find("/0ddd") == std::string::npos) differences.push_back(d);
  EXPECT_EQ(differences, std::vector<std::string>{});
  EXPECT_EQ(m->Unmount(), 0) << m->Log();
}

TEST_F(MountTest, ItIsReadOnlyWithoutDevicesOrSetuid) {
  const std::string src = dir_ / "src";
  Write(src + "/f", "data");
  Backup({src});
  auto m = Mount(repo_);
  ASSERT_TRUE(m->up()) << m->Log();
  const std::string mnt = dir_ / "mnt";
  const std::string f = mnt + "/latest" + src + "/f";
  EXPECT_EQ(test::ReadFile(f), "data");
  EXPECT_LT(::open(f.c_str(), O_WRONLY), 0);
  EXPECT_EQ(errno, EROFS);
  EXPECT_LT(::open((mnt + "/latest" + src + "/new").c_str(), O_CREAT | O_WRONLY, 0644), 0);
  EXPECT_NE(::mkdir((mnt + "/snapshots/x").c_str(), 0755), 0);
  // /proc/mounts: device, mount point, type, options, ...
  std::ifstream mounts("/proc/mounts");
  std::string device, point, type, options;
  bool found = false;
  while (mounts >> device >> point >> type >> options && mounts.ignore(1 << 20, '\n')) {
    if (point != mnt) continue;
    found = true;
    for (const std::string opt : {"ro", "nosuid", "nodev", "noexec"})
      EXPECT_NE(("," + options + ",").find("," + opt + ","), std::string::npos) << options;
  }
  EXPECT_TRUE(found);
}

TEST_F(MountTest, ADamagedChunkIsAnIOErrorThatNamesItAndOtherFilesStillRead) {
  const std::string a = dir_ / "a", b = dir_ / "b";
  Write(a + "/ledger", test::RandomBytes(2 << 20, 51));
  Backup({a});
  // Damage the middle of the only pack so far (the ledger's chunks).
  std::string pack;
  for (const auto& e : fs::recursive_directory_iterator(repo_ + "/data"))
    if (e.is_regular_file()) pack = e.path();
  ASSERT_FALSE(pack.empty());
  {
    std::fstream f(pack, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(pack) / 3));
    f.put('\x5a').put('\xa5');
  }
  Write(b + "/notes", test::RandomBytes(1 << 20, 52));
  Backup({b});
  auto m = Mount(repo_);
  ASSERT_TRUE(m->up()) << m->Log();
  const std::string mnt = dir_ / "mnt";
  auto bad = test::RunShell("cat '" + mnt + "/snapshots/'*'" + a + "/ledger' > /dev/null");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("Input/output error"), std::string::npos) << bad.err;
  EXPECT_NE(m->Log().find("blob"), std::string::npos) << m->Log();
  EXPECT_EQ(test::ReadFile(mnt + "/latest" + b + "/notes"), test::RandomBytes(1 << 20, 52));
}

TEST_F(MountTest, ADiskImageSnapshotIsOneFileThatMountsWithLoop) {
  if (!test::IsRoot()) GTEST_SKIP() << "mount -o loop needs root";
  const std::string files = dir_ / "files";
  Write(files + "/report.pdf", test::RandomBytes(700 << 10, 61));
  Write(files + "/dept/budget.csv", test::TextBytes(90 << 10, 62));
  const std::string image = dir_ / "disk.img";
  auto mkfs = test::RunShell("truncate -s 32M '" + image + "' && mkfs.ext4 -q -F -d '" + files +
                             "' '" + image + "'");
  ASSERT_EQ(mkfs.exit_code, 0) << mkfs.err;
  Backup({"--image", image});
  auto m = Mount(repo_);
  ASSERT_TRUE(m->up()) << m->Log();
  const std::string in_mount = dir_ / "mnt/latest/disk.img";
  EXPECT_EQ(fs::file_size(in_mount), fs::file_size(image));
  EXPECT_EQ(test::RunProgram({"/usr/bin/cmp", in_mount, image}).exit_code, 0);
  const std::string inner = dir_ / "inner";
  fs::create_directories(inner);
  auto loop = test::RunShell("mount -o loop,ro '" + in_mount + "' '" + inner + "'");
  ASSERT_EQ(loop.exit_code, 0) << loop.err;
  auto diff = test::RunShell("diff -r --exclude=lost+found '" + files + "' '" + inner + "'");
  EXPECT_EQ(diff.exit_code, 0) << diff.out << diff.err;
  test::RunShell("umount '" + inner + "'");
}

TEST_F(MountTest, ANewSnapshotAppearsWithoutRemounting) {
  const std::string src = dir_ / "src";
  Write(src + "/v", "one");
  Backup({src});
  auto m = Mount(repo_);
  ASSERT_TRUE(m->up()) << m->Log();
  Write(src + "/v", "two");
  const std::string id = Backup({src});
  const std::string mnt = dir_ / "mnt";
  EXPECT_TRUE(test::WaitFor(30, [&] { return !DirOf(mnt, id).empty(); }));
  EXPECT_TRUE(test::WaitFor(30, [&] {
    std::error_code ec;
    return fs::read_symlink(mnt + "/latest", ec).string() == "snapshots/" + DirOf(mnt, id);
  }));
  EXPECT_EQ(test::ReadFile(mnt + "/snapshots/" + DirOf(mnt, id) + src + "/v"), "two");
}

TEST_F(MountTest, BadMountPointsAreRefusedWithOneLine) {
  auto r = test::RunDrctl({"-r", repo_, "mount", dir_ / "missing"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("is not an existing directory"), std::string::npos) << r.err;
  r = test::RunDrctl({"-r", dir_ / "no-repo", "mount", dir_.path()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not a repository"), std::string::npos) << r.err;
}

TEST_F(MountTest, ARadosRepositoryMountsLikeADirectory) {
  const std::string url = test::RadosTestUrl("mount");
  DR_REQUIRE_RADOS(url);
  ASSERT_EQ(test::RunDrctl({"-q", "-r", url, "init"}).exit_code, 0);
  const std::string src = dir_ / "src";
  test::MakeTortureTree(src);
  auto b = test::RunDrctl({"-q", "-r", url, "backup", src});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  auto m = Mount(url);
  ASSERT_TRUE(m->up()) << m->Log();
  EXPECT_EQ(test::CompareTrees(src, dir_ / "mnt/latest" + src), std::vector<std::string>{});
}

// dragent mount: the same browsing through a vault, with the agent's
// restore right and nothing else (no repository keys on the host).
TEST_F(MountTest, AnAgentBrowsesItsSnapshotsThroughTheVault) {
  fs::create_directories(dir_ / "site");
  test::VaultSite site(dir_ / "site", test::TestPort(40),
                       test::VaultSite::Options{"dir://" + dir_ / "vault-repo", 32, "", "", ""});
  auto agent = test::MakeAgentKey(dir_.path(), "clerk-01");
  site.Enrol("clerk-01", agent.pub_file, "records");
  site.Start();
  const std::string src = dir_ / "src";
  Write(src + "/deed.pdf", test::RandomBytes(5 << 20, 71));
  Write(src + "/index.txt", "parcel 12");
  auto b = site.Agent(agent, "records", {"-q", "backup", src});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  Mounted m(site.AgentArgv(agent, "records", {"mount"}), dir_ / "mnt", dir_ / "mount.log");
  ASSERT_TRUE(m.up()) << m.Log();
  EXPECT_EQ(test::CompareTrees(src, dir_ / "mnt/latest" + src), std::vector<std::string>{});
  EXPECT_EQ(m.Unmount(), 0) << m.Log();
}

}  // namespace
}  // namespace dr
