// The catalog against real repositories written by drctl: versions across
// changes, renames, deletes and re-adds; sync equals rebuild; forgotten
// snapshots leave it; two sites; find with time windows; bad input.
#include "catalog/index/catalog.h"
#include "catalog/index/catalog_query.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "catalog/store/object_store.h"
#include "catalog/store/testing/fault_store.h"
#include "tests/test_util.h"

namespace dr {
namespace {

class CatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(src_ + "/docs/deep");
    ASSERT_EQ(test::RunDrctl({"-r", repo_, "init"}).exit_code, 0);
    auto c = Catalog::Open(dir_ / "catalog.db");
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    catalog_ = std::move(*c);
  }

  // Backs up src_, returns the snapshot id.
  std::string Backup(const std::string& repo = "") {
    auto r = test::RunDrctl({"-r", repo.empty() ? repo_ : repo, "--json", "backup", src_});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out)["snapshot"].get<std::string>();
  }

  std::unique_ptr<Repository> OpenRepository(const std::string& path) {
    auto store = OpenObjectStore(path);
    EXPECT_TRUE(store.ok());
    auto repo = Repository::Open(std::move(*store));
    EXPECT_TRUE(repo.ok()) << repo.status().ToString();
    return std::move(*repo);
  }

  CatalogSyncReport Sync(Catalog& c, const std::string& repo, const std::string& site) {
    auto opened = OpenRepository(repo);
    auto r = c.Sync(*opened, site, repo);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : CatalogSyncReport{};
  }

  std::vector<FileVersion> Versions(Catalog& c, const std::string& path) {
    auto v = c.Versions(path);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? *v : std::vector<FileVersion>{};
  }

  // Everything the catalog can say about the source tree, as text.
  std::string Dump(Catalog& c) {
    auto all = c.Find(FindQuery{src_ + "*", {}, {}, false, 0});
    EXPECT_TRUE(all.ok()) << all.status().ToString();
    std::string out;
    for (const FileVersion& v : *all) {
      out += v.path + " " + NodeTypeName(v.type) + " " + std::to_string(v.size) + " " + v.digest +
             v.link_target + " " + v.first_snapshot + ".." + v.last_snapshot + " " +
             std::to_string(v.snapshots) + "\n";
    }
    return out;
  }

  test::TempDir dir_{"catalog"};
  std::string repo_ = dir_ / "repo", src_ = dir_ / "src";
  std::unique_ptr<Catalog> catalog_;
};

TEST_F(CatalogTest, VersionsFollowChangesRenamesDeletesAndReAdds) {
  const std::string a = src_ + "/docs/a.txt", b = src_ + "/docs/b.txt", c = src_ + "/docs/c.txt";
  test::WriteFile(a, "first");
  test::WriteFile(b, test::TextBytes(5000, 1));
  test::WriteFile(src_ + "/docs/deep/stable.bin", test::RandomBytes(100000, 2));
  const std::string s1 = Backup();
  const std::string s2 = Backup();  // nothing changed
  test::WriteFile(a, "second version");
  std::filesystem::rename(b, c);
  const std::string s3 = Backup();
  std::filesystem::remove(a);
  const std::string s4 = Backup();
  test::WriteFile(a, "first");
  const std::string s5 = Backup();
  Sync(*catalog_, repo_, "local");

  auto va = Versions(*catalog_, a);
  ASSERT_EQ(va.size(), 3u);
  EXPECT_EQ(va[0].first_snapshot, s1);
  EXPECT_EQ(va[0].last_snapshot, s2);
  EXPECT_EQ(va[0].snapshots, 2);
  EXPECT_EQ(va[0].size, 5u);
  EXPECT_EQ(va[1].first_snapshot, s3);
  EXPECT_EQ(va[1].last_snapshot, s3);
  EXPECT_EQ(va[1].size, 14u);
  EXPECT_EQ(va[2].first_snapshot, s5);  // re-added after s4 had none
  EXPECT_EQ(va[2].digest, va[0].digest) << "same content, so the same digest";
  EXPECT_EQ(va[2].sites, std::vector<std::string>{"local"});

  auto vb = Versions(*catalog_, b);
  ASSERT_EQ(vb.size(), 1u);
  EXPECT_EQ(vb[0].last_snapshot, s2);
  auto vc = Versions(*catalog_, c);
  ASSERT_EQ(vc.size(), 1u);
  EXPECT_EQ(vc[0].first_snapshot, s3);
  EXPECT_EQ(vc[0].last_snapshot, s5);
  EXPECT_EQ(vc[0].digest, vb[0].digest);

  auto stable = Versions(*catalog_, src_ + "/docs/deep/stable.bin/");  // a trailing slash is fine
  ASSERT_EQ(stable.size(), 1u);
  EXPECT_EQ(stable[0].snapshots, 5);
  EXPECT_TRUE(Versions(*catalog_, src_ + "/never-there").empty());
  EXPECT_FALSE(catalog_->Versions("relative/path").ok());
}

TEST_F(CatalogTest, SyncAfterEveryBackupEqualsOneRebuildAndFollowsOnlyChanges) {
  test::WriteFile(src_ + "/docs/a.txt", "one");
  test::WriteFile(src_ + "/docs/deep/x", test::TextBytes(3000, 3));
  std::filesystem::create_symlink("docs/a.txt", src_ + "/link");
  Backup();
  auto first = Sync(*catalog_, repo_, "local");
  EXPECT_EQ(first.snapshots_added, 1);
  // src's ancestors, src, docs, a.txt, deep, x and link.
  EXPECT_GE(first.versions_added, 6u);

  // Unchanged: src's tree is the same, so nothing below it is read or
  // added. (Its ancestors, the test's temporary directory and /tmp, may have
  // new mtimes: other programs write there.)
  Backup();
  auto same = Sync(*catalog_, repo_, "local");
  EXPECT_EQ(same.snapshots_added, 1);
  EXPECT_LE(same.versions_added, 2u);

  test::WriteFile(src_ + "/docs/deep/x", test::TextBytes(3000, 4));
  Backup();
  auto one = Sync(*catalog_, repo_, "local");
  EXPECT_EQ(one.snapshots_added, 1);
  EXPECT_GE(one.versions_added, 1u);
  EXPECT_LE(one.versions_added, 4u) << "the file, its directory if its mtime moved, ancestors";

  std::filesystem::remove(src_ + "/link");
  std::filesystem::create_symlink("docs/deep/x", src_ + "/link");
  std::filesystem::remove_all(src_ + "/docs/deep");
  Backup();
  auto replaced = Sync(*catalog_, repo_, "local");
  EXPECT_GE(replaced.versions_added, 2u) << "the new link and docs' mtime";
  EXPECT_LE(replaced.versions_added, 4u);
  auto again = Sync(*catalog_, repo_, "local");
  EXPECT_EQ(again.snapshots_added, 0);

  auto rebuilt = Catalog::Open(dir_ / "rebuilt.db");
  ASSERT_TRUE(rebuilt.ok());
  auto opened = OpenRepository(repo_);
  auto r = (*rebuilt)->Rebuild(*opened, "local", repo_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->snapshots_added, 4);
  EXPECT_EQ(Dump(**rebuilt), Dump(*catalog_));
  EXPECT_NE(Dump(*catalog_).find(src_ + "/docs/deep/x file 3000"), std::string::npos)
      << Dump(*catalog_);

  auto links = Versions(*catalog_, src_ + "/link");
  ASSERT_EQ(links.size(), 2u);
  EXPECT_EQ(links[0].link_target, "docs/a.txt");
  EXPECT_EQ(links[1].link_target, "docs/deep/x");
}

TEST_F(CatalogTest, ForgottenSnapshotsLeaveTheCatalog) {
  const std::string f = src_ + "/docs/f";
  test::WriteFile(f, "v1");
  const std::string s1 = Backup();
  test::WriteFile(f, "version two");
  const std::string s2 = Backup();
  const std::string s3 = Backup();
  Sync(*catalog_, repo_, "local");
  ASSERT_EQ(Versions(*catalog_, f).size(), 2u);

  auto forget = test::RunDrctl({"-q", "-r", repo_, "forget", "--keep-last", "1"});
  ASSERT_EQ(forget.exit_code, 0) << forget.err;
  auto report = Sync(*catalog_, repo_, "local");
  EXPECT_EQ(report.snapshots_removed, 2);
  auto left = Versions(*catalog_, f);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].first_snapshot, s3);
  EXPECT_EQ(left[0].snapshots, 1);
  auto points = catalog_->RecoveryPoints();
  ASSERT_TRUE(points.ok());
  ASSERT_EQ(points->size(), 1u);
  EXPECT_EQ((*points)[0].id, s3);
  EXPECT_EQ((*points)[0].kind, "files");
  EXPECT_EQ((*points)[0].paths, std::vector<std::string>{src_});
  (void)s1;
  (void)s2;
}

TEST_F(CatalogTest, TheNewestSnapshotForgottenWhileItsSourceGoesOnLosesNoVersion) {
  const std::string f = src_ + "/docs/f";
  test::WriteFile(f, "v1");
  Backup();
  test::WriteFile(f, "version two");
  const std::string s2 = Backup();
  Sync(*catalog_, repo_, "local");
  // s2 is forgotten; the next backup still holds version two unchanged.
  std::filesystem::remove(repo_ + "/snapshots/" + s2);
  EXPECT_EQ(Sync(*catalog_, repo_, "local").snapshots_removed, 1);
  const std::string s3 = Backup();
  Sync(*catalog_, repo_, "local");
  auto v = Versions(*catalog_, f);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[1].size, 11u);
  EXPECT_EQ(v[1].first_snapshot, s3);
  EXPECT_EQ(v[1].snapshots, 1);
}

TEST_F(CatalogTest, AnUnreadableSnapshotIsNotTakenForAForgottenOne) {
  test::WriteFile(src_ + "/docs/f", "kept");
  const std::string s1 = Backup();
  Sync(*catalog_, repo_, "local");
  // Reading the snapshot fails once (a vault or network hiccup).
  auto base = OpenObjectStore(repo_);
  ASSERT_TRUE(base.ok());
  auto faulty = std::make_unique<FaultStore>(base->get());
  faulty->OnlyKeysWithPrefix("snapshots/");
  faulty->FailCalls(StoreOp::kGet, 1, 1, Status::Unavailable("injected: timeout"));
  auto repo = Repository::Open(std::move(faulty));
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  auto r = catalog_->Sync(**repo, "local", repo_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->snapshots_removed, 0);
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_NE(r->warnings[0].find("nothing dropped"), std::string::npos) << r->warnings[0];
  ASSERT_EQ(Versions(*catalog_, src_ + "/docs/f").size(), 1u);
  EXPECT_EQ(Versions(*catalog_, src_ + "/docs/f")[0].first_snapshot, s1);
}

TEST_F(CatalogTest, TwoSitesHoldingTheSameSnapshotsAreBothNamed) {
  test::WriteFile(src_ + "/docs/a.txt", "shared");
  Backup();
  // The off-site copy: the same repository, copied object for object.
  std::filesystem::copy(repo_, dir_ / "offsite", std::filesystem::copy_options::recursive);
  test::WriteFile(src_ + "/docs/a.txt", "only at the same-city site");
  Backup();
  Sync(*catalog_, repo_, "same-city");
  Sync(*catalog_, dir_ / "offsite", "off-site");
  auto v = Versions(*catalog_, src_ + "/docs/a.txt");
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].sites, (std::vector<std::string>{"off-site", "same-city"}));
  EXPECT_EQ(v[0].snapshots, 1) << "one snapshot, held at two sites";
  EXPECT_EQ(v[1].sites, std::vector<std::string>{"same-city"});
  auto offsite = catalog_->RecoveryPoints("off-site");
  ASSERT_TRUE(offsite.ok());
  EXPECT_EQ(offsite->size(), 1u);

  // A site name is bound to its repository.
  ASSERT_EQ(test::RunDrctl({"-r", dir_ / "other", "init"}).exit_code, 0);
  auto other = OpenRepository(dir_ / "other");
  auto wrong = catalog_->Sync(*other, "same-city", dir_ / "other");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("site 'same-city' is repository"), std::string::npos)
      << wrong.status().ToString();
  EXPECT_EQ(Versions(*catalog_, src_ + "/docs/a.txt").size(), 2u) << "nothing lost";
}

TEST_F(CatalogTest, FindMatchesNamesOrPathsWithinATimeWindow) {
  test::WriteFile(src_ + "/docs/report.odt", "r1");
  test::WriteFile(src_ + "/docs/deep/notes.txt", "n1");
  Backup();
  auto points = [&] {
    Sync(*catalog_, repo_, "local");
    return *catalog_->RecoveryPoints();
  };
  const int64_t t1 = points().back().time_ns;
  test::WriteFile(src_ + "/docs/report.odt", "r2 changed");
  Backup();
  const int64_t t2 = points().back().time_ns;

  auto by_name = catalog_->Find(FindQuery{"*.odt", {}, {}, false, 0});
  ASSERT_TRUE(by_name.ok());
  ASSERT_EQ(by_name->size(), 2u);
  EXPECT_EQ((*by_name)[0].path, src_ + "/docs/report.odt");
  auto by_path = catalog_->Find(FindQuery{src_ + "/docs/deep/*", {}, {}, false, 0});
  ASSERT_TRUE(by_path.ok());
  ASSERT_EQ(by_path->size(), 1u);
  EXPECT_EQ((*by_path)[0].path, src_ + "/docs/deep/notes.txt");

  auto changed = catalog_->Find(FindQuery{"*", t2, {}, true, 0});
  ASSERT_TRUE(changed.ok());
  std::vector<std::string> paths;
  for (const auto& v : *changed) paths.push_back(v.path);
  EXPECT_NE(std::find(paths.begin(), paths.end(), src_ + "/docs/report.odt"), paths.end());
  EXPECT_EQ(std::find(paths.begin(), paths.end(), src_ + "/docs/deep/notes.txt"), paths.end());

  auto before = catalog_->Find(FindQuery{"*.odt", {}, t1, false, 0});
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->size(), 1u);
  EXPECT_EQ((*before)[0].size, 2u);
  auto limited = catalog_->Find(FindQuery{"*", {}, {}, false, 1});
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->size(), 1u);
  EXPECT_FALSE(catalog_->Find(FindQuery{}).ok());
}

TEST_F(CatalogTest, ASnapshotOlderThanItsLineagesNewestIsIndexedInOrder) {
  const std::string f = src_ + "/docs/f";
  test::WriteFile(f, "old");
  const std::string s1 = Backup();
  test::WriteFile(f, "newer text");
  const std::string s2 = Backup();
  // The older snapshot arrives late (a replica catching up): hide it, sync,
  // then let it appear.
  const std::string hidden = repo_ + "/snapshots/" + s1, aside = dir_ / "s1-aside";
  ASSERT_TRUE(std::filesystem::exists(hidden)) << hidden;
  std::filesystem::rename(hidden, aside);
  EXPECT_EQ(Sync(*catalog_, repo_, "local").snapshots_added, 1);
  std::filesystem::rename(aside, hidden);
  auto late = Sync(*catalog_, repo_, "local");
  EXPECT_EQ(late.snapshots_added, 1);
  EXPECT_EQ(late.lineages_reindexed, 1);
  auto v = Versions(*catalog_, f);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].first_snapshot, s1);
  EXPECT_EQ(v[1].first_snapshot, s2);

  auto fresh = Catalog::Open(dir_ / "fresh.db");
  ASSERT_TRUE(fresh.ok());
  Sync(**fresh, repo_, "local");
  EXPECT_EQ(Dump(**fresh), Dump(*catalog_));
}

TEST(CatalogFile, ADamagedCatalogIsNamedAndCanBeMadeAgain) {
  test::TempDir dir("catalog-damaged");
  const std::string path = dir / "catalog.db";
  test::WriteFile(path, std::string(8192, 'x'));
  auto bad = Catalog::Open(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(path), std::string::npos) << bad.status().ToString();
  std::filesystem::remove(path);
  EXPECT_TRUE(Catalog::Open(path).ok());
  EXPECT_FALSE(Catalog::Open(dir / "no/such/dir/catalog.db").ok());
}

// What a vault answers its agents: the same rows as asked directly, raw
// (non-UTF-8) paths intact, and every malformed question refused by name.
TEST_F(CatalogTest, AnswersOverTheWireCarryTheSameRowsAndRefuseBadQuestions) {
  const std::string odd = src_ + "/\xd6\xd0\xce\xc4.txt";  // GBK bytes
  test::WriteFile(odd, "v1");
  Backup();
  test::WriteFile(odd, "version 2");
  Backup();
  Sync(*catalog_, repo_, "local");
  auto answer = AnswerCatalogRequest(*catalog_, VersionsRequest(odd));
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  auto rows = VersionsFromAnswer(*answer);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  auto direct = Versions(*catalog_, odd);
  ASSERT_EQ(rows->size(), 2u);
  for (size_t i = 0; i < direct.size(); ++i) {
    EXPECT_EQ((*rows)[i].path, odd);
    EXPECT_EQ((*rows)[i].size, direct[i].size);
    EXPECT_EQ((*rows)[i].digest, direct[i].digest);
    EXPECT_EQ((*rows)[i].first_snapshot, direct[i].first_snapshot);
    EXPECT_EQ((*rows)[i].sites, direct[i].sites);
  }
  auto found = AnswerCatalogRequest(*catalog_, FindRequest(FindQuery{"*.txt", {}, {}, false, 0}));
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(VersionsFromAnswer(*found)->size(), 2u);
  auto points = AnswerCatalogRequest(*catalog_, RecoveryPointsRequest(""));
  ASSERT_TRUE(points.ok());
  EXPECT_EQ(RecoveryPointsFromAnswer(*points)->size(), 2u);
  for (const char* bad : {"", "[]", "{\"query\":\"drop table\"}", "{\"query\":\"versions\"}",
                          "{\"query\":\"versions\",\"path\":\"zz\"}",
                          "{\"query\":\"find\",\"pattern\":\"2a\",\"limit\":\"x\"}"}) {
    auto r = AnswerCatalogRequest(*catalog_, bad);
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(VersionsFromAnswer("{\"versions\":[{\"path\":1}]}").ok());
}

}  // namespace
}  // namespace dr
