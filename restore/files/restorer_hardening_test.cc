// File restore against a hostile local user who can write in the target
// while a restore runs: nothing the restore does may reach a file outside the
// target through a symlink or a hard link planted there. The races are staged
// deterministically through RestoreOptions::test_hook, never by timing.
//
// Snapshots are built directly with the catalog API (restore/files may not
// depend on the capture code), which also gives exact control over modes,
// holes and hard-link groups.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "catalog/format/blob.h"
#include "catalog/repository.h"
#include "catalog/store/testing/mem_store.h"
#include "restore/files/restorer.h"
#include "tests/test_util.h"

namespace dr {
namespace {

constexpr int64_t kMtimeNs = 1700000000123456789;

class RestoreHardening : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = std::make_unique<MemStore>();
    ASSERT_TRUE(Repository::Init(store.get(), {}).ok());
    auto repo = Repository::Open(std::move(store));
    ASSERT_TRUE(repo.ok()) << repo.status().ToString();
    repo_ = std::move(repo).value();
    std::filesystem::create_directories(outside_);
  }

  Node Meta(const std::string& name, NodeType type, uint32_t mode) {
    Node n;
    n.name = name;
    n.type = type;
    n.mode = mode;
    n.uid = ::geteuid();
    n.gid = ::getegid();
    n.mtime_ns = kMtimeNs;
    return n;
  }
  Id AddData(const std::string& raw) {
    Id id = repo_->hasher().Hash(raw);
    if (repo_->Claim(id)) {
      EXPECT_TRUE(
          repo_->AddBlob(BlobType::kData, id, EncodeBlob(raw, 3), static_cast<uint32_t>(raw.size()))
              .ok());
    }
    return id;
  }
  // A file of `data`, then (when `hole` > 0) a hole of that many bytes.
  Node File(const std::string& name, const std::string& data, uint32_t mode = 0644,
            uint64_t hole = 0, uint64_t link_group = 0) {
    Node n = Meta(name, NodeType::kFile, mode);
    StreamDigest digest(repo_->hasher());
    if (!data.empty()) n.content.push_back({false, data.size(), AddData(data)});
    digest.Update(data);
    if (hole > 0) {
      n.content.push_back({true, hole, Id{}});
      digest.UpdateZeros(hole);
    }
    n.size = data.size() + hole;
    n.digest = digest.Finish();
    n.hardlink_group = link_group;
    return n;
  }
  Node Dir(const std::string& name, std::vector<Node> children, uint32_t mode = 0755) {
    Node n = Meta(name, NodeType::kDir, mode);
    n.subtree = StoreTree(std::move(children));
    return n;
  }
  Id StoreTree(std::vector<Node> nodes) {
    std::sort(nodes.begin(), nodes.end(),
              [](const Node& a, const Node& b) { return a.name < b.name; });
    auto id = repo_->StoreTree(Tree{std::move(nodes)});
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : Id{};
  }
  Snapshot Commit(std::vector<Node> root) {
    Snapshot s;
    s.tree = StoreTree(std::move(root));
    s.host = "test-host";
    auto id = repo_->CommitSnapshot(s);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    if (id.ok()) s.id = *id;
    return s;
  }
  RestoreResult Restore(const Snapshot& s,
                        std::function<void(RestoreStep, const std::string&)> hook = nullptr) {
    RestoreOptions o;
    o.target = target_;
    o.test_hook = std::move(hook);
    auto r = RestoreSnapshot(*repo_, s, o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : RestoreResult{};
  }
  static std::string Errors(const RestoreResult& r) {
    std::string s;
    for (const auto& e : r.errors) s += e + "\n";
    return s;
  }
  static struct stat Lstat(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
    return st;
  }
  // Moves the entry at `path` aside and puts a symlink to `to` in its place.
  static void SwapForSymlink(const std::string& path, const std::string& to) {
    ASSERT_EQ(::rename(path.c_str(), (path + ".moved").c_str()), 0) << path;
    ASSERT_EQ(::symlink(to.c_str(), path.c_str()), 0) << path;
  }

  test::TempDir dir_{"restore-hardening"};
  std::string target_ = dir_ / "out";
  std::string outside_ = dir_ / "outside";
  std::unique_ptr<Repository> repo_;
};

// Finding: metadata was applied by path, and fchmodat follows symlinks.
TEST_F(RestoreHardening, MetadataGoesToTheEntryRestoredNotToASymlinkSwappedIn) {
  Snapshot s = Commit({Dir("d", {File("f", "in d")}, 0751), Meta("p", NodeType::kFifo, 0604)});
  const std::string secret = outside_ + "/secret", secret2 = outside_ + "/secret2";
  test::WriteFile(secret, "secret");
  test::WriteFile(secret2, "secret");
  ASSERT_EQ(::chmod(secret.c_str(), 0600), 0);
  ASSERT_EQ(::chmod(secret2.c_str(), 0600), 0);
  RestoreResult r = Restore(s, [&](RestoreStep step, const std::string& path) {
    if (step != RestoreStep::kBeforeMetadata) return;
    if (path == "/d") SwapForSymlink(target_ + "/d", secret);
    if (path == "/p") SwapForSymlink(target_ + "/p", secret2);
  });
  EXPECT_EQ(Lstat(secret).st_mode & 07777, 0600u);
  EXPECT_EQ(Lstat(secret2).st_mode & 07777, 0600u);
  // The metadata went to what the restore made, wherever it is now.
  EXPECT_EQ(Lstat(target_ + "/d.moved").st_mode & 07777, 0751u);
  EXPECT_EQ(Lstat(target_ + "/p.moved").st_mode & 07777, 0604u);
  EXPECT_TRUE(r.errors.empty()) << Errors(r);
}

// Finding: a same-size existing file was rewritten in place whatever its links.
TEST_F(RestoreHardening, ExistingFileWithAHardLinkOutsideIsReplacedNotWrittenThrough) {
  Snapshot s = Commit({File("a", "new content 1234")});
  std::filesystem::create_directories(target_);
  test::WriteFile(target_ + "/a", "old content abcd");
  ASSERT_EQ(::link((target_ + "/a").c_str(), (outside_ + "/a-link").c_str()), 0);
  RestoreResult r = Restore(s);
  EXPECT_TRUE(r.errors.empty()) << Errors(r);
  EXPECT_EQ(test::ReadFile(outside_ + "/a-link"), "old content abcd");
  EXPECT_EQ(test::ReadFile(target_ + "/a"), "new content 1234");
  EXPECT_EQ(Lstat(target_ + "/a").st_nlink, 1u);
}

// An in-place update would put the snapshot's bytes into an inode whose
// owner or mode lets someone else read them before the metadata is set.
TEST_F(RestoreHardening, ExistingFileOthersCanReadIsReplacedNotUpdatedInPlace) {
  Snapshot s = Commit({File("a", "private bytes 12", 0600), File("b", "same owner, mode", 0640)});
  std::filesystem::create_directories(target_);
  test::WriteFile(target_ + "/a", "world-readable!!");
  ASSERT_EQ(::chmod((target_ + "/a").c_str(), 0644), 0);
  test::WriteFile(target_ + "/b", "old bytes of b..");
  ASSERT_EQ(::chmod((target_ + "/b").c_str(), 0640), 0);
  const ino_t a_before = Lstat(target_ + "/a").st_ino, b_before = Lstat(target_ + "/b").st_ino;
  RestoreResult r = Restore(s);
  EXPECT_TRUE(r.errors.empty()) << Errors(r);
  EXPECT_NE(Lstat(target_ + "/a").st_ino, a_before);  // replaced
  EXPECT_EQ(Lstat(target_ + "/b").st_ino, b_before);  // its metadata matched: updated in place
  EXPECT_EQ(test::ReadFile(target_ + "/a"), "private bytes 12");
  EXPECT_EQ(test::ReadFile(target_ + "/b"), "same owner, mode");
  EXPECT_EQ(Lstat(target_ + "/a").st_mode & 07777, 0600u);
}

// The links a restore makes itself (a hard-link group) still come back right
// when restoring onto an earlier restore of the same snapshot.
TEST_F(RestoreHardening, HardLinkGroupSurvivesARestoreOntoItsOwnEarlierRestore) {
  Snapshot s =
      Commit({Dir("d", {File("a", "linked", 0644, 0, 7), File("b", "linked", 0644, 0, 7)})});
  for (int round = 0; round < 2; ++round) {
    RestoreResult r = Restore(s);
    EXPECT_TRUE(r.errors.empty()) << Errors(r);
    EXPECT_EQ(r.hardlinks, 1u);
    EXPECT_EQ(Lstat(target_ + "/d/a").st_ino, Lstat(target_ + "/d/b").st_ino);
    EXPECT_EQ(Lstat(target_ + "/d/a").st_nlink, 2u);
    EXPECT_EQ(test::ReadFile(target_ + "/d/b"), "linked");
  }
}

// Finding: the replace path unlinked, then created without O_EXCL, so whatever
// was planted in between was opened and written.
TEST_F(RestoreHardening, EntryPlantedWhereAFileIsCreatedIsReplacedNotWrittenThrough) {
  Snapshot s = Commit({File("a", "snapshot data a"), File("b", "snapshot data b")});
  std::filesystem::create_directories(target_);
  test::WriteFile(target_ + "/a", "a different size");
  const std::string victim = outside_ + "/victim", victim2 = outside_ + "/victim2";
  test::WriteFile(victim, "victim");
  test::WriteFile(victim2, "victim2");
  RestoreResult r = Restore(s, [&](RestoreStep step, const std::string& path) {
    if (step != RestoreStep::kBeforeCreate) return;
    const std::string at = target_ + path;
    if (path == "/a") {
      ::unlink(at.c_str());
      ASSERT_EQ(::link(victim.c_str(), at.c_str()), 0);
    }
    if (path == "/b") {
      ASSERT_EQ(::symlink(victim2.c_str(), at.c_str()), 0);
    }
  });
  EXPECT_EQ(test::ReadFile(victim), "victim");
  EXPECT_EQ(test::ReadFile(victim2), "victim2");
  EXPECT_TRUE(r.errors.empty()) << Errors(r);
  EXPECT_TRUE(S_ISREG(Lstat(target_ + "/a").st_mode));
  EXPECT_TRUE(S_ISREG(Lstat(target_ + "/b").st_mode));
  EXPECT_EQ(test::ReadFile(target_ + "/a"), "snapshot data a");
  EXPECT_EQ(test::ReadFile(target_ + "/b"), "snapshot data b");
}

// Finding: hard links were made with linkat from the target root by a path,
// which follows a directory swapped for a symlink.
TEST_F(RestoreHardening, HardLinkIsNeverMadeThroughASymlinkedDirectory) {
  Snapshot s = Commit(
      {Dir("d", {File("f", "linked", 0644, 0, 5)}), Dir("e", {File("g", "linked", 0644, 0, 5)})});
  std::filesystem::create_directories(outside_ + "/dir");
  const std::string victim = outside_ + "/dir/f";
  test::WriteFile(victim, "victim");
  RestoreResult r = Restore(s, [&](RestoreStep step, const std::string& path) {
    if (step == RestoreStep::kBeforeCreate && path == "/e/g") {
      SwapForSymlink(target_ + "/d", outside_ + "/dir");
    }
  });
  struct stat g {};
  if (::lstat((target_ + "/e/g").c_str(), &g) == 0) {
    EXPECT_NE(g.st_ino, Lstat(victim).st_ino) << "the restore linked a file outside the target";
  }
  EXPECT_EQ(Lstat(victim).st_nlink, 1u);
  // Not restored exactly (its group's first member is gone), and said so.
  ASSERT_EQ(r.errors.size(), 1u) << Errors(r);
  EXPECT_NE(r.errors[0].find("/e/g"), std::string::npos) << r.errors[0];
}

// What is wrong with the in-place restore of "head" + hole of `big`, or "".
std::string CheckSparseRestore(const Result<RestoreResult>& r, const std::string& big,
                               uint64_t size) {
  if (!r.ok()) return r.status().ToString();
  if (!r->errors.empty()) return r->errors[0];
  if (r->files_verified != 1) return "not verified";
  struct stat st {};
  if (::lstat(big.c_str(), &st) != 0) return "missing";
  if (static_cast<uint64_t>(st.st_size) != size) return "size " + std::to_string(st.st_size);
  if (st.st_blocks * 512 >= (1 << 20)) return "allocated " + std::to_string(st.st_blocks * 512);
  std::string head(4, '\0'), mid(8, '\1');
  int fd = ::open(big.c_str(), O_RDONLY);
  if (fd < 0) return "cannot open";
  bool read_ok = ::pread(fd, head.data(), 4, 0) == 4 && ::pread(fd, mid.data(), 8, 2LL << 30) == 8;
  ::close(fd);
  if (!read_ok) return "cannot read";
  if (head != "head") return "head is " + head;
  if (mid != std::string(8, '\0')) return "old data left where the snapshot has a hole";
  return "";
}

// Finding: a hole restored in place was read into a buffer the size of the hole.
// The restore runs in a child whose address space is capped far below the
// hole's size, so a buffer that large cannot be allocated (no timing).
TEST_F(RestoreHardening, HoleOverExistingDataIsPunchedWithoutBufferingIt) {
  // The child runs this test again from the start rather than forking the
  // repository's background threads.
  const std::string style = GTEST_FLAG_GET(death_test_style);
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  constexpr uint64_t kHole = 4ULL << 30;
  Snapshot s = Commit({File("big", "head", 0644, kHole)});
  const std::string big = target_ + "/big";
  std::filesystem::create_directories(target_);
  {
    // Same size, so it is updated in place; data where the snapshot has a hole.
    int fd = ::open(big.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(4 + kHole)), 0);
    ASSERT_EQ(::pwrite(fd, "HEAD", 4, 0), 4);
    std::string junk(1 << 20, '\xab');
    ASSERT_EQ(::pwrite(fd, junk.data(), junk.size(), 2LL << 30), static_cast<ssize_t>(junk.size()));
    ::close(fd);
  }
  // In the child (a fresh run of this test up to here): cap the address
  // space at its current size plus 1.5 GiB, room for threads and chunk
  // buffers but far too little for a buffer the size of the hole; restore;
  // check; clean up (the child never returns to run destructors).
  auto restore_capped = [&] {
    long pages = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
      if (std::fscanf(f, "%ld", &pages) != 1) pages = 0;
      std::fclose(f);
    }
    struct rlimit lim {};
    ::getrlimit(RLIMIT_AS, &lim);
    lim.rlim_cur = static_cast<rlim_t>(pages) * ::sysconf(_SC_PAGESIZE) + (3ULL << 29);
    if (lim.rlim_max != RLIM_INFINITY) lim.rlim_cur = std::min(lim.rlim_cur, lim.rlim_max);
    if (::setrlimit(RLIMIT_AS, &lim) != 0) std::_Exit(2);
    RestoreOptions o;
    o.target = target_;
    o.threads = 2;
    auto r = RestoreSnapshot(*repo_, s, o);
    std::string problem = CheckSparseRestore(r, big, 4 + kHole);
    test::RemoveTree(dir_.path());
    std::fprintf(stderr, "%s\n", problem.c_str());
    std::_Exit(problem.empty() ? 0 : 1);
  };
  EXPECT_EXIT(restore_capped(), ::testing::ExitedWithCode(0), "");
  GTEST_FLAG_SET(death_test_style, style);
}

// Finding: nothing was fsynced. Files are synced after their content, each
// directory after its entries (bottom-up), and the target's parent last.
TEST_F(RestoreHardening, EveryFileAndDirectoryIsSyncedBottomUpThenTheTargetsParent) {
  Snapshot s = Commit({Dir("d", {Dir("e", {File("f", "f")}), File("g", "g")}), File("h", "h")});
  std::mutex mu;
  std::vector<std::string> synced;
  RestoreResult r = Restore(s, [&](RestoreStep step, const std::string& path) {
    std::lock_guard l(mu);
    if (step == RestoreStep::kSynced) synced.push_back(path);
  });
  EXPECT_TRUE(r.errors.empty()) << Errors(r);
  auto at = [&](const std::string& p) {
    return std::find(synced.begin(), synced.end(), p) - synced.begin();
  };
  const auto n = static_cast<ptrdiff_t>(synced.size());
  for (const char* p : {"/d/e/f", "/d/g", "/h", "/d/e", "/d", "/", ""}) {
    EXPECT_LT(at(p), n) << p << " was not synced";
  }
  EXPECT_LT(at("/d/e"), at("/d"));
  EXPECT_LT(at("/d"), at("/"));
  EXPECT_EQ(at(""), n - 1);
}

}  // namespace
}  // namespace dr
