// The keyless off-site vault's own retention and prune of an encrypted
// namespace (docs/design.md, "Who can see and do what"): it reads no
// snapshot, only the summaries and reference lists its peer sends beside
// each one. Real drvault, dragent and drctl processes.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "catalog/store/object_store.h"
#include "tests/test_util.h"
#include "tests/vault_harness.h"

namespace dr {
namespace {

using test::AgentKey;
using test::StoredKeys;
using test::VaultSite;

// The off-site vault holds no key, yet applies its own retention to an
// encrypted namespace from the summaries its peer sends beside each
// sealed snapshot (catalog/snapshot_summary.h).
// A same-city and a keyless off-site vault, an encrypted namespace
// "finance" and its policy "ledger" (agent ledger-01, source `src`) with
// `retention` (YAML under `retention:`) applied at both; `*_extra` are more
// lines of each vault's config.
struct LedgerSites {
  LedgerSites(const std::string& name, const std::string& retention,
              const std::string& offsite_extra = "", const std::string& primary_extra = "")
      : dir(name) {
    for (const char* d : {"offsite", "primary"}) std::filesystem::create_directories(dir / d);
    offsite = std::make_unique<VaultSite>(
        dir / "offsite", test::TestPort(40),
        VaultSite::Options{
            "dir://" + dir / "offsite-repo", 32, "", "", "off-site", {}, offsite_extra});
    primary = std::make_unique<VaultSite>(dir / "primary", test::TestPort(42),
                                          VaultSite::Options{"dir://" + dir / "primary-repo",
                                                             32,
                                                             offsite->endpoint(),
                                                             offsite->server_pub(),
                                                             "",
                                                             {},
                                                             primary_extra});
    agent = test::MakeAgentKey(dir.path(), "ledger-01");
    primary->Enrol("ledger-01", agent.pub_file, "finance", "backup,restore",
                   {"--encrypt", "--escrow-key-file", escrow});
    offsite->Enrol("primary", primary->OffsiteClientPub(), "*", "replicate");
    std::filesystem::create_directories(src);
    test::WriteFile(dir / "ledger.yaml",
                    "name: ledger\nnamespace: finance\nagents: [ledger-01]\nsources:\n  paths: [" +
                        src + "]\nschedule:\n  every: 1h\nrpo: 2h\nretention:\n" + retention);
  }
  // Applies the policy at both sites and starts them.
  void Start() {
    for (const VaultSite* site : {primary.get(), offsite.get()}) {
      auto r = test::RunProgram(
          {DRVAULT_PATH, "-c", site->config(), "policy", "apply", dir / "ledger.yaml"});
      ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    }
    offsite->Start();
    primary->Start();
  }
  void Backup() {
    auto r = primary->Agent(agent, "finance", {"-q", "backup", src, "--policy", "ledger"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  test::TempDir dir;
  std::unique_ptr<VaultSite> offsite, primary;
  AgentKey agent;
  const std::string escrow = dir / "escrow.key";
  const std::string src = dir / "src";
};

TEST(VaultEncryptionRetention, TheKeylessOffsiteKeepsByItsOwnRulesFromSummaries) {
  LedgerSites sites("vault-encryption-retention",
                    "  same-city:\n    keep-last: 3\n  off-site:\n    keep-last: 1\n");
  ASSERT_NO_FATAL_FAILURE(sites.Start());
  VaultSite &primary = *sites.primary, &offsite = *sites.offsite;
  const std::string &src = sites.src, &escrow = sites.escrow;
  test::TempDir& dir = sites.dir;
  for (int i = 0; i < 3; ++i) {
    test::WriteFile(src + "/ledger.csv", test::RandomBytes(64 << 10, 900 + i));
    ASSERT_NO_FATAL_FAILURE(sites.Backup());
  }
  const std::string at_primary = primary.RepositoryOf("finance");
  const std::string at_offsite = offsite.RepositoryOf("finance");
  ASSERT_TRUE(test::WaitFor(90, [&] {
    return StoredKeys(at_offsite, "forgotten/").size() == 2 &&
           StoredKeys(at_offsite, "snapshots/").size() == 1;
  })) << offsite.Log();
  EXPECT_EQ(StoredKeys(at_primary, "snapshots/").size(), 3u);
  // What it kept is the newest, and it restores with the escrowed key.
  auto listed = test::RunDrctl({"--key-file", escrow, "-r", at_primary, "--json", "snapshots"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  auto snapshots = nlohmann::json::parse(listed.out, nullptr, false);
  ASSERT_TRUE(snapshots.is_array() && snapshots.size() == 3) << listed.out;
  EXPECT_EQ("snapshots/" + snapshots.back().value("id", ""),
            StoredKeys(at_offsite, "snapshots/").back());
  auto restored = test::RunDrctl(
      {"--key-file", escrow, "-r", at_offsite, "restore", "latest", "--target", dir / "restored"});
  ASSERT_EQ(restored.exit_code, 0) << restored.err;
  auto diffs = test::CompareTrees(src, dir / "restored" + src);
  EXPECT_TRUE(diffs.empty()) << diffs[0];
  // Its RPO is judged from the summaries too: the newest copy is minutes old.
  auto status = test::RunProgram({DRVAULT_PATH, "-c", offsite.config(), "status", "--json"});
  EXPECT_EQ(status.exit_code, 0) << status.out << status.err;
  EXPECT_NE(status.out.find("ledger-01"), std::string::npos) << status.out;
  EXPECT_EQ(status.out.find("never"), std::string::npos) << status.out;
  // The summaries name no source: the group is a keyed digest.
  for (const std::string& k : StoredKeys(at_offsite, "summaries/")) {
    auto store = OpenObjectStore(at_offsite);
    ASSERT_TRUE(store.ok());
    auto bytes = (*store)->Get(k);
    ASSERT_TRUE(bytes.ok());
    EXPECT_EQ(bytes->find(src), std::string::npos) << *bytes;
  }
}

// The off-site site prunes an encrypted namespace by the reference lists in
// its summaries, without a key; a pack it pruned that the same-city site
// still deduplicates against is sent again when a new snapshot needs it.
TEST(VaultEncryptionPrune,
     TheKeylessOffsitePrunesByReferenceListsAndGetsBackWhatANewSnapshotNeeds) {
  // The same-city site keeps every snapshot, and its packs (no prune).
  LedgerSites sites("vault-encryption-prune",
                    "  same-city:\n    keep-last: 10\n  off-site:\n    keep-last: 1\n",
                    "prune_every: 2s\nprune_grace: 0\n", "prune_every: off\n");
  ASSERT_NO_FATAL_FAILURE(sites.Start());
  VaultSite &primary = *sites.primary, &offsite = *sites.offsite;
  const std::string &src = sites.src, &escrow = sites.escrow;
  test::TempDir& dir = sites.dir;
  const std::string at_primary = primary.RepositoryOf("finance");
  const std::string at_offsite = offsite.RepositoryOf("finance");
  test::WriteFile(src + "/common.bin", test::RandomBytes(300 << 10, 1));
  auto backup = [&](int seed) {
    test::WriteFile(src + "/varying.bin", test::RandomBytes(200 << 10, seed));
    ASSERT_NO_FATAL_FAILURE(sites.Backup());
  };

  // The off-site copy holds the newest snapshot and only the packs it needs:
  // fewer than the same-city site, which keeps ten.
  auto offsite_settled = [&](size_t forgotten) {
    return test::WaitFor(90, [&] {
      const auto here = StoredKeys(at_primary, "data/");
      const auto there = StoredKeys(at_offsite, "data/");
      return StoredKeys(at_offsite, "forgotten/").size() == forgotten &&
             StoredKeys(at_offsite, "snapshots/").size() == 1 &&
             StoredKeys(at_offsite, "summaries/").size() == 1 &&
             StoredKeys(at_offsite, "gc/").empty() && there.size() < here.size() &&
             std::includes(here.begin(), here.end(), there.begin(), there.end());
    });
  };
  auto restores_exactly = [&](const std::string& target) {
    auto restored = test::RunDrctl(
        {"--key-file", escrow, "-r", at_offsite, "restore", "latest", "--target", target});
    ASSERT_EQ(restored.exit_code, 0) << restored.err;
    auto diffs = test::CompareTrees(src, target + src);
    EXPECT_TRUE(diffs.empty()) << diffs[0];
    for (const std::vector<std::string>& check :
         {std::vector<std::string>{"--key-file", escrow, "-r", at_offsite, "check", "--read-data"},
          std::vector<std::string>{"-r", at_offsite, "check", "--without-key", "--read-data"}}) {
      auto r = test::RunDrctl(check);
      EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    }
  };
  for (int seed : {11, 12, 13}) backup(seed);
  ASSERT_TRUE(offsite_settled(2)) << offsite.Log();
  // (Logged once the run is over, just after what the wait above saw.)
  EXPECT_TRUE(test::WaitFor(10, [&] {
    return offsite.Log().find("\"keyless\":true") != std::string::npos;
  })) << offsite.Log();
  restores_exactly(dir / "restored-1");

  // The same-city site deduplicates against a pack the off-site site pruned
  // (the content of the second backup): it goes again, with its index entry.
  backup(12);
  ASSERT_TRUE(offsite_settled(3)) << offsite.Log() << primary.Log();
  EXPECT_NE(primary.Log().find("offsite_packs_resent"), std::string::npos) << primary.Log();
  restores_exactly(dir / "restored-2");
}

}  // namespace
}  // namespace dr
