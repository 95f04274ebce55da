// The key hierarchy of an encrypted repository (docs/format/keys.md):
//
//   passphrase (Argon2id) or key file --wraps--> master key --seals--> keyring
//   keyring = id secret + numbered data keys --seal--> blobs and snapshots
//
// Each `keys/<slot>` object wraps the master key once, so passphrases and
// key files are added and removed without rewriting anything else; each
// `keyring/<n>` object is the keyring sealed with the master key, and a
// rotation adds one. The store never holds a key in the clear.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "catalog/keyring.h"
#include "catalog/store/object_store.h"
#include "core/status.h"

namespace dr {

// Where a repository's key slots and sealed keyrings are stored.
inline constexpr char kSlotPrefix[] = "keys/";
inline constexpr char kKeyringPrefix[] = "keyring/";
// The name (after kKeyringPrefix) of the keyring a rotation to data key
// `number` writes: 16 hex digits.
std::string RotatedKeyringName(uint32_t number);
// A sealed keyring object is never larger (some 10,000 data keys).
inline constexpr size_t kMaxKeyringObjectBytes = size_t{1} << 20;

// How a user proves they may open a repository: a passphrase, or a key file
// (one made by `key add --key-file`, or an exported master key).
struct KeySource {
  std::optional<std::string> passphrase;
  std::string key_file;
  // The keyring's plaintext (Keyring::Encode) as a vault hands it to an
  // agent enrolled in the namespace: it reads and writes data, but holds no
  // master key, so it can do no key operation.
  std::string keyring;
  bool given() const { return passphrase.has_value() || !key_file.empty() || !keyring.empty(); }
};

// What a new slot is: a passphrase, or a new key file written to `key_file`
// (mode 0600, never over an existing file).
struct SlotSpec {
  std::optional<std::string> passphrase;
  std::string key_file;
  std::string label;
};

struct SlotInfo {
  std::string id;    // 16 hex digits
  std::string kind;  // "passphrase" or "key-file"
  std::string label;
  int64_t created_unix_ns = 0;
};

// An opened repository's keys.
struct UnlockedKeys {
  std::string master;  // 32 bytes; empty when opened with a handed keyring
  Keyring keyring;
  std::string slot;  // the slot that opened it; "" for an exported master key
};

// Writes the first keyring and the first slot of a new repository. Returns
// the keys (the caller then writes `config`).
// `config` is the exact config object about to be written: the keyring
// records its digest.
Result<UnlockedKeys> CreateKeys(ObjectStore* store, const std::string& repo_id,
                                const std::string& config, const SlotSpec& first);
// Opens the master key with `source` and reads every keyring object it
// opens. Errors name the repository and say what was wrong: no key given,
// a wrong passphrase, a key file of another repository, a slot removed.
// `config`, when given, must be the object the keyring recorded.
Result<UnlockedKeys> UnlockKeys(ObjectStore* store, const std::string& repo_id,
                                const KeySource& source, std::string_view config = {});

Result<std::vector<SlotInfo>> ListSlots(ObjectStore* store);
// A `keys/<id>` object as stored (anyone who can write the store can plant
// one): Corruption naming `what` unless it is a well-formed slot.
Result<SlotInfo> DecodeKeySlot(const std::string& id, std::string_view bytes,
                               const std::string& what);
// Adds a slot wrapping `keys.master`; returns its id.
Result<std::string> AddSlot(ObjectStore* store, const std::string& repo_id,
                            const UnlockedKeys& keys, const SlotSpec& spec);
// Removes slot `id` (a unique prefix will do; `*removed`, when given, is
// the whole id). Refuses to remove the slot `keys` was opened with, so a
// slot known to work always remains.
Status RemoveSlot(ObjectStore* store, const UnlockedKeys& keys, const std::string& id,
                  std::string* removed = nullptr);
// Writes the master key as a key file at `path` (mode 0600, never over an
// existing file): the escrow copy that opens the repository without a slot.
Status ExportMasterKey(const std::string& repo_id, const UnlockedKeys& keys,
                       const std::string& path);
// Adds a data key and writes the keyring with it; new data is sealed with
// it, old data stays readable with the keys before it. Returns its number.
// AlreadyExists when another rotation made a key of that number first
// (each rotation's keyring is named by its new key's number).
Result<uint32_t> RotateDataKey(ObjectStore* store, const std::string& repo_id, UnlockedKeys* keys);

// The argon2id cost of new passphrase slots (libsodium ops and bytes).
inline constexpr unsigned long long kPassphraseOps = 3;
inline constexpr size_t kPassphraseMemBytes = size_t{64} << 20;

}  // namespace dr
