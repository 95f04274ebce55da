#include "policies/change_watch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <map>

#include "catalog/retention_lock.h"
#include "catalog/store/testing/fault_store.h"
#include "catalog/store/testing/mem_store.h"
#include "policies/snapshot_groups.h"
#include "tests/test_util.h"

namespace dr {
namespace {

constexpr int64_t kWatchSecond = 1'000'000'000;

// A repository in memory and a source tree described as path -> content
// ("docs/a.txt"), committed as file snapshots of one group. The parameter:
// whether the repository is encrypted (its blobs' seals must not read as
// incompressible content).
class ChangeWatchTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    InitOptions init;
    KeySource keys;
    if (GetParam()) {
      init.encrypt = SlotSpec{std::nullopt, key_dir_ / "repo.key", ""};
      keys.key_file = key_dir_ / "repo.key";
    }
    ASSERT_TRUE(Repository::Init(&mem_, init).ok());
    auto fault = std::make_unique<FaultStore>(&mem_);
    fault_ = fault.get();
    auto r = Repository::Open(std::move(fault), "", keys);
    ASSERT_TRUE(r.ok());
    repo_ = std::move(r).value();
    // 40 compressible documents in each of five folders.
    for (int d = 0; d < 5; ++d)
      for (int f = 0; f < 40; ++f)
        files_["dept" + std::to_string(d) + "/report-" + std::to_string(f) + ".odt"] =
            test::TextBytes(3000 + 97 * f, d * 100 + f);
  }

  Node FileNode(const std::string& name, const std::string& content) {
    Node n;
    n.name = name;
    n.type = NodeType::kFile;
    n.mode = 0644;
    n.size = content.size();
    n.digest = repo_->hasher().Hash(content);
    for (size_t at = 0; at < content.size(); at += 4096) {
      const std::string piece = content.substr(at, 4096);
      const Id id = repo_->hasher().Hash(piece);
      if (repo_->Claim(id)) {
        EXPECT_TRUE(repo_
                        ->AddBlob(BlobType::kData, id, EncodeBlob(piece, 3),
                                  static_cast<uint32_t>(piece.size()))
                        .ok());
      }
      n.content.push_back({false, piece.size(), id});
    }
    return n;
  }

  // "dir/name" files in directories, "name" ones at the top.
  Id StoreTree() {
    std::map<std::string, Tree> dirs;
    Tree root;
    for (const auto& [path, content] : files_) {
      const size_t slash = path.find('/');
      Node n = FileNode(slash == std::string::npos ? path : path.substr(slash + 1), content);
      if (lie_ != nullptr && lie_->count(path)) {  // the old digest and size, new content
        n.digest = lie_->at(path).digest;
        n.size = lie_->at(path).size;
      }
      if (slash == std::string::npos)
        root.nodes.push_back(n);
      else
        dirs[path.substr(0, slash)].nodes.push_back(n);
    }
    for (auto& [name, tree] : dirs) {
      Node d;
      d.name = name;
      d.type = NodeType::kDir;
      d.mode = 0755;
      d.subtree = *repo_->StoreTree(tree);
      root.nodes.push_back(d);
    }
    std::sort(root.nodes.begin(), root.nodes.end(),
              [](const Node& a, const Node& b) { return a.name < b.name; });
    return *repo_->StoreTree(root);
  }

  Snapshot Commit(const std::string& identity = "clerk-01") {
    Snapshot s;
    s.time_ns = (1'800'000'000 + 3600 * ++count_) * kWatchSecond;
    s.identity = identity;
    s.host = "records-host";
    s.paths = {"/srv/records"};
    s.policy = "records";
    s.tree = StoreTree();
    auto id = repo_->CommitSnapshot(s);
    EXPECT_TRUE(id.ok()) << id.status().message();
    s.id = *id;
    return s;
  }

  // The snapshot's own record (the last of those written).
  ChangeRecord Watch(const Snapshot& s) {
    auto r = WatchSnapshot(*repo_, s, s.time_ns + kWatchSecond);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() && !r->empty() ? r->back() : ChangeRecord{};
  }

  // Files `every`-th in name order, as ransomware leaves them: encrypted
  // under a new extension, the original gone.
  void EncryptEvery(int every) {
    std::map<std::string, std::string> after;
    int i = 0;
    for (auto& [path, content] : files_) {
      if (i++ % every == 0)
        after[path + ".locked"] = test::RandomBytes(content.size() + 16, i);
      else
        after[path] = content;
    }
    files_ = std::move(after);
  }

  test::TempDir key_dir_{"change-watch"};
  MemStore mem_;
  FaultStore* fault_ = nullptr;
  const std::map<std::string, Node>* lie_ = nullptr;
  std::unique_ptr<Repository> repo_;
  std::map<std::string, std::string> files_;
  int count_ = 0;
};

TEST_P(ChangeWatchTest, TheFirstSnapshotIsCountedAndChurnIsMeasuredNotFlagged) {
  const ChangeRecord first = Watch(Commit());
  EXPECT_FALSE(first.base.has_value());
  EXPECT_EQ(first.signals.files_after, 200u);

  // Ordinary work: an edit, a document replaced by an archive, random
  // bytes appended, one new file, one deletion, one rename to another
  // extension.
  files_["dept0/report-1.odt"] += "an added paragraph";
  files_["dept1/report-2.odt"] = test::RandomBytes(5000, 77);
  files_["dept2/report-3.odt"] += test::RandomBytes(20000, 5);
  files_["dept3/minutes.odt"] = test::TextBytes(4000, 8);
  files_.erase("dept4/report-4.odt");
  files_["dept4/report-5.pdf"] = files_["dept4/report-5.odt"];
  files_.erase("dept4/report-5.odt");
  const Snapshot second = Commit();
  const ChangeRecord r = Watch(second);
  ASSERT_TRUE(r.base.has_value());
  EXPECT_EQ(r.signals.files_before, 200u);
  EXPECT_EQ(r.signals.files_after, 200u);
  EXPECT_EQ(r.signals.changed, 3u);
  EXPECT_EQ(r.signals.added, 1u);
  EXPECT_EQ(r.signals.deleted, 1u);
  EXPECT_EQ(r.signals.renamed, 1u);
  EXPECT_EQ(r.signals.rewritten, 3u);  // the rename kept its content
  EXPECT_EQ(r.signals.weighed, 3u);
  EXPECT_EQ(r.signals.became_incompressible, 1u);  // the archive; the append still compresses
  EXPECT_FALSE(r.verdict.suspicious);
  EXPECT_FALSE(r.locked.has_value());
  // Recorded once: watching again gives the same record.
  EXPECT_EQ(Watch(second).measured_ns, r.measured_ns);
  EXPECT_EQ(ListRetentionLocks(mem_)->size(), 0u);
}

TEST_P(ChangeWatchTest, EncryptionFlagsTheSnapshotAndLocksTheLastCleanOne) {
  Watch(Commit());
  files_["dept0/report-1.odt"] += "an added paragraph";
  const Snapshot clean = Commit();
  ASSERT_FALSE(Watch(clean).verdict.suspicious);

  EncryptEvery(5);  // 40 of 200
  const Snapshot attacked = Commit();
  const ChangeRecord r = Watch(attacked);
  EXPECT_EQ(r.signals.renamed, 40u);
  EXPECT_EQ(r.signals.rewritten, 40u);
  EXPECT_EQ(r.signals.became_incompressible, 40u);
  ASSERT_TRUE(r.verdict.suspicious);
  ASSERT_EQ(r.verdict.reasons.size(), 2u) << r.verdict.reasons[0];
  ASSERT_EQ(r.locked, clean.id);
  auto lock = RetentionLockOf(mem_, clean.id);
  ASSERT_TRUE(lock.ok());
  EXPECT_EQ(**lock, attacked.time_ns + kWatchSecond + kSuspectLockSeconds * kWatchSecond);
  // Nothing may forget the locked copy now.
  EXPECT_EQ(ForgetSnapshot(mem_, clean.id, attacked.time_ns).code(), Code::kPermissionDenied);

  // The attack goes on: the next snapshot is flagged too (its baseline
  // leaves the flagged one out), and the same clean one stays locked.
  EncryptEvery(3);
  const ChangeRecord next = Watch(Commit());
  ASSERT_TRUE(next.verdict.suspicious);
  EXPECT_EQ(next.locked, clean.id);
  auto records = ReadChangeRecords(mem_);
  ASSERT_TRUE(records.ok());
  EXPECT_EQ(records->size(), 4u);
}

TEST_P(ChangeWatchTest, ASnapshotNeverWeighedIsWeighedBeforeTheNextOneAndReported) {
  const Snapshot clean = Commit();
  Watch(clean);
  EncryptEvery(4);
  const Snapshot attacked = Commit();  // the vault stopped before weighing it
  files_["dept0/report-1.odt.locked"] += "x";
  const Snapshot next = Commit();
  auto made = WatchSnapshot(*repo_, next, next.time_ns + kWatchSecond);
  ASSERT_TRUE(made.ok()) << made.status().message();
  ASSERT_EQ(made->size(), 2u);
  EXPECT_EQ((*made)[0].snapshot, attacked.id);
  EXPECT_TRUE((*made)[0].verdict.suspicious);
  EXPECT_EQ((*made)[0].locked, clean.id);
  EXPECT_EQ((*made)[1].snapshot, next.id);
  EXPECT_FALSE((*made)[1].verdict.suspicious);
  EXPECT_EQ(ReadChangeRecords(mem_)->size(), 3u);
}

TEST_P(ChangeWatchTest, WhatTheAgentWritesBesideTheContentCannotHideARewrite) {
  Watch(Commit());
  // Encrypted in place, names kept, the old digests and sizes written
  // beside the new content: the chunks tell.
  std::map<std::string, Node> old_nodes;
  for (const auto& [path, content] : files_) old_nodes[path] = FileNode("x", content);
  int i = 0;
  for (auto& [path, content] : files_)
    if (i++ % 5 == 0) content = test::RandomBytes(content.size(), i);
  lie_ = &old_nodes;
  const ChangeRecord r = Watch(Commit());
  lie_ = nullptr;
  EXPECT_EQ(r.signals.changed, 40u);
  EXPECT_EQ(r.signals.became_incompressible, 40u);
  EXPECT_TRUE(r.verdict.suspicious);
}

TEST_P(ChangeWatchTest, ADirectoryThatBecameAFileCountsItsFilesOnce) {
  Watch(Commit());
  std::map<std::string, std::string> after;
  for (auto& [path, content] : files_)
    if (path.rfind("dept4/", 0) != 0) after[path] = content;
  after["dept4"] = test::TextBytes(900, 4);  // a file where the directory was
  files_ = after;
  const ChangeRecord r = Watch(Commit());
  EXPECT_EQ(r.signals.deleted, 40u);
  EXPECT_EQ(r.signals.added, 1u);
  EXPECT_EQ(r.signals.files_after, 161u);
  EXPECT_FALSE(r.verdict.suspicious);  // 20 %: under the deletion floor
  // And back: the file goes, the directory's files come.
  files_.erase("dept4");
  for (int f = 0; f < 40; ++f) files_["dept4/new-" + std::to_string(f)] = "x";
  const ChangeRecord back = Watch(Commit());
  EXPECT_EQ(back.signals.deleted, 1u);
  EXPECT_EQ(back.signals.added, 40u);
  EXPECT_EQ(back.signals.files_after, 200u);
}

TEST_P(ChangeWatchTest, AStoreErrorIsAnErrorNeverAVerdict) {
  Watch(Commit());
  EncryptEvery(5);
  const Snapshot s = Commit();
  fault_->OnlyKeysWithPrefix("change-signals/");
  fault_->FailCalls(StoreOp::kGet, 1, INT_MAX, Status::Unavailable("timed out"));
  auto r = WatchSnapshot(*repo_, s, s.time_ns);
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_EQ(ReadChangeRecords(mem_)->size(), 1u);  // nothing written
  fault_->FailCalls(StoreOp::kGet, 1, 0, Status::OK());
  EXPECT_TRUE(Watch(s).verdict.suspicious);
}

TEST_P(ChangeWatchTest, AnotherIdentitysSnapshotsAreAnotherGroup) {
  Watch(Commit("clerk-01"));
  // An intruder's snapshot of the same host and paths neither serves as
  // the base nor gets the clean snapshot locked.
  EncryptEvery(2);
  const ChangeRecord other = Watch(Commit("intruder"));
  EXPECT_FALSE(other.base.has_value());
  EXPECT_FALSE(other.verdict.suspicious);
  EXPECT_EQ(ListRetentionLocks(mem_)->size(), 0u);
}

TEST_P(ChangeWatchTest, ABlockSnapshotIsNotMeasured) {
  Snapshot s = Commit();
  s.block = BlockInfo{};
  EXPECT_EQ(WatchSnapshot(*repo_, s, s.time_ns).status().code(), Code::kNotFound);
}

INSTANTIATE_TEST_SUITE_P(PlainAndEncrypted, ChangeWatchTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& i) {
                           return i.param ? std::string("encrypted") : std::string("plain");
                         });

}  // namespace
}  // namespace dr
