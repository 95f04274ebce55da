// Prune of a vault's repository while the vault serves agents: an open
// agent session holds back deletion, backups through the vault keep
// working after a prune repacked and deleted, and every snapshot left
// restores exactly.
#include <gtest/gtest.h>

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
    // bye, which a slow machine may not have done yet.
    ASSERT_TRUE(test::WaitFor(30, [&] {
      auto store = OpenObjectStore(repo);
      if (!store.ok()) return false;
      auto live = (*store)->List("sessions/");
      return live.ok() && live->size() == 1;
    }));
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

}  // namespace
}  // namespace dr
