// The sealed snapshot history end to end (catalog/history.h): real drvault
// processes at both sites seal every snapshot they accept; `drctl
// verify-history` names a snapshot deleted, edited or inserted at either
// site, a record signed by another key, and tells a lagging off-site from
// a diverged one.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "catalog/store/object_store.h"
#include "tests/test_util.h"
#include "tests/vault_harness.h"

namespace dr {
namespace {

using test::AgentKey;
using test::VaultSite;

class HistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* d : {"offsite", "primary"}) std::filesystem::create_directories(dir_ / d);
    offsite_ = std::make_unique<VaultSite>(
        dir_ / "offsite", test::TestPort(40),
        VaultSite::Options{"dir://" + dir_ / "offsite-repo", 32, "", "", "off-site"});
    primary_ = std::make_unique<VaultSite>(
        dir_ / "primary", test::TestPort(42),
        VaultSite::Options{"dir://" + dir_ / "primary-repo", 32, offsite_->endpoint(),
                           offsite_->server_pub(), ""});
    agent_ = test::MakeAgentKey(dir_.path(), "clerk-01");
    primary_->Enrol("clerk-01", agent_.pub_file, "records");
    offsite_->Enrol("primary", primary_->OffsiteClientPub(), "*", "replicate");
    src_ = dir_ / "src";
    std::filesystem::create_directories(src_);
  }

  std::string KeyOf(VaultSite& site) {
    auto r = test::RunProgram({DRVAULT_PATH, "-c", site.config(), "audit", "--json"});
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_TRUE(j.is_object()) << r.out << r.err;
    return j.is_object() ? j["key"].get<std::string>() : "";
  }

  std::string Backup(int n) {
    test::WriteFile(src_ + "/minutes.txt", test::RandomBytes(48 << 10, 900 + n));
    auto b = primary_->Agent(agent_, "records", {"-q", "--json", "backup", src_});
    EXPECT_EQ(b.exit_code, 0) << b.err;
    auto j = nlohmann::json::parse(b.out, nullptr, false);
    return j.is_object() ? j.value("snapshot", "") : "";
  }

  std::unique_ptr<ObjectStore> Store(VaultSite& site) {
    auto s = OpenObjectStore(site.RepositoryOf("records"));
    EXPECT_TRUE(s.ok()) << s.status().message();
    return std::move(s).value();
  }

  size_t Count(VaultSite& site, const std::string& prefix) {
    auto l = Store(site)->List(prefix);
    return l.ok() ? l->size() : 0;
  }

  bool OffsiteHolds(size_t snapshots) {
    return test::WaitFor(60, [&] { return Count(*offsite_, "snapshots/") == snapshots; });
  }

  test::CommandResult Verify(bool both = true) {
    std::vector<std::string> args = {"-r", primary_->RepositoryOf("records"), "verify-history",
                                     "--key", primary_key_};
    if (both) {
      for (const std::string& a : {std::string("--offsite"), offsite_->RepositoryOf("records"),
                                   std::string("--offsite-key"), offsite_key_})
        args.push_back(a);
    }
    return test::RunDrctl(args);
  }

  void StartBoth() {
    offsite_->Start();
    primary_->Start();
    primary_key_ = KeyOf(*primary_);
    offsite_key_ = KeyOf(*offsite_);
    ASSERT_EQ(primary_key_.size(), 64u);
    ASSERT_NE(primary_key_, offsite_key_);
  }

  test::TempDir dir_{"history"};
  std::unique_ptr<VaultSite> offsite_, primary_;
  AgentKey agent_;
  std::string src_, primary_key_, offsite_key_;
};

TEST_F(HistoryTest, BothSitesSealEverySnapshotAndEveryTamperingIsNamed) {
  StartBoth();
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(Backup(i));
  ASSERT_TRUE(OffsiteHolds(3)) << primary_->Log();
  test::CommandResult v;
  ASSERT_TRUE(test::WaitFor(30,
                            [&] {
                              v = Verify();
                              return v.exit_code == 0 &&
                                     v.out.find("holds everything") != std::string::npos;
                            }))
      << v.out << v.err;
  EXPECT_NE(v.out.find(
                "same-city: history of namespace records intact: 3 records, 3 snapshots as sealed"),
            std::string::npos)
      << v.out;
  EXPECT_NE(
      v.out.find("off-site: history of namespace records intact: 3 records, 3 snapshots as sealed"),
      std::string::npos)
      << v.out;
  auto at_vault = test::RunProgram({DRVAULT_PATH, "-c", primary_->config(), "history", "records"});
  EXPECT_EQ(at_vault.exit_code, 0) << at_vault.err;
  EXPECT_NE(at_vault.out.find("records: history intact: 3 records, 3 snapshots as sealed, 0 "
                              "forgotten; key " +
                              primary_key_),
            std::string::npos)
      << at_vault.out;

  // From here on the stores are tampered with directly. The same-city vault
  // is stopped first: its replicator reconciles with the peer every few
  // cycles and would put a deleted off-site copy back while verify looks.
  primary_->Stop();

  // Deleted at the off-site, behind its vault's back.
  auto off = Store(*offsite_);
  const std::string second = "snapshots/" + ids[1];
  const std::string kept = *off->Get(second);
  ASSERT_TRUE(off->Delete(second).ok());
  v = Verify();
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_NE(v.err.find("off-site: snapshot " + ids[1].substr(0, 16)), std::string::npos) << v.err;
  EXPECT_NE(v.err.find("is gone and no forget was recorded"), std::string::npos) << v.err;
  ASSERT_TRUE(off->Put(second, kept).ok());
  EXPECT_EQ(Verify().exit_code, 0);

  // Edited at the same-city site: another snapshot's bytes under its name.
  auto same = Store(*primary_);
  const std::string first = "snapshots/" + ids[0];
  const std::string original = *same->Get(first);
  ASSERT_TRUE(same->Delete(first).ok());
  ASSERT_TRUE(same->Put(first, *same->Get("snapshots/" + ids[2])).ok());
  v = Verify();
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_NE(v.err.find("same-city: snapshot " + ids[0].substr(0, 16) +
                       " differs from what the vault accepted (history record 1): edited"),
            std::string::npos)
      << v.err;
  ASSERT_TRUE(same->Delete(first).ok());
  ASSERT_TRUE(same->Put(first, original).ok());

  // Inserted at the same-city site under a name no vault accepted.
  std::string forged_id = ids[0];
  std::reverse(forged_id.begin(), forged_id.end());
  ASSERT_TRUE(same->Put("snapshots/" + forged_id, original).ok());
  v = Verify();
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_NE(v.err.find("snapshot " + forged_id.substr(0, 16) + " is not in the sealed history"),
            std::string::npos)
      << v.err;
  ASSERT_TRUE(same->Delete("snapshots/" + forged_id).ok());
  EXPECT_EQ(Verify().exit_code, 0) << Verify().err;

  // A history checked against another key: every record is named forged.
  auto wrong = test::RunDrctl(
      {"-r", primary_->RepositoryOf("records"), "verify-history", "--key", offsite_key_});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("history record 1 is signed by key " + primary_key_), std::string::npos)
      << wrong.err;
  // An edited record is named, and so is the one after it.
  const std::string rec2 = *same->Get("history/0000000002");
  std::string edited = rec2;
  edited.replace(edited.find("\"accept\""), 8, "\"forget\"");
  ASSERT_TRUE(same->Delete("history/0000000002").ok());
  ASSERT_TRUE(same->Put("history/0000000002", edited).ok());
  v = Verify(false);
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_NE(v.err.find("history record 2 does not match its signature (edited)"), std::string::npos)
      << v.err;
  EXPECT_NE(v.err.find("history record 3 does not follow record 2"), std::string::npos) << v.err;
  ASSERT_TRUE(same->Delete("history/0000000002").ok());
  ASSERT_TRUE(same->Put("history/0000000002", rec2).ok());

  // Bad input: a key that is not one.
  auto bad =
      test::RunDrctl({"-r", primary_->RepositoryOf("records"), "verify-history", "--key", "xyz"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("--key: a vault key is 64 lowercase hex digits"), std::string::npos)
      << bad.err;
  EXPECT_EQ(Verify().exit_code, 0) << Verify().err;

  // The same-city history cut short with its newest snapshot: alone it
  // still reads as whole, but the off-site holds what it no longer names.
  ASSERT_TRUE(same->Delete("history/0000000003").ok());
  ASSERT_TRUE(same->Delete("snapshots/" + ids[2]).ok());
  EXPECT_EQ(Verify(false).exit_code, 0) << Verify(false).err;
  v = Verify();
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_NE(v.err.find("diverged: off-site accepted snapshot " + ids[2].substr(0, 16)),
            std::string::npos)
      << v.err;
  EXPECT_NE(v.err.find("same-city's history was cut short"), std::string::npos) << v.err;
  // The vault itself remembers its newest record.
  at_vault = test::RunProgram({DRVAULT_PATH, "-c", primary_->config(), "history", "records"});
  EXPECT_EQ(at_vault.exit_code, 1);
  EXPECT_NE(at_vault.err.find("history record 3 is missing: its writer wrote up to history "
                              "record 3 (the log was cut short)"),
            std::string::npos)
      << at_vault.err;
}

TEST_F(HistoryTest, ALaggingOffsiteIsToldFromADivergedOneAndForgetsAreRecorded) {
  test::WriteFile(dir_ / "minutes.yaml",
                  "name: minutes\nnamespace: records\nagents: [clerk-01]\nsources:\n  paths: [" +
                      src_ +
                      "]\nschedule:\n  every: 1h\nretention:\n  same-city:\n    keep-last: 2\n");
  auto applied = test::RunProgram(
      {DRVAULT_PATH, "-c", primary_->config(), "policy", "apply", dir_ / "minutes.yaml"});
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  StartBoth();
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    test::WriteFile(src_ + "/minutes.txt", test::RandomBytes(48 << 10, 950 + i));
    auto b =
        primary_->Agent(agent_, "records", {"-q", "--json", "backup", src_, "--policy", "minutes"});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    ids.push_back(nlohmann::json::parse(b.out)["snapshot"]);
    // Each copied before the next, so the off-site has all three.
    ASSERT_TRUE(OffsiteHolds(i + 1)) << primary_->Log();
  }
  // The same-city retention forgot the oldest: recorded, so not a deletion.
  ASSERT_TRUE(test::WaitFor(30, [&] { return Count(*primary_, "snapshots/") == 2; }));
  test::CommandResult v;
  ASSERT_TRUE(test::WaitFor(30,
                            [&] {
                              v = Verify();
                              return v.exit_code == 0;
                            }))
      << v.out << v.err;
  EXPECT_NE(v.out.find("same-city: history of namespace records intact: 4 records, 2 snapshots as "
                       "sealed, 1 forgotten"),
            std::string::npos)
      << v.out;
  EXPECT_NE(v.out.find("holds everything"), std::string::npos) << v.out;

  // The off-site down, one more snapshot: it lags, which is not a problem.
  offsite_->Stop();
  const std::string last = Backup(7);
  v = Verify();
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("the off-site lags by 1 snapshots (not diverged)"), std::string::npos)
      << v.out << v.err;
  EXPECT_NE(v.out.find(last.substr(0, 16)), std::string::npos) << v.out;

  // A forget behind the vault's back (drctl on the storage) is a deletion.
  auto forgot =
      test::RunDrctl({"-r", primary_->RepositoryOf("records"), "forget", "--keep-last", "1"});
  ASSERT_EQ(forgot.exit_code, 0) << forgot.err;
  v = Verify(false);
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_NE(v.err.find(ids[1].substr(0, 16)), std::string::npos) << v.err;
  EXPECT_NE(v.err.find("no forget was recorded"), std::string::npos) << v.err;
}

}  // namespace
}  // namespace dr
