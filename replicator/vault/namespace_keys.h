// An encrypted namespace at a vault (docs/design.md, "Who can see and do
// what"). The same-city vault that created it holds one key slot's key file,
// STATE/keys/NS.key (mode 0600, outside the store): with it the vault checks
// what agents send against its id, seals it into the namespace's repository
// and hands the namespace's keyring to its enrolled agents. The off-site
// vault holds no key: it stores, name-checks and serves the ciphertext.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "catalog/repo_keys.h"
#include "catalog/repository.h"
#include "core/status.h"
#include "replicator/vault/vault_config.h"

namespace dr {

// This vault's key for namespace `ns`: its key file when it holds one,
// nothing otherwise (a plaintext namespace, or any namespace off-site).
KeySource NamespaceKeySource(const VaultConfig& config, const std::string& ns);

// Whether `store` holds an encrypted repository this vault has no key for
// (the off-site site): what needs its content is skipped there. False
// when there is no repository yet.
Result<bool> HeldWithoutKey(const VaultConfig& config, const std::string& ns, ObjectStore* store);

// The namespace's repository, opened with this vault's key for it.
Result<std::unique_ptr<Repository>> OpenNamespaceRepository(const VaultConfig& config,
                                                            const std::string& ns,
                                                            const std::string& session_kind = "");

// Every snapshot of namespace `ns` in `store`, oldest first, for readers
// without an index (retention, RPO, the off-site plan). `config_object` is
// the store's config. Of an encrypted namespace at a vault without its key
// (off-site), what the snapshots' summaries say (SummarizedSnapshotsIn).
Result<std::vector<Snapshot>> NamespaceSnapshotsIn(const VaultConfig& config, const std::string& ns,
                                                   ObjectStore* store,
                                                   const std::string& config_object);

// The snapshots in `store` as their summaries (catalog/snapshot_summary.h)
// describe them, oldest first; one without a summary is left out (so never
// forgotten). A summary that does not decode is an error naming it.
Result<std::vector<Snapshot>> SummarizedSnapshotsIn(ObjectStore* store);

// The keyring of an encrypted namespace, opened with this vault's key;
// null for a plaintext one.
Result<std::unique_ptr<Keyring>> NamespaceKeyring(const VaultConfig& config, const std::string& ns,
                                                  ObjectStore* store,
                                                  const std::string& config_object);

// Makes namespace `ns` an encrypted repository in `store`: a slot whose key
// file is this vault's (NamespaceKeySource), and the master key exported to
// `escrow_key_file` (never over an existing file), which the admin keeps
// offline: with it alone the namespace is restored from either site.
Status CreateEncryptedNamespace(const VaultConfig& config, const std::string& ns,
                                ObjectStore* store, const std::string& escrow_key_file);
// Before a namespace's repository is created: a key file left by an
// interrupted encrypted creation opens nothing, and would make the vault
// refuse the new repository (a key for a plaintext config), so it is
// renamed aside (NS.key.unused-TIME), never reused or destroyed; so is a
// rotation mark of an earlier repository of that name (NS.rotated).
Status SetAsideUnusedKeyFile(const VaultConfig& config, const std::string& ns);

// Writes the master key of encrypted namespace `ns` to `escrow_key_file`
// (never over an existing file), opened with this vault's key: another
// escrow copy, or the one an interrupted creation did not write.
Status ExportNamespaceMasterKey(const VaultConfig& config, const std::string& ns,
                                ObjectStore* store, const std::string& escrow_key_file);

// `drvault key add|remove|rotate NS`: key operations on an encrypted
// namespace, opened with this vault's key (so only a holder of the vault's
// state does them, and they are audited there). Removing the vault's own
// slot is refused (RemoveSlot never removes the slot it opened with).
Result<std::string> AddNamespaceKeySlot(const VaultConfig& config, const std::string& ns,
                                        ObjectStore* store, const SlotSpec& spec);
// Returns the removed slot's whole id (`slot` may be a unique prefix).
Result<std::string> RemoveNamespaceKeySlot(const VaultConfig& config, const std::string& ns,
                                           ObjectStore* store, const std::string& slot);
// Adds a data key (RotateDataKey) and then replaces STATE/keys/NS.rotated,
// the mark a running vault watches (KeysRotatedMark): it reopens the
// namespace, so what it seals from then on, and the keyring it hands to
// agents at their next session, use the new key. Returns its number.
Result<uint32_t> RotateNamespaceDataKey(const VaultConfig& config, const std::string& ns,
                                        ObjectStore* store);

// The rotation mark: its identity (inode, mtime) and the data key number it
// records; all zero when there is none. A keyring that opens below that
// number lost a keyring object (deleted at the store, or an old copy put
// back): the vault refuses it rather than seal new data with a retired key.
struct KeysRotatedMark {
  uint64_t inode = 0;
  int64_t mtime_ns = 0;
  uint32_t data_key = 0;
  bool operator==(const KeysRotatedMark&) const = default;
};
KeysRotatedMark ReadKeysRotatedMark(const VaultConfig& config, const std::string& ns);
// OK unless `keyring` is older than `mark` says (the error names both).
Status CheckNotRolledBack(const VaultConfig& config, const std::string& ns,
                          const KeysRotatedMark& mark, const Keyring* keyring);

}  // namespace dr
