#include "replicator/vault/namespace_keys.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "catalog/format/repo_config.h"
#include "catalog/snapshot_summary.h"
#include "catalog/store/object_store.h"
#include "core/timefmt.h"

namespace dr {

namespace {

std::string KeyFileOf(const VaultConfig& config, const std::string& ns) {
  return config.state_dir + "/keys/" + ns + ".key";
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
  const std::string key_file = KeyFileOf(config, ns);
  std::error_code ec;
  if (!std::filesystem::exists(key_file, ec)) return Status::OK();
  std::filesystem::rename(key_file, key_file + ".unused-" + std::to_string(NowUnixNs()), ec);
  if (ec) return Status::FromErrno(ec.value(), "set aside " + key_file);
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

Status ExportNamespaceMasterKey(const VaultConfig& config, const std::string& ns,
                                ObjectStore* store, const std::string& escrow_key_file) {
  ASSIGN_OR_RETURN(std::string config_object, store->Get("config"));
  ASSIGN_OR_RETURN(RepoConfig repo_config,
                   RepoConfig::Decode(config_object, "config of namespace " + ns));
  ASSIGN_OR_RETURN(UnlockedKeys keys,
                   UnlockNamespace(config, ns, store, repo_config, config_object));
  return ExportMasterKey(repo_config.repo_id, keys, escrow_key_file);
}

}  // namespace dr
