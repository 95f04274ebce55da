#include "replicator/vault/namespace_keys.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "catalog/format/repo_config.h"
#include "catalog/snapshot_summary.h"
#include "catalog/store/object_store.h"
#include "core/crash_point.h"
#include "core/env/file_io.h"
#include "core/timefmt.h"

namespace dr {

namespace {

std::string KeyFileOf(const VaultConfig& config, const std::string& ns) {
  return config.state_dir + "/keys/" + ns + ".key";
}

std::string RotatedMarkOf(const VaultConfig& config, const std::string& ns) {
  return config.state_dir + "/keys/" + ns + ".rotated";
}

Status NoKeyHere(const VaultConfig& config, const std::string& ns) {
  return Status::PermissionDenied(
      "namespace " + ns + " is encrypted and this vault holds no key for it (" +
      KeyFileOf(config, ns) + "); an off-site vault keeps its ciphertext only");
}

// The keys of an encrypted namespace, opened with this vault's key file.
Result<UnlockedKeys> UnlockNamespace(const VaultConfig& config, const std::string& ns,
                                     ObjectStore* store, const RepoConfig& repo_config,
                                     const std::string& config_object) {
  const KeySource keys = NamespaceKeySource(config, ns);
  if (!keys.given()) return NoKeyHere(config, ns);
  return UnlockKeys(store, repo_config.repo_id, keys, config_object);
}

Result<std::unique_ptr<Keyring>> KeyringOf(const VaultConfig& config, const std::string& ns,
                                           ObjectStore* store, const RepoConfig& repo_config,
                                           const std::string& config_object) {
  if (!repo_config.encrypted()) return std::unique_ptr<Keyring>();
  ASSIGN_OR_RETURN(UnlockedKeys unlocked,
                   UnlockNamespace(config, ns, store, repo_config, config_object));
  return std::make_unique<Keyring>(std::move(unlocked.keyring));
}

}  // namespace

KeySource NamespaceKeySource(const VaultConfig& config, const std::string& ns) {
  KeySource keys;
  std::error_code ec;
  if (std::filesystem::exists(KeyFileOf(config, ns), ec)) keys.key_file = KeyFileOf(config, ns);
  return keys;
}

Result<bool> HeldWithoutKey(const VaultConfig& config, const std::string& ns, ObjectStore* store) {
  auto config_object = store->Get("config");
  if (config_object.status().IsNotFound()) return false;
  if (!config_object.ok()) return config_object.status();
  ASSIGN_OR_RETURN(RepoConfig repo_config,
                   RepoConfig::Decode(*config_object, "config of namespace " + ns));
  return repo_config.encrypted() && !NamespaceKeySource(config, ns).given();
}

Result<std::unique_ptr<Repository>> OpenNamespaceRepository(const VaultConfig& config,
                                                            const std::string& ns,
                                                            const std::string& session_kind) {
  ASSIGN_OR_RETURN(std::string url, NamespaceRepositoryUrl(config.repository, ns));
  ASSIGN_OR_RETURN(auto store, OpenObjectStore(url));
  const KeySource keys = NamespaceKeySource(config, ns);
  auto repo = Repository::Open(std::move(store), session_kind, keys);
  if (repo.status().code() == Code::kPermissionDenied && !keys.given())
    return NoKeyHere(config, ns);
  return repo;
}

Result<std::unique_ptr<Keyring>> NamespaceKeyring(const VaultConfig& config, const std::string& ns,
                                                  ObjectStore* store,
                                                  const std::string& config_object) {
  ASSIGN_OR_RETURN(RepoConfig repo_config,
                   RepoConfig::Decode(config_object, "config of namespace " + ns));
  return KeyringOf(config, ns, store, repo_config, config_object);
}

Result<std::vector<Snapshot>> NamespaceSnapshotsIn(const VaultConfig& config, const std::string& ns,
                                                   ObjectStore* store,
                                                   const std::string& config_object) {
  ASSIGN_OR_RETURN(RepoConfig repo_config,
                   RepoConfig::Decode(config_object, "config of namespace " + ns));
  if (repo_config.encrypted() && !NamespaceKeySource(config, ns).given()) {
    return SummarizedSnapshotsIn(store);
  }
  ASSIGN_OR_RETURN(auto keyring, KeyringOf(config, ns, store, repo_config, config_object));
  const KeyedHasher names(repo_config.naming_secret());
  return ListSnapshotsIn(store, names, nullptr, keyring.get());
}

Result<std::vector<Snapshot>> SummarizedSnapshotsIn(ObjectStore* store) {
  ASSIGN_OR_RETURN(auto objects, store->List("snapshots/"));
  std::vector<Snapshot> out;
  for (const auto& o : objects) {
    Id id;
    if (!SnapshotIdFromKey(o.key, &id)) continue;
    auto bytes = store->Get(SummaryKey(id));
    // Without its summary a snapshot cannot be placed: it is kept.
    if (bytes.status().IsNotFound()) continue;
    if (!bytes.ok()) return bytes.status();
    const std::string what = store->Url() + "/" + SummaryKey(id);
    ASSIGN_OR_RETURN(Snapshot s, DecodeSnapshotSummary(*bytes, what));
    if (s.id != id) return Status::Corruption(what + ": summarizes another snapshot");
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(), [](const Snapshot& a, const Snapshot& b) {
    return a.time_ns != b.time_ns ? a.time_ns < b.time_ns : a.id < b.id;
  });
  return out;
}

Status SetAsideUnusedKeyFile(const VaultConfig& config, const std::string& ns) {
  // The rotation mark goes with the key: a new repository starts at data
  // key 1, which a stale mark would call rolled back.
  for (const std::string& file : {KeyFileOf(config, ns), RotatedMarkOf(config, ns)}) {
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) continue;
    std::filesystem::rename(file, file + ".unused-" + std::to_string(NowUnixNs()), ec);
    if (ec) return Status::FromErrno(ec.value(), "set aside " + file);
  }
  return Status::OK();
}

Status CreateEncryptedNamespace(const VaultConfig& config, const std::string& ns,
                                ObjectStore* store, const std::string& escrow_key_file) {
  std::error_code ec;
  if (escrow_key_file.empty()) {
    return Status::InvalidArgument(
        "an encrypted namespace needs --escrow-key-file: without the escrowed master key, losing "
        "this vault's state loses the namespace");
  }
  if (std::filesystem::exists(escrow_key_file, ec)) {
    return Status::AlreadyExists("escrow key file " + escrow_key_file +
                                 " exists; choose a new path");
  }
  const std::string dir = config.state_dir + "/keys";
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::FromErrno(ec.value(), "create " + dir);
  ::chmod(dir.c_str(), 0700);
  RETURN_IF_ERROR(SetAsideUnusedKeyFile(config, ns));
  const std::string key_file = KeyFileOf(config, ns);
  InitOptions init;
  init.encrypt = SlotSpec{std::nullopt, key_file, "vault key of namespace " + ns};
  RETURN_IF_ERROR(Repository::Init(store, init));
  return ExportNamespaceMasterKey(config, ns, store, escrow_key_file);
}

namespace {

struct NamespaceKeys {
  std::string repo_id;
  UnlockedKeys keys;
};

Result<NamespaceKeys> OpenNamespaceKeys(const VaultConfig& config, const std::string& ns,
                                        ObjectStore* store) {
  auto config_object = store->Get("config");
  if (config_object.status().IsNotFound())
    return Status::NotFound("namespace " + ns + " has no repository at this vault");
  if (!config_object.ok()) return config_object.status();
  ASSIGN_OR_RETURN(RepoConfig repo_config,
                   RepoConfig::Decode(*config_object, "config of namespace " + ns));
  if (!repo_config.encrypted())
    return Status::InvalidArgument("namespace " + ns + " is not encrypted: it has no keys");
  NamespaceKeys out{repo_config.repo_id, {}};
  ASSIGN_OR_RETURN(out.keys, UnlockNamespace(config, ns, store, repo_config, *config_object));
  return out;
}

}  // namespace

Status ExportNamespaceMasterKey(const VaultConfig& config, const std::string& ns,
                                ObjectStore* store, const std::string& escrow_key_file) {
  ASSIGN_OR_RETURN(NamespaceKeys k, OpenNamespaceKeys(config, ns, store));
  return ExportMasterKey(k.repo_id, k.keys, escrow_key_file);
}

Result<std::string> AddNamespaceKeySlot(const VaultConfig& config, const std::string& ns,
                                        ObjectStore* store, const SlotSpec& spec) {
  ASSIGN_OR_RETURN(NamespaceKeys k, OpenNamespaceKeys(config, ns, store));
  return AddSlot(store, k.repo_id, k.keys, spec);
}

Result<std::string> RemoveNamespaceKeySlot(const VaultConfig& config, const std::string& ns,
                                           ObjectStore* store, const std::string& slot) {
  ASSIGN_OR_RETURN(NamespaceKeys k, OpenNamespaceKeys(config, ns, store));
  std::string removed;
  RETURN_IF_ERROR(RemoveSlot(store, k.keys, slot, &removed));
  return removed;
}

Result<uint32_t> RotateNamespaceDataKey(const VaultConfig& config, const std::string& ns,
                                        ObjectStore* store) {
  ASSIGN_OR_RETURN(NamespaceKeys k, OpenNamespaceKeys(config, ns, store));
  // Over a rolled-back keyring the new key would take the number of a lost
  // one, and what that one sealed would then fail to open as forged.
  RETURN_IF_ERROR(CheckNotRolledBack(config, ns, ReadKeysRotatedMark(config, ns), &k.keys.keyring));
  ASSIGN_OR_RETURN(uint32_t number, RotateDataKey(store, k.repo_id, &k.keys));
  CrashPoint("vault-key-rotated");
  // A new file each time (written aside, renamed over): a running vault
  // sees a new inode and reopens the namespace.
  const std::string mark = RotatedMarkOf(config, ns);
  const std::string text = std::to_string(number) + "\n";
  Status marked = WriteFileAtomically(mark, text);
  if (!marked.ok()) {
    return marked.WithContext("data key " + std::to_string(number) +
                              " was made, but a running vault will not use it before it "
                              "restarts");
  }
  return number;
}

KeysRotatedMark ReadKeysRotatedMark(const VaultConfig& config, const std::string& ns) {
  const std::string path = RotatedMarkOf(config, ns);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  KeysRotatedMark mark{static_cast<uint64_t>(st.st_ino),
                       static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
  // Written whole by a rename; what does not parse records no number.
  if (auto text = ReadWholeFile(path); text.ok()) {
    mark.data_key = static_cast<uint32_t>(std::strtoul(text->c_str(), nullptr, 10));
  }
  return mark;
}

Status CheckNotRolledBack(const VaultConfig& config, const std::string& ns,
                          const KeysRotatedMark& mark, const Keyring* keyring) {
  if (!keyring || keyring->current() >= mark.data_key) return Status::OK();
  return Status::Corruption(
      "the keyring of namespace " + ns + " ends at data key " + std::to_string(keyring->current()) +
      ", but this vault rotated it to data key " + std::to_string(mark.data_key) + " (" +
      RotatedMarkOf(config, ns) + "): keyring objects were removed from its store; put back " +
      kKeyringPrefix + RotatedKeyringName(mark.data_key) +
      " from the other site's copy (data sealed with that key needs it) before backing up into "
      "it");
}

}  // namespace dr
