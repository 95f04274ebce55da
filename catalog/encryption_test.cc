// Encrypted repositories (catalog/keyring.h, catalog/repo_keys.h): what the
// store holds is ciphertext; the right key opens it, every wrong key,
// removed slot or forged byte is one error naming the object, and key
// slots and data keys change without rewriting data.
#include <gtest/gtest.h>

#include "catalog/checker.h"
#include "catalog/format/blob.h"
#include "catalog/repo_keys.h"
#include "catalog/repository.h"
#include "catalog/store/testing/fault_store.h"
#include "catalog/store/testing/mem_store.h"
#include "tests/test_util.h"

namespace dr {
namespace {

KeySource KeyFileKey(const std::string& path) {
  KeySource k;
  k.key_file = path;
  return k;
}
KeySource PassphraseKey(const std::string& passphrase) {
  KeySource k;
  k.passphrase = passphrase;
  return k;
}

constexpr char kSecretText[] = "CITY-PAYROLL-CONFIDENTIAL ";

struct EncryptedRepo {
  MemStore mem;
  test::TempDir dir{"encryption"};
  std::string key_file = dir / "first.key";
  std::string repo_id;

  EncryptedRepo() {
    InitOptions o;
    o.pack_size = 1 << 20;
    o.encrypt = SlotSpec{std::nullopt, key_file, "first"};
    Status s = Repository::Init(&mem, o);
    EXPECT_TRUE(s.ok()) << s.ToString();
    repo_id = RepoConfig::Decode(*mem.Get("config"), "config")->repo_id;
  }
  Result<std::unique_ptr<Repository>> Open(const KeySource& keys) {
    return Repository::Open(std::make_unique<FaultStore>(&mem), "", keys);
  }
  std::unique_ptr<Repository> OpenWithFile() {
    auto r = Open(KeyFileKey(key_file));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }
  size_t ObjectCount() { return mem.List("")->size(); }
};

Id AddSecretBlob(Repository& repo, const std::string& raw) {
  const Id id = repo.hasher().Hash(raw);
  if (repo.Claim(id)) {
    EXPECT_TRUE(
        repo.AddBlob(BlobType::kData, id, EncodeBlob(raw, 3), static_cast<uint32_t>(raw.size()))
            .ok());
  }
  return id;
}

std::string Repeated(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += kSecretText + std::to_string(i) + "\n";
  return s;
}

Snapshot SnapshotOf(const Id& tree) {
  Snapshot s;
  s.tree = tree;
  s.host = "finance-host-7";
  s.paths = {"/srv/payroll"};
  s.time_ns = 1'800'000'000'000'000'000;
  return s;
}

TEST(Encryption, NothingReadableIsStoredAndTheKeyOpensEverything) {
  EncryptedRepo r;
  const std::string raw = Repeated(2000), incompressible = test::RandomBytes(100000, 3);
  Id data, noise, commit_tree, snap;
  {
    auto repo = r.OpenWithFile();
    ASSERT_TRUE(repo);
    EXPECT_TRUE(repo->config().encrypted());
    ASSERT_NE(repo->keyring(), nullptr);
    data = AddSecretBlob(*repo, raw);
    noise = AddSecretBlob(*repo, incompressible);
    Tree tree;
    tree.nodes.push_back(Node{});
    tree.nodes[0].name = "payroll-secret-names.csv";
    auto t = repo->StoreTree(tree);
    ASSERT_TRUE(t.ok());
    commit_tree = *t;
    auto id = repo->CommitSnapshot(SnapshotOf(commit_tree));
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    snap = *id;
  }
  // The store: no plaintext, no file name, no host, and not the id secret.
  auto repo = r.OpenWithFile();
  ASSERT_TRUE(repo);
  const std::string id_secret_hex = ToHex(repo->config().secret);
  const auto objects = *r.mem.List("");
  for (const auto& o : objects) {
    const std::string bytes = *r.mem.Get(o.key);
    for (const std::string& needle :
         {std::string(kSecretText), std::string("payroll-secret"), std::string("finance-host"),
          std::string("/srv/payroll"), id_secret_hex, incompressible.substr(1000, 64)}) {
      EXPECT_EQ(bytes.find(needle), std::string::npos)
          << o.key << " holds " << needle.substr(0, 30);
    }
  }
  // Everything reads back and checks, data included.
  EXPECT_EQ(*repo->LoadBlob(data), raw);
  EXPECT_EQ(*repo->LoadBlob(noise), incompressible);
  EXPECT_EQ(repo->LoadTree(commit_tree)->nodes.at(0).name, "payroll-secret-names.csv");
  auto all = repo->ListSnapshots();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(all->front().id, snap);
  EXPECT_EQ(all->front().host, "finance-host-7");
  auto report = CheckRepository(*repo, CheckOptions{true, 1, nullptr});
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->error_count(), 0u);
  // A compressible blob is stored compressed under its seal.
  EXPECT_LT(repo->FindBlob(data)->stored_len, raw.size() / 4);
  EXPECT_EQ(repo->FindBlob(noise)->stored_len, incompressible.size() + kSealOverhead);
}

TEST(Encryption, WithoutTheRightKeyNothingOpensAndNothingChanges) {
  EncryptedRepo r;
  {
    auto repo = r.OpenWithFile();
    ASSERT_TRUE(repo);
    AddSecretBlob(*repo, Repeated(10));
    ASSERT_TRUE(repo->Flush().ok());
  }
  EncryptedRepo other;
  const size_t before = r.ObjectCount();
  struct Case {
    KeySource keys;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{}, "is encrypted and no key was given"},
      {PassphraseKey("not the passphrase"), "has no passphrase slot"},
      {KeyFileKey(other.key_file), "is for repository " + other.repo_id},
      {KeyFileKey(r.dir / "missing.key"), "missing.key"},
  };
  for (const auto& c : cases) {
    auto opened = r.Open(c.keys);
    ASSERT_FALSE(opened.ok()) << c.expected;
    EXPECT_NE(opened.status().message().find(c.expected), std::string::npos)
        << opened.status().ToString();
    EXPECT_EQ(opened.status().message().find('\n'), std::string::npos);
  }
  test::WriteFile(r.dir / "garbage.key", "not a key\n");
  auto garbage = r.Open(KeyFileKey(r.dir / "garbage.key"));
  EXPECT_NE(garbage.status().message().find("is not a drctl key file"), std::string::npos)
      << garbage.status().ToString();
  EXPECT_EQ(r.ObjectCount(), before);
}

TEST(Encryption, PassphraseSlotsComeAndGoWithoutRewritingData) {
  EncryptedRepo r;
  auto unlocked = UnlockKeys(&r.mem, r.repo_id, KeyFileKey(r.key_file));
  ASSERT_TRUE(unlocked.ok()) << unlocked.status().ToString();
  Id data;
  {
    auto repo = r.OpenWithFile();
    data = AddSecretBlob(*repo, Repeated(50));
    ASSERT_TRUE(repo->Flush().ok());
  }
  auto packs_before = *r.mem.List("data/");
  auto pass = AddSlot(&r.mem, r.repo_id, *unlocked, SlotSpec{"correct horse", "", "admin"});
  ASSERT_TRUE(pass.ok()) << pass.status().ToString();
  EXPECT_EQ(ListSlots(&r.mem)->size(), 2u);
  // The slot a command was opened with is never the one it removes, so a
  // slot known to work always stays.
  Status own = RemoveSlot(&r.mem, *unlocked, unlocked->slot);
  EXPECT_NE(own.message().find("is the one this command was opened with"), std::string::npos)
      << own.ToString();
  // The key file's slot removed through the passphrase: the file no longer
  // opens it, the passphrase does.
  auto by_passphrase = UnlockKeys(&r.mem, r.repo_id, PassphraseKey("correct horse"));
  ASSERT_TRUE(by_passphrase.ok()) << by_passphrase.status().ToString();
  ASSERT_TRUE(RemoveSlot(&r.mem, *by_passphrase, unlocked->slot).ok());
  auto stale = r.Open(KeyFileKey(r.key_file));
  EXPECT_NE(stale.status().message().find("no longer holds (removed)"), std::string::npos)
      << stale.status().ToString();
  auto by_pass = r.Open(PassphraseKey("correct horse"));
  ASSERT_TRUE(by_pass.ok()) << by_pass.status().ToString();
  EXPECT_EQ(*(*by_pass)->LoadBlob(data), Repeated(50));
  auto wrong = r.Open(PassphraseKey("correct horse "));
  EXPECT_NE(wrong.status().message().find("wrong passphrase: it opens none of the 1"),
            std::string::npos)
      << wrong.status().ToString();
  // The last slot stays.
  Status last = RemoveSlot(&r.mem, *by_passphrase, *pass);
  EXPECT_NE(last.message().find("is the one this command was opened with"), std::string::npos)
      << last.ToString();
  EXPECT_EQ(ListSlots(&r.mem)->size(), 1u);
  // No pack was rewritten.
  EXPECT_EQ(r.mem.List("data/")->size(), packs_before.size());
}

TEST(Encryption, RotatedDataKeysSealNewDataAndOpenOld) {
  EncryptedRepo r;
  Id old_blob, new_blob;
  {
    auto repo = r.OpenWithFile();
    old_blob = AddSecretBlob(*repo, Repeated(30));
    ASSERT_TRUE(repo->Flush().ok());
  }
  auto unlocked = UnlockKeys(&r.mem, r.repo_id, KeyFileKey(r.key_file));
  ASSERT_TRUE(unlocked.ok());
  EXPECT_EQ(*RotateDataKey(&r.mem, r.repo_id, &*unlocked), 2u);
  {
    auto repo = r.OpenWithFile();
    EXPECT_EQ(repo->keyring()->current(), 2u);
    new_blob = AddSecretBlob(*repo, Repeated(31));
    ASSERT_TRUE(repo->Flush().ok());
  }
  auto repo = r.OpenWithFile();
  EXPECT_EQ(*repo->LoadBlob(old_blob), Repeated(30));
  EXPECT_EQ(*repo->LoadBlob(new_blob), Repeated(31));
  // Each blob names the key that sealed it.
  auto key_of = [&](const Id& id) {
    auto loc = *repo->FindBlob(id);
    std::string packed = *r.mem.GetRange(PackKey(loc.pack), loc.offset, 4);
    return static_cast<uint8_t>(packed[0]);
  };
  EXPECT_EQ(key_of(old_blob), 1);
  EXPECT_EQ(key_of(new_blob), 2);
  // An exported master key opens it without any slot.
  const std::string escrow = r.dir / "escrow.key";
  ASSERT_TRUE(ExportMasterKey(r.repo_id, *unlocked, escrow).ok());
  EXPECT_EQ(ExportMasterKey(r.repo_id, *unlocked, escrow).code(), Code::kAlreadyExists);
  auto by_escrow = r.Open(KeyFileKey(escrow));
  ASSERT_TRUE(by_escrow.ok()) << by_escrow.status().ToString();
  EXPECT_EQ(*(*by_escrow)->LoadBlob(new_blob), Repeated(31));
}

// Two admins rotating at once from the same keyring: one key 2 lands, the
// other rotation is refused by name, and the repository still opens (two
// keyrings disagreeing on key 2 would lock everybody out).
TEST(Encryption, ConcurrentRotationsCannotLeaveTwoDifferentKeysOfOneNumber) {
  EncryptedRepo r;
  auto first = UnlockKeys(&r.mem, r.repo_id, KeyFileKey(r.key_file));
  auto second = UnlockKeys(&r.mem, r.repo_id, KeyFileKey(r.key_file));
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(*RotateDataKey(&r.mem, r.repo_id, &*first), 2u);
  auto lost = RotateDataKey(&r.mem, r.repo_id, &*second);
  EXPECT_EQ(lost.status().code(), Code::kAlreadyExists);
  EXPECT_NE(lost.status().message().find("another rotation"), std::string::npos)
      << lost.status().ToString();
  EXPECT_EQ(second->keyring.current(), 1u);  // unchanged by the refused rotation
  auto repo = r.OpenWithFile();
  ASSERT_NE(repo, nullptr);
  EXPECT_EQ(repo->keyring()->current(), 2u);
  // Rotating again from what is stored now goes on to key 3.
  auto fresh = UnlockKeys(&r.mem, r.repo_id, KeyFileKey(r.key_file));
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(*RotateDataKey(&r.mem, r.repo_id, &*fresh), 3u);
  EXPECT_EQ(r.OpenWithFile()->keyring()->current(), 3u);
  // An object planted where key 4's keyring goes is named, not taken for
  // a concurrent rotation; moved aside, the rotation goes through.
  ASSERT_TRUE(r.mem.Put("keyring/0000000000000004", "not a keyring").ok());
  auto blocked = RotateDataKey(&r.mem, r.repo_id, &*fresh);
  EXPECT_EQ(blocked.status().code(), Code::kAlreadyExists);
  EXPECT_NE(blocked.status().message().find(
                "keyring/0000000000000004 is in the way of data key 4 and does not open"),
            std::string::npos)
      << blocked.status().ToString();
  ASSERT_TRUE(r.mem.Delete("keyring/0000000000000004").ok());
  EXPECT_EQ(*RotateDataKey(&r.mem, r.repo_id, &*fresh), 4u);
}

TEST(Encryption, ForgedTruncatedOrMovedCiphertextIsNamed) {
  EncryptedRepo r;
  Id a, b;
  {
    auto repo = r.OpenWithFile();
    a = AddSecretBlob(*repo, Repeated(40));
    b = AddSecretBlob(*repo, Repeated(41));
    ASSERT_TRUE(repo->CommitSnapshot(SnapshotOf(*repo->StoreTree(Tree{}))).ok());
  }
  auto repo = r.OpenWithFile();
  const auto loc = *repo->FindBlob(a);
  const Keyring& keys = *repo->keyring();
  std::string sealed = *r.mem.GetRange(PackKey(loc.pack), loc.offset, loc.stored_len);
  BlobScratch scratch;
  // Moved to another id, truncated, or sealed with a key the keyring lacks.
  auto moved = keys.OpenBlob(BlobType::kData, b, loc.raw_len, sealed, "pack", &scratch);
  EXPECT_NE(moved.status().message().find("fails authentication"), std::string::npos);
  auto cut = keys.OpenBlob(BlobType::kData, a, loc.raw_len, sealed.substr(0, 20), "pack", &scratch);
  EXPECT_NE(cut.status().message().find("is truncated"), std::string::npos);
  std::string unknown = sealed;
  unknown[0] = 9;
  auto nokey = keys.OpenBlob(BlobType::kData, a, loc.raw_len, unknown, "pack", &scratch);
  EXPECT_NE(nokey.status().message().find("data key 9, which the keyring does not hold"),
            std::string::npos);
  // A flipped byte in a stored pack: the blob fails, check names it.
  (*r.mem.Mutable(PackKey(loc.pack)))[loc.offset + 40] ^= 1;
  auto loaded = repo->LoadBlob(a);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), Code::kCorruption);
  EXPECT_NE(loaded.status().message().find("blob " + a.Hex() + " fails authentication"),
            std::string::npos)
      << loaded.status().ToString();
  auto report = CheckRepository(*repo, CheckOptions{true, 1, nullptr});
  ASSERT_TRUE(report.ok());
  EXPECT_GE(report->error_count(), 1u);
  // A forged snapshot is skipped and named.
  auto snaps = *r.mem.List("snapshots/");
  ASSERT_EQ(snaps.size(), 1u);
  std::string* snap = r.mem.Mutable(snaps[0].key);
  (*snap)[snap->size() / 2] ^= 1;
  std::vector<std::string> bad;
  EXPECT_TRUE(repo->ListSnapshots(&bad)->empty());
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_NE(bad[0].find(snaps[0].key), std::string::npos) << bad[0];
}

TEST(Encryption, AKeyringOrSlotPlantedByAStrangerOpensNothing) {
  EncryptedRepo r;
  EncryptedRepo stranger;
  // The stranger copies its own slot and keyring objects into this store.
  for (const std::string prefix : {"keys/", "keyring/"}) {
    const auto objects = *stranger.mem.List(prefix);
    for (const auto& o : objects) {
      ASSERT_TRUE(r.mem.Put(o.key, *stranger.mem.Get(o.key)).ok());
    }
  }
  // Its key file does not open this repository; ours still does, unchanged.
  auto theirs = r.Open(KeyFileKey(stranger.key_file));
  EXPECT_FALSE(theirs.ok());
  auto ours = r.OpenWithFile();
  ASSERT_TRUE(ours);
  EXPECT_EQ(ours->keyring()->key_count(), 1u);
}

// Found by the key_slot fuzz target: numbers that are not integers of their
// field's range (a time of 1.7e30) were converted with undefined behaviour.
TEST(Encryption, APlantedSlotWithNumbersOutOfRangeIsRefusedByName) {
  const std::string wrapped(2 * 72, 'b');
  for (const std::string& field :
       {std::string("\"created_unix_ns\": 1764547200000082125235000000000"),
        std::string("\"created_unix_ns\": 1.5"), std::string("\"created_unix_ns\": -1e300")}) {
    const std::string slot = "{\"format\": 1, \"kind\": \"key-file\", " + field +
                             ", \"wrapped_master\": \"" + wrapped + "\"}";
    auto s = DecodeKeySlot("0123456789abcdef", slot, "keys/0123456789abcdef");
    ASSERT_FALSE(s.ok()) << field;
    EXPECT_EQ(s.status().code(), Code::kCorruption);
    EXPECT_NE(s.status().message().find("created_unix_ns is not an integer"), std::string::npos)
        << s.status().ToString();
  }
  const std::string good =
      "{\"format\": 1, \"kind\": \"key-file\", \"created_unix_ns\": 5, "
      "\"wrapped_master\": \"" +
      wrapped + "\"}";
  EXPECT_TRUE(DecodeKeySlot("0123456789abcdef", good, "slot").ok());
}

// A storage attacker edits config: to plaintext (so new backups would be
// stored in the clear), or to other settings. Opening with the key refuses
// both; nothing is written.
TEST(Encryption, AnEditedOrDowngradedConfigIsRefused) {
  EncryptedRepo r;
  const std::string original = *r.mem.Get("config");
  auto config = *RepoConfig::Decode(original, "config");
  RepoConfig plain = config;
  plain.format_version = kRepoFormatVersion;
  plain.secret = std::string(192, 'x');
  ASSERT_TRUE(r.mem.Put("config", plain.Encode()).ok());
  auto downgraded = r.Open(KeyFileKey(r.key_file));
  ASSERT_FALSE(downgraded.ok());
  EXPECT_NE(downgraded.status().message().find("not encrypted, but a key was given"),
            std::string::npos)
      << downgraded.status().ToString();
  RepoConfig edited = config;
  edited.compression_level = 0;
  ASSERT_TRUE(r.mem.Put("config", edited.Encode()).ok());
  auto changed = r.Open(KeyFileKey(r.key_file));
  ASSERT_FALSE(changed.ok());
  EXPECT_NE(changed.status().message().find("is not the one this repository's keys were made for"),
            std::string::npos)
      << changed.status().ToString();
  ASSERT_TRUE(r.mem.Put("config", original).ok());
  EXPECT_TRUE(r.Open(KeyFileKey(r.key_file)).ok());
}

// A slot that does not decode (planted, or of a later format) is passed
// over: the passphrase still opens, and the slot can be listed around and
// removed.
TEST(Encryption, AnUndecodableSlotLocksNobodyOut) {
  EncryptedRepo r;
  auto unlocked = UnlockKeys(&r.mem, r.repo_id, KeyFileKey(r.key_file));
  ASSERT_TRUE(unlocked.ok());
  ASSERT_TRUE(AddSlot(&r.mem, r.repo_id, *unlocked, SlotSpec{"pass phrase", "", ""}).ok());
  ASSERT_TRUE(r.mem.Put("keys/00000000000000aa", "{not json").ok());
  EXPECT_EQ(ListSlots(&r.mem)->size(), 2u);
  auto opened = r.Open(PassphraseKey("pass phrase"));
  EXPECT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_TRUE(RemoveSlot(&r.mem, *unlocked, "00000000000000aa").ok());
}

TEST(Encryption, PlaintextRepositoriesAreUnchanged) {
  MemStore mem;
  ASSERT_TRUE(Repository::Init(&mem, {}).ok());
  auto repo = Repository::Open(std::make_unique<FaultStore>(&mem));
  ASSERT_TRUE(repo.ok());
  EXPECT_FALSE((*repo)->config().encrypted());
  EXPECT_EQ((*repo)->keyring(), nullptr);
  EXPECT_EQ(&(*repo)->names(), &(*repo)->names());
  EXPECT_EQ((*repo)->names().secret(), (*repo)->hasher().secret());
  EXPECT_TRUE(mem.List("keys/")->empty());
  const std::string raw = Repeated(5);
  const Id id = AddSecretBlob(**repo, raw);
  ASSERT_TRUE((*repo)->Flush().ok());
  EXPECT_NE(mem.Get(PackKey((*repo)->FindBlob(id)->pack))->find(kSecretText), std::string::npos);
}

}  // namespace
}  // namespace dr
