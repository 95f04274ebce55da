// Encrypted vault namespaces (docs/design.md, "Who can see and do what"):
// the same-city vault seals what agents send with a key only it and the
// namespace's agents hold, the off-site vault stores and serves ciphertext
// with no key at all, and an admin with the escrowed master key restores
// from the off-site site alone. Real drvault, dragent and drctl processes.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "catalog/format/pack.h"
#include "catalog/format/repo_config.h"
#include "catalog/repo_keys.h"
#include "catalog/repository.h"
#include "catalog/snapshot_summary.h"
#include "catalog/store/object_store.h"
#include "core/env/file_io.h"
#include "replicator/wire/protocol.h"
#include "tests/test_util.h"
#include "tests/vault_harness.h"

namespace dr {
namespace {

using test::AgentKey;
using test::StoredKeys;
using test::VaultSite;

// Every file under `root` whose bytes contain `needle`.
std::vector<std::string> FilesContaining(const std::string& root, const std::string& needle) {
  std::vector<std::string> found;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (ec || !it->is_regular_file()) continue;
    auto bytes = ReadWholeFile(it->path().string());
    if (bytes.ok() && bytes->find(needle) != std::string::npos) found.push_back(it->path());
  }
  return found;
}

// The number of the data key that sealed the chunk of `content` (a file
// small enough to be one chunk) in the repository at `url`, opened with the
// key file `key_file`; 0 when it is not stored.
int DataKeyOfChunk(const std::string& url, const std::string& key_file,
                   const std::string& content) {
  auto store = OpenObjectStore(url);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return 0;
  KeySource key;
  key.key_file = key_file;
  auto repo = Repository::Open(std::move(store).value(), "", key);
  EXPECT_TRUE(repo.ok()) << repo.status().ToString();
  if (!repo.ok()) return 0;
  auto loc = (*repo)->FindBlob((*repo)->hasher().Hash(content));
  if (!loc) return 0;
  // Each sealed blob starts with the number of its key (little-endian u32).
  auto head = (*repo)->store()->GetRange(PackKey(loc->pack), loc->offset, 4);
  EXPECT_TRUE(head.ok()) << head.status().ToString();
  return head.ok() ? static_cast<uint8_t>((*head)[0]) : 0;
}

class VaultEncryption : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* d : {"offsite", "primary"}) std::filesystem::create_directories(dir_ / d);
    offsite_ = std::make_unique<VaultSite>(
        dir_ / "offsite", test::TestPort(30),
        VaultSite::Options{"dir://" + dir_ / "offsite-repo", 32, "", ""});
    primary_ = std::make_unique<VaultSite>(
        dir_ / "primary", test::TestPort(32),
        VaultSite::Options{"dir://" + dir_ / "primary-repo", 32, offsite_->endpoint(),
                           offsite_->server_pub()});
    agent_ = test::MakeAgentKey(dir_.path(), "agent1");
    other_ = test::MakeAgentKey(dir_.path(), "agent2");
    escrow_ = dir_ / "escrow-finance.key";
    primary_->Enrol("agent1", agent_.pub_file, "finance", "backup,restore",
                    {"--encrypt", "--escrow-key-file", escrow_});
    primary_->Enrol("agent2", other_.pub_file, "hr", "backup,restore",
                    {"--encrypt", "--escrow-key-file", dir_ / "escrow-hr.key"});
    offsite_->Enrol("agent1", agent_.pub_file, "finance", "restore");
    offsite_->Enrol("primary", primary_->OffsiteClientPub(), "*", "replicate");
    offsite_->Start();
    primary_->Start();
    src_ = dir_ / "src";
    test::MakeTortureTree(src_);
    std::string secret_text;
    for (int i = 0; i < 2000; i++)
      secret_text += std::string(kMarker) + " line " + std::to_string(i) + "\n";
    test::WriteFile(src_ + "/" + kSecretName, secret_text);
  }

  // Whether the same-city vault logs `event` within 30 s.
  bool PrimaryLogged(const std::string& event) {
    return test::WaitFor(30, [&] { return primary_->Log().find(event) != std::string::npos; });
  }

  bool SameObjects(double seconds) {
    return test::WaitFor(seconds, [&] {
      for (const char* prefix : {"snapshots/", "index/", "data/", "config", "keys/", "keyring/"}) {
        if (StoredKeys(primary_->RepositoryOf("finance"), prefix) !=
            StoredKeys(offsite_->RepositoryOf("finance"), prefix))
          return false;
      }
      return true;
    });
  }

  static constexpr const char* kMarker = "CONFIDENTIAL-PAYROLL-7f3a91";
  static constexpr const char* kSecretName = "salaries-of-the-mayors-office.csv";
  test::TempDir dir_{"vault-encryption"};
  std::unique_ptr<VaultSite> offsite_, primary_;
  AgentKey agent_, other_;
  std::string escrow_, src_;
};

TEST_F(VaultEncryption, OnlyCiphertextLeavesTheVaultAndTheEscrowedKeyRestoresFromOffsiteAlone) {
  struct stat st {};
  ASSERT_EQ(::stat(escrow_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto r = primary_->Agent(agent_, "finance", {"backup", src_});
  ASSERT_EQ(r.exit_code, 0) << r.err << primary_->Log();
  test::WriteFile(src_ + "/added-later.txt", "second backup\n");
  r = primary_->Agent(agent_, "finance", {"backup", src_});  // incremental: reads its parent
  ASSERT_EQ(r.exit_code, 0) << r.err << primary_->Log();
  EXPECT_EQ(StoredKeys(primary_->RepositoryOf("finance"), "snapshots/").size(), 2u);

  // The agent restores through the vault with nothing but its Curve key.
  const std::string via_vault = dir_ / "restored-via-vault";
  r = primary_->Agent(agent_, "finance", {"restore", "latest", "--target", via_vault});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto diffs = test::CompareTrees(src_, via_vault + src_);
  EXPECT_TRUE(diffs.empty()) << diffs[0];

  // Neither the content nor the name of a file reaches either store.
  ASSERT_TRUE(SameObjects(90)) << primary_->Log() << "\noff-site:\n" << offsite_->Log();
  for (const std::string& root : {dir_ / "primary-repo", dir_ / "offsite-repo"}) {
    EXPECT_EQ(FilesContaining(root, kMarker), std::vector<std::string>{}) << root;
    EXPECT_EQ(FilesContaining(root, kSecretName), std::vector<std::string>{}) << root;
  }
  // Both sites' sealed histories hold the ciphertext's digests: the chain
  // checks, and the sites agree, without any key of the namespace.
  auto vault_key = [](const VaultSite& site) {
    auto r = test::RunProgram({DRVAULT_PATH, "-c", site.config(), "audit", "--json"});
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    return j.is_object() ? j.value("key", "") : "";
  };
  r = test::RunDrctl({"-r", primary_->RepositoryOf("finance"), "verify-history", "--key",
                      vault_key(*primary_), "--offsite", offsite_->RepositoryOf("finance"),
                      "--offsite-key", vault_key(*offsite_)});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  // The off-site vault holds no key, and says so rather than guessing.
  EXPECT_FALSE(std::filesystem::exists(dir_ / "offsite/state/keys"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "primary/state/keys/finance.key"));

  // Through the off-site vault, the agent is handed no keyring: without
  // a key it cannot read; with the escrowed key it restores.
  const std::string no_key = dir_ / "no-key";
  r = offsite_->Agent(agent_, "finance", {"restore", "latest", "--target", no_key});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("encrypted and no key was given"), std::string::npos) << r.err;

  // The same-city site and the production host are gone.
  primary_->Stop();
  std::filesystem::remove_all(dir_ / "primary");
  std::filesystem::remove_all(dir_ / "primary-repo");

  std::vector<std::string> argv = {"/usr/bin/env", "DR_KEY_FILE=" + escrow_};
  auto through_offsite = offsite_->AgentArgv(
      agent_, "finance", {"restore", "latest", "--target", dir_ / "via-offsite-vault"});
  argv.insert(argv.end(), through_offsite.begin(), through_offsite.end());
  r = test::RunProgram(argv);
  ASSERT_EQ(r.exit_code, 0) << r.err << offsite_->Log();
  diffs = test::CompareTrees(src_, dir_ / "via-offsite-vault" + src_);
  EXPECT_TRUE(diffs.empty()) << diffs[0];

  offsite_->Stop();
  const std::string offsite_repo = offsite_->RepositoryOf("finance");
  r = test::RunDrctl({"--key-file", escrow_, "-r", offsite_repo, "check", "--read-data"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  r = test::RunDrctl({"--key-file", escrow_, "-r", offsite_repo, "restore", "latest", "--target",
                      dir_ / "from-offsite-store"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  diffs = test::CompareTrees(src_, dir_ / "from-offsite-store" + src_);
  EXPECT_TRUE(diffs.empty()) << diffs[0];
  // Another namespace's escrowed key opens nothing of this one.
  r = test::RunDrctl({"--key-file", dir_ / "escrow-hr.key", "-r", offsite_repo, "snapshots"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(VaultEncryption, AnotherNamespacesKeyringOpensNothingOfThisOne) {
  auto r = primary_->Agent(agent_, "finance", {"backup", src_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // agent2 may not even open a session in finance; here it holds finance's
  // ciphertext (a copy of the store) and its own namespace's keyring.
  auto hr = primary_->Connect(other_, "hr");
  ASSERT_TRUE(hr.ok()) << hr.status().ToString();
  const std::string hr_keyring = (*hr)->welcome().keyring;
  ASSERT_FALSE(hr_keyring.empty());
  EXPECT_FALSE(primary_->Connect(other_, "finance").ok());
  auto finance = primary_->Connect(agent_, "finance");
  ASSERT_TRUE(finance.ok());
  EXPECT_NE((*finance)->welcome().keyring, hr_keyring);

  auto store = OpenObjectStore(primary_->RepositoryOf("finance"));
  ASSERT_TRUE(store.ok());
  KeySource keys;
  keys.keyring = hr_keyring;
  auto repo = Repository::Open(std::move(store).value(), "", keys);
  ASSERT_FALSE(repo.ok());
  EXPECT_EQ(repo.status().code(), Code::kCorruption) << repo.status().ToString();
  // A handed keyring does no key operation: it holds no master key.
  auto own = OpenObjectStore(primary_->RepositoryOf("hr"));
  ASSERT_TRUE(own.ok());
  auto config_object = (*own)->Get("config");
  ASSERT_TRUE(config_object.ok());
  auto config = RepoConfig::Decode(*config_object, "config");
  ASSERT_TRUE(config.ok());
  auto unlocked = UnlockKeys(own->get(), config->repo_id, keys, *config_object);
  ASSERT_TRUE(unlocked.ok()) << unlocked.status().ToString();
  auto added = AddSlot(own->get(), config->repo_id, *unlocked,
                       SlotSpec{std::string("a passphrase"), "", ""});
  EXPECT_EQ(added.status().code(), Code::kPermissionDenied) << added.status().ToString();
  EXPECT_TRUE(StoredKeys(primary_->RepositoryOf("hr"), "keys/").size() == 1);
}

TEST_F(VaultEncryption, TheKeylessOffsiteRefusesForgedOrTruncatedCiphertextByName) {
  auto r = primary_->Agent(agent_, "finance", {"backup", src_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  test::WriteFile(src_ + "/more.bin", test::RandomBytes(300000, 5));
  r = primary_->Agent(agent_, "finance", {"backup", src_});  // its blobs: another pack
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(SameObjects(90)) << primary_->Log() << "\noff-site:\n" << offsite_->Log();
  const std::string offsite_repo = offsite_->RepositoryOf("finance");
  // The off-site vault seals each snapshot in its history just after storing it.
  ASSERT_TRUE(test::WaitFor(30, [&] { return StoredKeys(offsite_repo, "history/").size() == 2; }))
      << offsite_->Log();
  auto before = StoredKeys(offsite_repo, "");
  std::erase_if(before, [](const std::string& k) { return k.rfind("sessions/", 0) == 0; });
  // A second replicating key stands for a compromised same-city site or a
  // meddling provider in between.
  AgentKey rogue = test::MakeAgentKey(dir_.path(), "rogue");
  offsite_->Enrol("rogue", rogue.pub_file, "*", "replicate");
  auto client = offsite_->Connect(rogue, "finance");
  ASSERT_TRUE(client.ok()) << client.status().ToString();

  auto store = OpenObjectStore(offsite_repo);
  ASSERT_TRUE(store.ok());
  auto config = RepoConfig::Decode(*(*store)->Get("config"), "config");
  ASSERT_TRUE(config.ok());
  const KeyedHasher names(config->naming_secret());  // clear: anyone can name objects
  const auto snaps = StoredKeys(offsite_repo, "snapshots/");
  const auto packs = StoredKeys(offsite_repo, "data/");
  ASSERT_FALSE(snaps.empty());
  ASSERT_GE(packs.size(), 2u);
  const std::string real_snapshot = *(*store)->Get(snaps[0]);
  const std::string real_pack = *(*store)->Get(packs[0]);
  const std::string cut_snapshot = real_snapshot.substr(0, real_snapshot.size() / 2);
  const std::string junk = test::RandomBytes(5000, 3);
  Snapshot other;
  other.id = Id::FromBytes(std::string(16, '\x44'));
  const std::string summary_of_another = EncodeSnapshotSummary(other, names, {});
  const std::vector<std::pair<std::string, std::string>> forged = {
      {"snapshots/" + std::string(32, 'a'), real_snapshot},             // moved
      {"snapshots/" + names.Hash(cut_snapshot).Hex(), cut_snapshot},    // truncated, named right
      {PackKey(names.Hash(junk)), junk},                                // not a pack, named right
      {PackKey(names.Hash(real_pack.substr(1))), real_pack.substr(1)},  // a cut pack
      {"keys/00112233aabbccdd", "{\"not\": \"a slot\"}"},
      {SummaryKey(Id::FromBytes(std::string(16, '\x33'))), summary_of_another},  // misfiled
      {SummaryKey(Id::FromBytes(std::string(16, '\x34'))), "{\"snapshot_summary\": 1}"},
      {"keyring/00112233aabbccdd", "tiny"},
  };
  for (const auto& [key, bytes] : forged) {
    Status put;
    for (size_t at = 0; put.ok() && at < bytes.size(); at += wire::kMaxDataBytes) {
      put = (*client)
                ->Call(wire::Put{0, key, bytes.size(), at, bytes.substr(at, wire::kMaxDataBytes)})
                .status();
    }
    EXPECT_EQ(put.code(), Code::kCorruption) << key << ": " << put.ToString();
    EXPECT_NE(put.message().find(key), std::string::npos) << put.ToString();
  }
  // A summary listing a pack this site lacks (pruned since the peer
  // looked) is refused, not quarantined: the peer sends the pack again.
  const std::string lacking = EncodeSnapshotSummary(other, names, {names.Hash(junk)});
  Status lacking_put =
      (*client)->Call(wire::Put{0, SummaryKey(other.id), lacking.size(), 0, lacking}).status();
  EXPECT_EQ(lacking_put.code(), Code::kNotFound) << lacking_put.ToString();
  EXPECT_NE(lacking_put.message().find("send them first"), std::string::npos)
      << lacking_put.ToString();
  auto stored = [&] {  // everything but the live session markers
    auto keys = StoredKeys(offsite_repo, "");
    std::erase_if(keys, [](const std::string& k) { return k.rfind("sessions/", 0) == 0; });
    return keys;
  };
  EXPECT_EQ(stored(), before);
  // What it holds still restores with the escrowed key.
  r = test::RunDrctl({"--key-file", escrow_, "-r", offsite_repo, "check", "--read-data"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;

  // The provider checks its copy without a key, and finds a flipped byte
  // and a lost pack by name.
  r = test::RunDrctl({"-r", offsite_repo, "check", "--without-key", "--read-data"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string flipped = real_pack;
  flipped[flipped.size() / 2] ^= 1;
  ASSERT_TRUE((*store)->Put(packs[0], flipped).ok());
  ASSERT_TRUE((*store)->Delete(packs.back()).ok());
  r = test::RunDrctl({"-r", offsite_repo, "check", "--without-key"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("pack missing"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("pack damaged"), std::string::npos)
      << r.err;  // not read without --read-data
  r = test::RunDrctl({"-r", offsite_repo, "check", "--without-key", "--read-data"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("pack damaged: " + packs[0]), std::string::npos) << r.err;
  // A plaintext repository is checked with its content instead.
  r = test::RunDrctl({"-r", dir_ / "plain", "init"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = test::RunDrctl({"-r", dir_ / "plain", "check", "--without-key"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("is not encrypted"), std::string::npos) << r.err;
}

TEST_F(VaultEncryption, EncryptionIsChosenOnceWithAnEscrowAndBadRequestsChangeNothing) {
  AgentKey k3 = test::MakeAgentKey(dir_.path(), "agent3");
  auto enrol = [&](const std::string& name, const std::string& ns, std::vector<std::string> extra) {
    std::vector<std::string> argv{
        DRVAULT_PATH, "-c",    primary_->config(), "enrol",       "--name",
        name,         "--key", k3.pub_file,        "--namespace", ns};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return test::RunProgram(argv);
  };
  // No escrow: refused, nothing created.
  auto r = enrol("agent3", "payroll", {"--encrypt"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--escrow-key-file"), std::string::npos) << r.err;
  EXPECT_TRUE(StoredKeys(primary_->RepositoryOf("payroll"), "").empty());
  // An escrow path that is taken: refused, the file untouched.
  test::WriteFile(dir_ / "taken.key", "mine\n");
  r = enrol("agent3", "payroll", {"--encrypt", "--escrow-key-file", dir_ / "taken.key"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("exists"), std::string::npos) << r.err;
  EXPECT_EQ(*ReadWholeFile(dir_ / "taken.key"), "mine\n");
  EXPECT_TRUE(StoredKeys(primary_->RepositoryOf("payroll"), "").empty());
  // A namespace that exists in the clear stays so.
  primary_->Enrol("agent4", test::MakeAgentKey(dir_.path(), "agent4").pub_file, "clear");
  r = enrol("agent3", "clear", {"--encrypt", "--escrow-key-file", dir_ / "clear.key"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("exists unencrypted"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "clear.key"));
  // Each error is one line.
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  // Enrolling into an encrypted namespace writes no key: another escrow copy
  // is `drvault key export` (audited); nor is the agent enrolled.
  r = enrol("agent3", "finance", {"--encrypt", "--escrow-key-file", dir_ / "second.key"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("drvault key export finance"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "second.key"));
  r = enrol("agent3", "finance", {"--encrypt"});  // already encrypted: nothing to choose
  EXPECT_EQ(r.exit_code, 0) << r.err;

  // The vault's own key commands: list the slots, export another escrow
  // copy (audited), and refuse what it holds no key for.
  auto drvault = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {DRVAULT_PATH, "-c", primary_->config()});
    return test::RunProgram(args);
  };
  r = drvault({"key", "list", "finance"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("key-file"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("vault key of namespace finance"), std::string::npos) << r.out;
  r = drvault({"key", "export", "finance", "--out", dir_ / "third.key"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = test::RunDrctl(
      {"--key-file", dir_ / "third.key", "-r", primary_->RepositoryOf("finance"), "snapshots"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = drvault({"audit", "--json"});
  EXPECT_NE(r.out.find("key-export"), std::string::npos) << r.out;
  r = drvault({"key", "export", "finance", "--out", dir_ / "third.key"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("exists"), std::string::npos) << r.err;
  r = drvault({"key", "list", "clear"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("holds no key for namespace clear"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

// Key operations on a namespace at its vault: each is audited, the vault's
// own slot cannot be removed, and a rotation reaches the running vault (no
// restart) and the agents' next sessions: new data is sealed with the new
// key, old data still restores at both sites.
TEST_F(VaultEncryption, KeyOperationsAtTheVaultAreAuditedAndARotationReachesTheRunningVault) {
  auto drvault = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {DRVAULT_PATH, "-c", primary_->config()});
    return test::RunProgram(args);
  };
  const std::string repo_url = primary_->RepositoryOf("finance");
  auto r = primary_->Agent(agent_, "finance", {"backup", src_});
  ASSERT_EQ(r.exit_code, 0) << r.err << primary_->Log();

  // A key file slot for the operations team, usable with drctl.
  const std::string ops_key = dir_ / "ops.key";
  r = drvault({"key", "add", "finance", "--new-key-file", ops_key, "--label", "ops team\x1b[2J"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = test::RunDrctl({"--key-file", ops_key, "-r", repo_url, "snapshots"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // Bad requests: one line each, nothing changed.
  const auto slots_before = StoredKeys(repo_url, "keys/");
  ASSERT_EQ(slots_before.size(), 2u);
  r = drvault({"key", "add", "finance", "--label", "no key"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--new-key-file PATH or --new-passphrase-file FILE"), std::string::npos)
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  r = drvault({"key", "add", "finance", "--new-key-file", ops_key});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("exists"), std::string::npos) << r.err;
  r = drvault({"key", "list", "finance"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string vault_slot, ops_slot;
  for (const std::string& key : slots_before) {
    const std::string id = key.substr(std::string("keys/").size());
    const size_t at = r.out.find(id);
    ASSERT_NE(at, std::string::npos) << r.out;
    const std::string line = r.out.substr(at, r.out.find('\n', at) - at);
    (line.find("ops team") != std::string::npos ? ops_slot : vault_slot) = id;
  }
  ASSERT_FALSE(ops_slot.empty() || vault_slot.empty()) << r.out;
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << r.out;  // a label's bytes are escaped
  r = drvault({"key", "remove", "finance", vault_slot});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("is the one this command was opened with"), std::string::npos) << r.err;
  EXPECT_EQ(StoredKeys(repo_url, "keys/"), slots_before);
  // Removed by a prefix; the ops key file opens nothing any more.
  r = drvault({"key", "remove", "finance", ops_slot.substr(0, 6)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(ops_slot), std::string::npos) << r.out;
  r = test::RunDrctl({"--key-file", ops_key, "-r", repo_url, "snapshots"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no longer holds"), std::string::npos) << r.err;

  // The rotation reaches the running vault.
  r = drvault({"key", "rotate", "finance"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("data key 2"), std::string::npos) << r.out;
  ASSERT_TRUE(PrimaryLogged("namespace_keys_reloaded")) << primary_->Log();
  const std::string fresh = "written after the rotation " + std::string(kMarker) + "\n";
  test::WriteFile(src_ + "/after-rotation.txt", fresh);
  r = primary_->Agent(agent_, "finance", {"backup", src_});
  ASSERT_EQ(r.exit_code, 0) << r.err << primary_->Log();
  EXPECT_EQ(DataKeyOfChunk(repo_url, escrow_, fresh), 2);
  // Old and new data restore through the vault, and from the off-site copy
  // with the escrowed key alone.
  const std::string restored = dir_ / "restored-after-rotation";
  r = primary_->Agent(agent_, "finance", {"restore", "latest", "--target", restored});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto diffs = test::CompareTrees(src_, restored + src_);
  EXPECT_TRUE(diffs.empty()) << diffs[0];
  ASSERT_TRUE(SameObjects(90)) << primary_->Log() << "\noff-site:\n" << offsite_->Log();
  const std::string offsite_restored = dir_ / "offsite-restored-after-rotation";
  r = test::RunDrctl({"--key-file", escrow_, "-r", offsite_->RepositoryOf("finance"), "restore",
                      "latest", "--target", offsite_restored});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  diffs = test::CompareTrees(src_, offsite_restored + src_);
  EXPECT_TRUE(diffs.empty()) << diffs[0];
  // "What did it look like at T" after a disaster: a catalog of the
  // off-site copy, made with the escrowed key.
  const std::string db = dir_ / "offsite-catalog.db";
  r = test::RunDrctl({"--key-file", escrow_, "-r", offsite_->RepositoryOf("finance"), "catalog",
                      "sync", "--site", "off-site", "--catalog", db});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = test::RunDrctl({"versions", src_ + "/after-rotation.txt", "--catalog", db});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("off-site"), std::string::npos) << r.out;

  // Every key operation is in the audit log, which verifies.
  r = drvault({"audit", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* action : {"key-add", "key-remove", "key-rotate"})
    EXPECT_NE(r.out.find(action), std::string::npos) << action << "\n" << r.out;
  EXPECT_NE(r.out.find(ops_slot), std::string::npos) << r.out;
  r = drvault({"audit", "--verify"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;

  // A rotation whose keyring is gone by the time the running vault looks
  // (the mark says 3, the store holds keys 1 and 2): the vault drops the
  // namespace rather than go on sealing with the key the admin retired.
  ASSERT_TRUE(WriteFileAtomically(dir_ / "primary/state/keys/finance.rotated", "3\n").ok());
  ASSERT_TRUE(PrimaryLogged("namespace_reopen_failed")) << primary_->Log();
  r = primary_->Agent(agent_, "finance", {"backup", src_});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("this vault rotated it to data key 3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("put back keyring/0000000000000003"), std::string::npos) << r.err;
  ASSERT_TRUE(WriteFileAtomically(dir_ / "primary/state/keys/finance.rotated", "2\n").ok());
  r = primary_->Agent(agent_, "finance", {"backup", src_});
  EXPECT_EQ(r.exit_code, 0) << r.err << primary_->Log();

  // A storage operator deletes the newest keyring object (a rollback to
  // the retired key): the vault, restarted, refuses to back up into the
  // namespace rather than seal new data with data key 1.
  const std::string rotated = "keyring/0000000000000002";
  ASSERT_EQ(StoredKeys(repo_url, rotated), std::vector<std::string>{rotated});
  {
    auto store = OpenObjectStore(repo_url);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Delete(rotated).ok());
  }
  primary_->Stop();
  primary_->Start();
  const auto snapshots = StoredKeys(repo_url, "snapshots/");
  test::WriteFile(src_ + "/after-rollback.txt", "not stored\n");
  r = primary_->Agent(agent_, "finance", {"backup", src_});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("this vault rotated it to data key 2"), std::string::npos) << r.err;
  EXPECT_EQ(StoredKeys(repo_url, "snapshots/"), snapshots);
}

// `drvault key rotate` killed after its keyring is stored but before its
// mark: the running vault goes on with the key it has (nothing is lost or
// refused), and the next rotation is taken up as usual.
TEST_F(VaultEncryption, ARotationKilledBeforeItsMarkChangesNothingTheNextOneCannotMend) {
  const std::string repo_url = primary_->RepositoryOf("finance");
  auto r = primary_->Agent(agent_, "finance", {"backup", src_});
  ASSERT_EQ(r.exit_code, 0) << r.err << primary_->Log();
  r = test::RunShell("DR_CRASH_AT=vault-key-rotated:1 " DRVAULT_PATH " -c " + primary_->config() +
                     " key rotate finance");
  EXPECT_EQ(r.exit_code, 128 + 9) << r.out << r.err;  // SIGKILL at the point
  EXPECT_EQ(StoredKeys(repo_url, "keyring/0000000000000002"),
            std::vector<std::string>{"keyring/0000000000000002"});
  const std::string before = "written after the killed rotation\n";
  test::WriteFile(src_ + "/before.txt", before);
  r = primary_->Agent(agent_, "finance", {"backup", src_});
  ASSERT_EQ(r.exit_code, 0) << r.err << primary_->Log();
  EXPECT_EQ(DataKeyOfChunk(repo_url, escrow_, before), 1);
  EXPECT_EQ(primary_->Log().find("namespace_keys_reloaded"), std::string::npos);

  r = test::RunProgram({DRVAULT_PATH, "-c", primary_->config(), "key", "rotate", "finance"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("data key 3"), std::string::npos) << r.out;
  ASSERT_TRUE(PrimaryLogged("namespace_keys_reloaded")) << primary_->Log();
  const std::string after = "written after the second rotation\n";
  test::WriteFile(src_ + "/after.txt", after);
  r = primary_->Agent(agent_, "finance", {"backup", src_});
  ASSERT_EQ(r.exit_code, 0) << r.err << primary_->Log();
  EXPECT_EQ(DataKeyOfChunk(repo_url, escrow_, after), 3);
  const std::string restored = dir_ / "restored";
  r = primary_->Agent(agent_, "finance", {"restore", "latest", "--target", restored});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto diffs = test::CompareTrees(src_, restored + src_);
  EXPECT_TRUE(diffs.empty()) << diffs[0];
}

}  // namespace
}  // namespace dr
