// The off-site vault does not trust its peer, and the same-city vault does
// not trust its own cursor: a peer object that is not what its key says is
// refused and kept aside, and an off-site repository that lost objects (or
// was wiped and rebuilt) is refilled. Real drvault and dragent processes.
#include <gtest/gtest.h>

#include <filesystem>

#include "catalog/format/pack.h"
#include "catalog/format/repo_config.h"
#include "catalog/format/snapshot.h"
#include "catalog/store/object_store.h"
#include "replicator/wire/curve_keys.h"
#include "replicator/wire/protocol.h"
#include "replicator/wire/vault_client.h"
#include "replicator/wire/vault_store.h"
#include "tests/test_util.h"
#include "tests/vault_harness.h"

namespace dr {
namespace {

using test::AgentKey;
using test::StoredKeys;
using test::VaultSite;

class OffsiteTrust : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* d : {"offsite", "primary"}) std::filesystem::create_directories(dir_ / d);
    offsite_ = std::make_unique<VaultSite>(
        dir_ / "offsite", test::TestPort(10),
        VaultSite::Options{"dir://" + dir_ / "offsite-repo", 32, "", ""});
    primary_ = std::make_unique<VaultSite>(
        dir_ / "primary", test::TestPort(12),
        VaultSite::Options{"dir://" + dir_ / "primary-repo", 32, offsite_->endpoint(),
                           offsite_->server_pub()});
    agent_ = test::MakeAgentKey(dir_.path(), "agent1");
    primary_->Enrol("agent1", agent_.pub_file, "finance");
    offsite_->Enrol("agent1", agent_.pub_file, "finance", "restore");
    offsite_->Enrol("primary", primary_->OffsiteClientPub(), "*", "replicate");
    offsite_->Start();
    primary_->Start();
    src_ = dir_ / "src";
    test::MakeTortureTree(src_);
    auto r = primary_->Agent(agent_, "finance", {"backup", src_});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  // Both sites hold the same objects.
  bool SameObjects(double seconds) {
    return test::WaitFor(seconds, [&] {
      for (const char* prefix : {"snapshots/", "index/", "data/", "config"}) {
        if (StoredKeys(primary_->RepositoryOf("finance"), prefix) !=
            StoredKeys(offsite_->RepositoryOf("finance"), prefix))
          return false;
      }
      return true;
    });
  }

  void ExpectOffsiteRestoresAndChecks(const std::string& target) {
    auto r = test::RunDrctl({"-r", offsite_->RepositoryOf("finance"), "check", "--read-data"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    r = offsite_->Agent(agent_, "finance", {"restore", "latest", "--target", target});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto diffs = test::CompareTrees(src_, target + src_);
    EXPECT_TRUE(diffs.empty()) << diffs[0];
  }

  test::TempDir dir_{"offsite-trust"};
  std::unique_ptr<VaultSite> offsite_, primary_;
  AgentKey agent_;
  std::string src_;
};

TEST_F(OffsiteTrust, APeerObjectThatIsNotWhatItsKeySaysIsRefusedAndQuarantined) {
  ASSERT_TRUE(SameObjects(60)) << primary_->Log() << "\noff-site:\n" << offsite_->Log();
  // A second replicating key stands for a compromised or buggy same-city site.
  AgentKey rogue = test::MakeAgentKey(dir_.path(), "rogue");
  offsite_->Enrol("rogue", rogue.pub_file, "*", "replicate");
  auto client = offsite_->Connect(rogue, "finance");
  ASSERT_TRUE(client.ok()) << client.status().ToString();

  // A real snapshot's bytes under another snapshot's name, a pack whose bytes
  // are not its id's, and an index segment that is garbage.
  const auto snaps = StoredKeys(primary_->RepositoryOf("finance"), "snapshots/");
  ASSERT_FALSE(snaps.empty());
  auto store = OpenObjectStore(primary_->RepositoryOf("finance"));
  ASSERT_TRUE(store.ok());
  auto real = (*store)->Get(snaps[0]);
  ASSERT_TRUE(real.ok());
  const std::string forged_snapshot = "snapshots/" + std::string(32, 'a');
  const std::string forged_pack = PackKey(Id::FromBytes(std::string(16, '\x5a')));
  const std::string forged_index = "index/" + std::string(32, 'b');
  for (const auto& [key, bytes] :
       std::vector<std::pair<std::string, std::string>>{{forged_snapshot, *real},
                                                        {forged_pack, test::RandomBytes(5000, 9)},
                                                        {forged_index, "not an index segment"}}) {
    auto put = (*client)->Call(wire::Put{0, key, bytes.size(), 0, bytes});
    EXPECT_EQ(put.status().code(), Code::kCorruption) << key << ": " << put.status().ToString();
  }
  EXPECT_TRUE(StoredKeys(offsite_->RepositoryOf("finance"), forged_snapshot).empty());
  EXPECT_TRUE(StoredKeys(offsite_->RepositoryOf("finance"), forged_pack).empty());
  EXPECT_TRUE(StoredKeys(offsite_->RepositoryOf("finance"), forged_index).empty());
  size_t kept = 0;
  for (const auto& e :
       std::filesystem::directory_iterator(dir_ / "offsite/state/quarantine/finance")) {
    (void)e;
    ++kept;
  }
  EXPECT_EQ(kept, 3u);
  EXPECT_EQ(offsite_->Metric("drvault_quarantined_objects_total"), 3);
  EXPECT_NE(offsite_->Log().find("put_quarantined"), std::string::npos);
  ExpectOffsiteRestoresAndChecks(dir_ / "restored");
}

// More objects than one list page: every page continues the same sorted
// listing, nothing is missed or repeated.
TEST_F(OffsiteTrust, AListingOfMoreThanAPageIsCompleteAndInOrder) {
  ASSERT_TRUE(SameObjects(60)) << primary_->Log();
  AgentKey peer = test::MakeAgentKey(dir_.path(), "peer2");
  offsite_->Enrol("peer2", peer.pub_file, "*", "replicate");
  auto client = offsite_->Connect(peer, "finance");
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  std::shared_ptr<VaultClient> shared(std::move(client).value());
  VaultStore store(shared);
  auto config = store.Get("config");
  ASSERT_TRUE(config.ok());
  auto decoded = RepoConfig::Decode(*config, "config");
  ASSERT_TRUE(decoded.ok());
  KeyedHasher hasher(decoded->secret);
  auto before = store.List("snapshots/");
  ASSERT_TRUE(before.ok());
  auto original = store.Get((*before)[0].key);
  ASSERT_TRUE(original.ok());
  auto snap = DecodeSnapshot(*original, "snapshot");
  ASSERT_TRUE(snap.ok());
  // Valid snapshots (each hashes to its key), so the off-site vault takes them.
  constexpr int kMore = 2500;
  for (int i = 0; i < kMore; ++i) {
    snap->tags = {"copy-" + std::to_string(i)};
    const std::string object = EncodeSnapshot(*snap);
    auto put =
        shared->Call(wire::Put{0, SnapshotKey(hasher.Hash(object)), object.size(), 0, object});
    ASSERT_TRUE(put.ok()) << i << ": " << put.status().ToString();
  }
  auto after = store.List("snapshots/");
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  ASSERT_EQ(after->size(), before->size() + kMore);
  for (size_t i = 1; i < after->size(); ++i) EXPECT_LT((*after)[i - 1].key, (*after)[i].key);
}

TEST_F(OffsiteTrust, AnOffsiteSiteThatLostObjectsOrWasWipedIsRefilled) {
  ASSERT_TRUE(SameObjects(60)) << primary_->Log() << "\noff-site:\n" << offsite_->Log();
  // Objects lost behind the vault's back: a pack and the latest snapshot.
  const std::string off = dir_ / "offsite-repo/finance";
  const auto packs = StoredKeys(offsite_->RepositoryOf("finance"), "data/");
  const auto snaps = StoredKeys(offsite_->RepositoryOf("finance"), "snapshots/");
  ASSERT_FALSE(packs.empty());
  std::filesystem::remove(off + "/" + packs[0]);
  std::filesystem::remove(off + "/" + snaps.back());
  EXPECT_TRUE(SameObjects(60)) << primary_->Log();
  EXPECT_GE(primary_->Metric("drvault_offsite_refilled_objects_total"), 2);
  EXPECT_NE(primary_->Log().find("offsite_refill"), std::string::npos);

  // The whole off-site repository is wiped and the vault rebuilt empty.
  offsite_->Stop();
  std::filesystem::remove_all(dir_ / "offsite-repo");
  offsite_->Start();
  EXPECT_TRUE(SameObjects(90)) << primary_->Log();
  ExpectOffsiteRestoresAndChecks(dir_ / "restored");
}

}  // namespace
}  // namespace dr
