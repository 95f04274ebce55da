// Prune of a vault's repository while the vault serves agents: an open
// agent session holds back deletion, backups through the vault keep
// working after a prune repacked and deleted, and every snapshot left
// restores exactly; and a vault prunes by itself on its schedule.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "catalog/store/object_store.h"
#include "replicator/wire/vault_client.h"
#include "tests/test_util.h"
#include "tests/vault_harness.h"

namespace dr {
namespace {

using test::AgentKey;
using test::RunDrctl;
using test::VaultSite;

nlohmann::json PruneJson(const std::string& repo) {
  auto r = RunDrctl({"--json", "-r", repo, "prune"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out, nullptr, false);
}

TEST(VaultPrune, AnOpenAgentSessionHoldsBackDeletionAndBackupsKeepWorking) {
  test::TempDir dir("vault-prune");
  std::filesystem::create_directories(dir / "vault");
  VaultSite vault(dir / "vault", test::TestPort(7),
                  VaultSite::Options{"dir://" + dir / "repo", 32, "", ""});
  AgentKey key = test::MakeAgentKey(dir.path(), "records");
  vault.Enrol("records", key.pub_file, "finance", "backup,restore");
  vault.Start();
  const std::string repo = vault.RepositoryOf("finance");
  const std::string src = dir / "src";
  std::filesystem::create_directories(src);

  // Three backups, each with 2 MiB that only it has; keep the last one.
  for (int i = 0; i < 3; ++i) {
    test::WriteFile(src + "/data", test::RandomBytes(2 << 20, 100 + i));
    test::WriteFile(src + "/stable", test::RandomBytes(300 << 10, 7));
    auto b = vault.Agent(key, "finance", {"-q", "backup", src});
    ASSERT_EQ(b.exit_code, 0) << b.err;
  }
  auto forget = RunDrctl({"-q", "-r", repo, "forget", "--keep-last", "1"});
  ASSERT_EQ(forget.exit_code, 0) << forget.err;

  {
    auto session = vault.Connect(key, "finance");  // an agent in the middle of a backup
    ASSERT_TRUE(session.ok()) << session.status().ToString();
    // The sessions of the backups above end when the vault reads their
    // bye, which a slow machine may not have done yet; a session whose bye
    // never came lets go of its marker after a minute of silence.
    std::string markers;
    ASSERT_TRUE(test::WaitFor(100,
                              [&] {
                                markers = test::LiveSessionMarkers(repo);
                                return std::count(markers.begin(), markers.end(), '\n') == 1;
                              }))
        << markers << vault.Log();
    auto held = PruneJson(repo);
    EXPECT_GT(held["condemned_unused"].get<int>() + held["condemned_repacked"].get<int>(), 0);
    EXPECT_EQ(held["packs_deleted"].get<int>(), 0);
    EXPECT_EQ(held["records_waiting"].get<int>(), 1);
    ASSERT_EQ(held["waiting_for"].size(), 1u);
    EXPECT_NE(held["waiting_for"][0].get<std::string>().find("vault session of records"),
              std::string::npos);
  }  // the session says bye

  auto freed = PruneJson(repo);
  EXPECT_GT(freed["packs_deleted"].get<int>(), 0);
  EXPECT_EQ(freed["records_waiting"].get<int>(), 0);

  // The vault still takes backups (it learns where repacked blobs went),
  // and what is left restores exactly.
  test::WriteFile(src + "/data", test::RandomBytes(2 << 20, 200));
  auto b = vault.Agent(key, "finance", {"-q", "backup", src});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  auto check = RunDrctl({"-r", repo, "check", "--read-data"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  auto r = vault.Agent(key, "finance", {"-q", "restore", "latest", "--target", dir / "out"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(test::ReadFile(dir / "out" + src + "/data"), test::ReadFile(src + "/data"));
  EXPECT_EQ(test::ReadFile(dir / "out" + src + "/stable"), test::ReadFile(src + "/stable"));
}

TEST(VaultPrune, TheVaultPrunesOnItsScheduleWhileAgentsBackUp) {
  test::TempDir dir("vault-prune-schedule");
  std::filesystem::create_directories(dir / "vault");
  VaultSite::Options options{"dir://" + dir / "repo", 32, "", ""};
  options.extra_config = "prune_every: 2s\n";
  VaultSite vault(dir / "vault", test::TestPort(8), options);
  AgentKey key = test::MakeAgentKey(dir.path(), "records");
  vault.Enrol("records", key.pub_file, "finance", "backup,restore");
  const std::string src = dir / "src";
  std::filesystem::create_directories(src);
  test::WriteFile(dir / "p.yaml",
                  "name: records\nnamespace: finance\nagents: [records]\n"
                  "sources:\n  paths: [" +
                      src +
                      "]\nschedule:\n  every: 1h\nretention:\n  same-city:\n"
                      "    keep-last: 1\n");
  auto applied =
      test::RunProgram({DRVAULT_PATH, "-c", vault.config(), "policy", "apply", dir / "p.yaml"});
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  vault.Start();
  const std::string repo = vault.RepositoryOf("finance");

  uint64_t peak = 0;
  for (int i = 0; i < 4; ++i) {
    test::WriteFile(src + "/data", test::RandomBytes(2 << 20, 300 + i));
    auto b = vault.Agent(key, "finance", {"-q", "backup", "--policy", "records", src});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    peak = std::max(peak, test::StoredPackBytes(repo));
  }
  // Keep-last 1 leaves one 2 MiB version; the three others go with a prune.
  // (Within the minute a silent session keeps its marker, at most.)
  // The packs go before the run logs its event and counts its metrics, and an
  // earlier run that deleted nothing may already have logged prune_done, so
  // wait for the metric that only the deleting run moves.
  ASSERT_TRUE(test::WaitFor(120,
                            [&] {
                              return test::StoredPackBytes(repo) < (4u << 20) &&
                                     vault.Metric("drvault_prune_deleted_bytes_total") >= (4 << 20);
                            }))
      << test::StoredPackBytes(repo) << " bytes in packs; live sessions:\n"
      << test::LiveSessionMarkers(repo) << vault.Log();
  EXPECT_NE(vault.Log().find("\"prune_done\""), std::string::npos);
  EXPECT_GE(vault.Metric("drvault_prune_runs_total"), 1);
  EXPECT_GE(vault.Metric("drvault_prune_deleted_bytes_total"), 4 << 20);
  EXPECT_GT(peak, 6u << 20);

  // Backups still work, and what is left checks clean and restores.
  test::WriteFile(src + "/data", test::RandomBytes(2 << 20, 400));
  auto b = vault.Agent(key, "finance", {"-q", "backup", "--policy", "records", src});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  auto check = RunDrctl({"-r", repo, "check", "--read-data"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  auto r = vault.Agent(key, "finance", {"-q", "restore", "latest", "--target", dir / "out"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(test::ReadFile(dir / "out" + src + "/data"), test::ReadFile(src + "/data"));
}

}  // namespace
}  // namespace dr
