// drctl / dragent catalog sync, versions, find and recovery-points as real
// processes: a local repository, and a vault reached with the restore right.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/test_util.h"
#include "tests/vault_harness.h"

namespace dr {
namespace {

using test::RunDrctl;

nlohmann::json CatalogJson(const test::CommandResult& r) {
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  return nlohmann::json::parse(r.out, nullptr, false);
}

TEST(CatalogCli, SyncThenAskWhichVersionsExistAndFindThem) {
  test::TempDir dir("catalog-cli");
  const std::string repo = dir / "repo", src = dir / "src", db = dir / "catalog.db";
  std::filesystem::create_directories(src + "/finance");
  ASSERT_EQ(RunDrctl({"-r", repo, "init"}).exit_code, 0);
  test::WriteFile(src + "/finance/budget.ods", "2026 draft");
  ASSERT_EQ(RunDrctl({"-q", "-r", repo, "backup", src}).exit_code, 0);
  test::WriteFile(src + "/finance/budget.ods", "2026 final, approved");
  ASSERT_EQ(RunDrctl({"-q", "-r", repo, "backup", src}).exit_code, 0);

  auto sync = CatalogJson(RunDrctl({"--json", "-r", repo, "catalog", "sync", "--catalog", db}));
  EXPECT_EQ(sync["snapshots_added"], 2);
  EXPECT_EQ(sync["site"], repo) << "a site is named by its URL unless --site says otherwise";

  auto versions =
      CatalogJson(RunDrctl({"--json", "versions", src + "/finance/budget.ods", "--catalog", db}));
  ASSERT_EQ(versions.size(), 2u) << versions.dump();
  EXPECT_EQ(versions[0]["size"], 10);
  EXPECT_EQ(versions[1]["size"], 20);
  EXPECT_EQ(versions[1]["sites"][0], repo);
  EXPECT_EQ(versions[0]["digest"].get<std::string>().size(), 32u);
  auto table = RunDrctl({"versions", src + "/finance/budget.ods", "--catalog", db});
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_NE(table.out.find("first seen"), std::string::npos) << table.out;

  // The catalog answers by itself: the repository may be gone.
  std::filesystem::rename(repo, dir / "repo-away");
  auto found = CatalogJson(RunDrctl({"--json", "find", "*.ods", "--catalog", db}));
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0]["path"], src + "/finance/budget.ods");
  auto points = CatalogJson(RunDrctl({"--json", "recovery-points", "--catalog", db}));
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[0]["kind"], "files");
  EXPECT_EQ(points[1]["site_lag_s"], 0);
  std::filesystem::rename(dir / "repo-away", repo);

  // Mistakes: one line naming what is wrong, nothing changed.
  auto relative = RunDrctl({"versions", "finance/budget.ods", "--catalog", db});
  EXPECT_EQ(relative.exit_code, 1);
  EXPECT_NE(relative.err.find("'finance/budget.ods' is not an absolute path"), std::string::npos)
      << relative.err;
  auto absent = RunDrctl({"versions", src + "/nothing", "--catalog", db});
  EXPECT_EQ(absent.exit_code, 1);
  EXPECT_NE(absent.err.find("catalog sync"), std::string::npos) << absent.err;
  auto bad_time = RunDrctl({"find", "*", "--since", "yesterday-ish", "--catalog", db});
  EXPECT_EQ(bad_time.exit_code, 1);
  EXPECT_NE(bad_time.err.find("yesterday-ish"), std::string::npos) << bad_time.err;
  auto no_dir = RunDrctl({"-r", repo, "catalog", "sync", "--catalog", dir / "none/catalog.db"});
  EXPECT_EQ(no_dir.exit_code, 1);
  EXPECT_NE(no_dir.err.find(dir / "none/catalog.db"), std::string::npos) << no_dir.err;
  ASSERT_EQ(RunDrctl({"-r", dir / "other", "init"}).exit_code, 0);
  auto other = RunDrctl({"-r", dir / "other", "catalog", "sync", "--site", repo, "--catalog", db});
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_NE(other.err.find("is repository"), std::string::npos) << other.err;
  EXPECT_EQ(CatalogJson(RunDrctl({"--json", "find", "*.ods", "--catalog", db})).size(), 2u);

  auto rebuilt =
      CatalogJson(RunDrctl({"--json", "-r", repo, "catalog", "rebuild", "--catalog", db}));
  EXPECT_EQ(rebuilt["snapshots_added"], 2);
}

TEST(CatalogCli, AnAgentWithTheRestoreRightSyncsThroughItsVault) {
  test::TempDir dir("catalog-vault");
  std::filesystem::create_directories(dir / "vault");
  test::VaultSite vault(dir / "vault", test::TestPort(3),
                        test::VaultSite::Options{"dir://" + dir / "repo", 32, "", "", ""});
  test::AgentKey key = test::MakeAgentKey(dir.path(), "payroll");
  vault.Enrol("payroll", key.pub_file, "hr", "backup,restore");
  vault.Start();
  const std::string src = dir / "src", db = dir / "catalog.db";
  std::filesystem::create_directories(src);
  for (int i = 0; i < 2; ++i) {
    test::WriteFile(src + "/ledger.db", test::RandomBytes(50000 + i, 80 + i));
    ASSERT_EQ(vault.Agent(key, "hr", {"-q", "backup", src}).exit_code, 0);
  }
  auto sync = CatalogJson(vault.Agent(
      key, "hr", {"--json", "catalog", "sync", "--site", "same-city", "--catalog", db}));
  EXPECT_EQ(sync["snapshots_added"], 2);
  auto versions = CatalogJson(
      vault.Agent(key, "hr", {"--json", "versions", src + "/ledger.db", "--catalog", db}));
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_EQ(versions[0]["sites"][0], "same-city");
  EXPECT_EQ(versions[1]["size"], 50001);
}

// Without a catalog of their own, agents ask the vault, which keeps the
// namespace's catalog current after every commit; only with the restore
// right.
TEST(CatalogCli, TheVaultKeepsEachNamespacesCatalogAndAnswersItsAgents) {
  test::TempDir dir("catalog-at-vault");
  std::filesystem::create_directories(dir / "vault");
  test::VaultSite vault(dir / "vault", test::TestPort(5),
                        test::VaultSite::Options{"dir://" + dir / "repo", 32, "", "", ""});
  test::AgentKey key = test::MakeAgentKey(dir.path(), "payroll");
  test::AgentKey writer = test::MakeAgentKey(dir.path(), "writer");
  vault.Enrol("payroll", key.pub_file, "hr", "backup,restore");
  vault.Enrol("writer", writer.pub_file, "hr", "backup");
  vault.Start();
  const std::string src = dir / "src";
  std::filesystem::create_directories(src + "/sub");
  test::WriteFile(src + "/sub/payroll.csv", "salaries");
  auto versions_of = [&](const std::string& path) {
    return vault.Agent(key, "hr", {"--json", "versions", path});
  };
  for (int i = 0; i < 3; ++i) {
    test::WriteFile(src + "/ledger.db", test::RandomBytes(50000 + i, 90 + i));
    ASSERT_EQ(vault.Agent(key, "hr", {"-q", "backup", src}).exit_code, 0);
    // Current after each commit, without anyone syncing.
    ASSERT_TRUE(test::WaitFor(30,
                              [&] {
                                auto r = versions_of(src + "/ledger.db");
                                auto j = nlohmann::json::parse(r.out, nullptr, false);
                                return r.exit_code == 0 && j.is_array() &&
                                       j.size() == static_cast<size_t>(i + 1);
                              }))
        << versions_of(src + "/ledger.db").err << vault.Log();
  }
  auto versions = CatalogJson(versions_of(src + "/ledger.db"));
  EXPECT_EQ(versions[2]["size"], 50002);
  EXPECT_EQ(versions[0]["sites"][0], "same-city");
  auto found = CatalogJson(vault.Agent(key, "hr", {"--json", "find", "*.csv"}));
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0]["path"], src + "/sub/payroll.csv");
  EXPECT_EQ(found[0]["snapshots"], 3);
  auto points = CatalogJson(vault.Agent(key, "hr", {"--json", "recovery-points"}));
  EXPECT_EQ(points.size(), 3u);
  // A backup-only key may not ask.
  auto refused = vault.Agent(writer, "hr", {"versions", src + "/ledger.db"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("lacks the restore right"), std::string::npos) << refused.err;
  // The catalog is derived: deleted, it is built again.
  vault.Stop();
  std::filesystem::remove_all(dir / "vault/state/catalog");
  vault.Start();
  EXPECT_EQ(CatalogJson(versions_of(src + "/ledger.db")).size(), 3u);
}

}  // namespace
}  // namespace dr
