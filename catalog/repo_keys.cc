#include "catalog/repo_keys.h"

#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "catalog/format/repo_config.h"
#include "catalog/signing.h"
#include "core/env/file_io.h"

namespace dr {

using json = nlohmann::json;

namespace {

constexpr size_t kSaltBytes = crypto_pwhash_SALTBYTES;
// A slot may ask for at most this much work: the store is not trusted, and a
// planted slot must not make an unlock take hours or all memory.
constexpr unsigned long long kMaxSlotOps = 10;
constexpr size_t kMaxSlotMemBytes = size_t{1} << 30;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string SlotAd(const std::string& repo_id, const std::string& slot) {
  return "dr-slot:" + repo_id + ":" + slot;
}
std::string KeyringAd(const std::string& repo_id) { return "dr-keyring:" + repo_id; }

Result<std::string> RandomHexName() {
  std::string raw;
  RETURN_IF_ERROR(RandomBytes(8, &raw));
  return ToHex(raw);
}

struct Kdf {
  std::string salt;
  unsigned long long ops = kPassphraseOps;
  size_t mem = kPassphraseMemBytes;
};

Result<std::string> DeriveKey(const std::string& passphrase, const Kdf& kdf) {
  if (sodium_init() < 0) return Status::IOError("libsodium failed to initialise");
  std::string key(kKeyBytes, '\0');
  if (crypto_pwhash(reinterpret_cast<unsigned char*>(key.data()), key.size(), passphrase.data(),
                    passphrase.size(), reinterpret_cast<const unsigned char*>(kdf.salt.data()),
                    kdf.ops, kdf.mem, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Status::NoSpace("argon2id could not get " + std::to_string(kdf.mem >> 20) +
                           " MiB to derive the passphrase key");
  }
  return key;
}

// A slot as stored: what it is and the master key wrapped by it.
struct Slot {
  SlotInfo info;
  std::optional<Kdf> kdf;  // passphrase slots
  std::string wrapped;     // nonce || sealed master || tag
};

std::string EncodeSlot(const Slot& s) {
  json j = {{"format", 1},
            {"kind", s.info.kind},
            {"label", s.info.label},
            {"created_unix_ns", s.info.created_unix_ns},
            {"wrapped_master", ToHex(s.wrapped)}};
  if (s.kdf) {
    j["kdf"] = {{"algorithm", "argon2id13"},
                {"salt", ToHex(s.kdf->salt)},
                {"ops", s.kdf->ops},
                {"mem", s.kdf->mem}};
  }
  return j.dump(2, ' ', false, json::error_handler_t::replace);
}

Result<Slot> DecodeSlot(const std::string& id, std::string_view bytes, const std::string& what) {
  Slot s;
  s.info.id = id;
  try {
    const json j = json::parse(bytes);
    if (JsonIntegerIn(j.at("format"), "format", 0, INT32_MAX) != 1) {
      return Status::InvalidArgument(what + ": unknown format");
    }
    s.info.kind = j.at("kind").get<std::string>();
    s.info.label = j.value("label", "");
    s.info.created_unix_ns =
        JsonIntegerIn(j.at("created_unix_ns"), "created_unix_ns", INT64_MIN, INT64_MAX);
    const std::string wrapped = j.at("wrapped_master").get<std::string>();
    if (wrapped.size() > 4096 || !FromHexExact(wrapped, wrapped.size() / 2, &s.wrapped)) {
      return Status::Corruption(what + ": wrapped_master is not hex");
    }
    if (s.info.kind == "passphrase") {
      const json& k = j.at("kdf");
      Kdf kdf;
      kdf.ops = static_cast<unsigned long long>(JsonIntegerIn(k.at("ops"), "ops", 0, INT64_MAX));
      kdf.mem = static_cast<size_t>(JsonIntegerIn(k.at("mem"), "mem", 0, INT64_MAX));
      if (k.at("algorithm").get<std::string>() != "argon2id13" ||
          !FromHexExact(k.at("salt").get<std::string>(), kSaltBytes, &kdf.salt) ||
          kdf.ops < crypto_pwhash_OPSLIMIT_MIN || kdf.ops > kMaxSlotOps ||
          kdf.mem < crypto_pwhash_MEMLIMIT_MIN || kdf.mem > kMaxSlotMemBytes) {
        return Status::Corruption(what + ": kdf parameters are not argon2id13 within ops " +
                                  std::to_string(kMaxSlotOps) + " and " +
                                  std::to_string(kMaxSlotMemBytes >> 20) + " MiB");
      }
      s.kdf = kdf;
    } else if (s.info.kind != "key-file") {
      return Status::Corruption(what + ": unknown slot kind '" + s.info.kind + "'");
    }
  } catch (const std::exception& e) {
    return Status::Corruption(what + ": " + e.what());
  }
  return s;
}

bool IsSlotName(const std::string& s) {
  return s.size() == 16 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// With `skip_bad`, a slot that does not decode is passed over (one planted
// or unknown slot must not lock everyone out); otherwise it is an error.
Result<std::vector<Slot>> ReadSlots(ObjectStore* store, bool skip_bad) {
  ASSIGN_OR_RETURN(auto objects, store->List(kSlotPrefix));
  std::vector<Slot> out;
  for (const auto& o : objects) {
    const std::string id = o.key.substr(sizeof(kSlotPrefix) - 1);
    if (!IsSlotName(id)) continue;
    auto bytes = store->Get(o.key);
    if (bytes.status().IsNotFound()) continue;  // removed since the listing
    if (!bytes.ok()) return bytes.status();
    auto s = DecodeSlot(id, *bytes, store->Url() + "/" + o.key);
    if (!s.ok()) {
      if (skip_bad) continue;
      return s.status();
    }
    out.push_back(std::move(s).value());
  }
  return out;
}

// The key a key file holds, checked to belong to `repo_id`.
struct KeyFile {
  std::string kind;  // "master" or "slot"
  std::string slot;
  std::string key;
};

Result<KeyFile> ReadKeyFile(const std::string& path, const std::string& repo_id) {
  ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path));
  KeyFile f;
  std::string repo;
  try {
    const json j = json::parse(text);
    if (JsonIntegerIn(j.at("drctl_key_file"), "drctl_key_file", 0, INT32_MAX) != 1) {
      throw std::runtime_error("unknown version");
    }
    repo = j.at("repo_id").get<std::string>();
    f.kind = j.at("kind").get<std::string>();
    f.slot = j.value("slot", "");
    if (!FromHexExact(j.at("key").get<std::string>(), kKeyBytes, &f.key) ||
        (f.kind != "master" && f.kind != "slot")) {
      throw std::runtime_error("no 32-byte key of kind master or slot");
    }
  } catch (const std::exception& e) {
    return Status::InvalidArgument("key file " + path + " is not a drctl key file (" + e.what() +
                                   ")");
  }
  if (repo != repo_id) {
    return Status::InvalidArgument("key file " + path + " is for repository " + repo +
                                   ", not this one (" + repo_id + ")");
  }
  return f;
}

Status WriteKeyFile(const std::string& path, const std::string& repo_id, const std::string& kind,
                    const std::string& slot, const std::string& key) {
  json j = {{"drctl_key_file", 1}, {"repo_id", repo_id}, {"kind", kind}, {"key", ToHex(key)}};
  if (!slot.empty()) j["slot"] = slot;
  Status s = WriteFileAtomically(path, j.dump(2) + "\n", ReplaceMode::kCreateIfAbsent, 0600);
  if (s.code() == Code::kAlreadyExists) {
    return Status::AlreadyExists("key file " + path + " exists; choose a new path");
  }
  return s.WithContext("key file " + path);
}

// The keyring objects `master` opens, merged. NotFound when none does.
Result<Keyring> ReadKeyring(ObjectStore* store, const std::string& repo_id,
                            const std::string& master) {
  ASSIGN_OR_RETURN(auto objects, store->List(kKeyringPrefix));
  std::optional<Keyring> ring;
  for (const auto& o : objects) {
    const std::string what = store->Url() + "/" + o.key;
    auto sealed = store->Get(o.key);
    if (sealed.status().IsNotFound()) continue;
    if (!sealed.ok()) return sealed.status();
    // One a stranger planted does not open: skipped, as are keyrings of a
    // master key this one is not.
    auto plain = OpenWithKey(master, KeyringAd(repo_id), *sealed, what);
    if (!plain.ok()) continue;
    ASSIGN_OR_RETURN(Keyring k, Keyring::Decode(*plain, what));
    if (!ring) {
      ring = std::move(k);
    } else {
      RETURN_IF_ERROR(ring->Merge(k, what));
    }
  }
  if (!ring) return Status::NotFound("no keyring in " + store->Url() + " opens with this key");
  return std::move(*ring);
}

// `name`: random for a repository's first keyring (an init that loses the
// race for `config` leaves one nobody opens); for a rotation, the new key's
// number, so two rotations from the same keyring cannot both land with
// different keys under one number (which would leave the repository
// unopenable: readers refuse keyrings that disagree).
Status WriteKeyring(ObjectStore* store, const std::string& repo_id, const std::string& master,
                    const Keyring& ring, const std::string& name) {
  return store->PutIfAbsent(kKeyringPrefix + name,
                            SealWithKey(master, KeyringAd(repo_id), ring.Encode()));
}

Result<Slot> MakeSlot(const std::string& repo_id, const std::string& master, const SlotSpec& spec,
                      std::string* file_key) {
  Slot s;
  ASSIGN_OR_RETURN(s.info.id, RandomHexName());
  s.info.label = spec.label;
  s.info.created_unix_ns = NowNs();
  std::string wrapping;
  if (spec.passphrase) {
    if (spec.passphrase->empty()) return Status::InvalidArgument("the passphrase is empty");
    Kdf kdf;
    RETURN_IF_ERROR(RandomBytes(kSaltBytes, &kdf.salt));
    ASSIGN_OR_RETURN(wrapping, DeriveKey(*spec.passphrase, kdf));
    s.info.kind = "passphrase";
    s.kdf = kdf;
  } else if (!spec.key_file.empty()) {
    RETURN_IF_ERROR(RandomBytes(kKeyBytes, &wrapping));
    s.info.kind = "key-file";
    *file_key = wrapping;
  } else {
    return Status::InvalidArgument("a new key slot needs a passphrase or a key file path");
  }
  s.wrapped = SealWithKey(wrapping, SlotAd(repo_id, s.info.id), master);
  return s;
}

}  // namespace

Result<SlotInfo> DecodeKeySlot(const std::string& id, std::string_view bytes,
                               const std::string& what) {
  ASSIGN_OR_RETURN(Slot s, DecodeSlot(id, bytes, what));
  return s.info;
}

namespace {
Status NeedMaster(const UnlockedKeys& keys, const std::string& op) {
  if (!keys.master.empty()) return Status::OK();
  return Status::PermissionDenied(
      op +
      " needs the master key: open the repository with a passphrase or key file, not "
      "through a vault session");
}
}  // namespace

Result<std::string> AddSlot(ObjectStore* store, const std::string& repo_id,
                            const UnlockedKeys& keys, const SlotSpec& spec) {
  RETURN_IF_ERROR(NeedMaster(keys, "adding a key slot"));
  std::string file_key;
  ASSIGN_OR_RETURN(Slot s, MakeSlot(repo_id, keys.master, spec, &file_key));
  // The file first: a slot whose key file could not be written opens nothing.
  if (!file_key.empty()) {
    RETURN_IF_ERROR(WriteKeyFile(spec.key_file, repo_id, "slot", s.info.id, file_key));
  }
  RETURN_IF_ERROR(store->PutIfAbsent(kSlotPrefix + s.info.id, EncodeSlot(s)));
  return s.info.id;
}

std::string RotatedKeyringName(uint32_t number) {
  char name[17];
  std::snprintf(name, sizeof(name), "%016x", number);
  return name;
}

Result<UnlockedKeys> CreateKeys(ObjectStore* store, const std::string& repo_id,
                                const std::string& config, const SlotSpec& first) {
  UnlockedKeys keys;
  RETURN_IF_ERROR(RandomBytes(kKeyBytes, &keys.master));
  ASSIGN_OR_RETURN(keys.keyring, Keyring::Generate());
  keys.keyring.set_config_digest(ChainDigest(config));
  // The slot first: its key file is written before anything is stored, so
  // a key file path that is taken stops init with the store untouched.
  ASSIGN_OR_RETURN(keys.slot, AddSlot(store, repo_id, keys, first));
  ASSIGN_OR_RETURN(std::string name, RandomHexName());
  RETURN_IF_ERROR(WriteKeyring(store, repo_id, keys.master, keys.keyring, name));
  return keys;
}

namespace {
Status CheckConfigDigest(const UnlockedKeys& keys, std::string_view config,
                         const std::string& where) {
  if (config.empty() || keys.keyring.config_digest().empty() ||
      keys.keyring.config_digest() == ChainDigest(config)) {
    return Status::OK();
  }
  return Status::Corruption(where +
                            "/config is not the one this repository's keys were made for (edited "
                            "or replaced); refusing to use it");
}
}  // namespace

Result<UnlockedKeys> UnlockKeys(ObjectStore* store, const std::string& repo_id,
                                const KeySource& source, std::string_view config) {
  const std::string where = store->Url();
  if (!source.given()) {
    return Status::PermissionDenied(where + " is encrypted and no key was given");
  }
  UnlockedKeys keys;
  if (!source.keyring.empty()) {
    ASSIGN_OR_RETURN(keys.keyring, Keyring::Decode(source.keyring, "keyring handed by " + where));
    RETURN_IF_ERROR(CheckConfigDigest(keys, config, where));
    return keys;
  }
  if (!source.key_file.empty()) {
    ASSIGN_OR_RETURN(KeyFile f, ReadKeyFile(source.key_file, repo_id));
    if (f.kind == "master") {
      keys.master = f.key;
    } else {
      const std::string key = kSlotPrefix + f.slot;
      auto bytes = store->Get(key);
      if (bytes.status().IsNotFound()) {
        return Status::PermissionDenied("key file " + source.key_file + " names slot " + f.slot +
                                        ", which " + where + " no longer holds (removed)");
      }
      if (!bytes.ok()) return bytes.status();
      ASSIGN_OR_RETURN(Slot s, DecodeSlot(f.slot, *bytes, where + "/" + key));
      auto master = OpenWithKey(f.key, SlotAd(repo_id, f.slot), s.wrapped, where + "/" + key);
      if (!master.ok()) {
        return Status::PermissionDenied("key file " + source.key_file + " does not open slot " +
                                        f.slot + " of " + where);
      }
      keys.master = std::move(master).value();
      keys.slot = f.slot;
    }
    auto ring = ReadKeyring(store, repo_id, keys.master);
    if (!ring.ok()) return ring.status().WithContext("key file " + source.key_file);
    keys.keyring = std::move(ring).value();
    RETURN_IF_ERROR(CheckConfigDigest(keys, config, where));
    return keys;
  }
  ASSIGN_OR_RETURN(auto slots, ReadSlots(store, /*skip_bad=*/true));
  int tried = 0;
  std::string no_keyring;
  for (const auto& s : slots) {
    if (!s.kdf) continue;
    ++tried;
    auto wrapping = DeriveKey(*source.passphrase, *s.kdf);
    if (!wrapping.ok()) continue;  // a slot asking for more memory than there is
    auto master = OpenWithKey(*wrapping, SlotAd(repo_id, s.info.id), s.wrapped, "slot");
    if (!master.ok()) continue;
    auto ring = ReadKeyring(store, repo_id, *master);
    if (!ring.ok()) {  // a slot left by an init that lost a race, or keyrings lost
      no_keyring = "the passphrase opens slot " + s.info.id + " but " + ring.status().message();
      continue;
    }
    keys.master = std::move(master).value();
    keys.keyring = std::move(ring).value();
    keys.slot = s.info.id;
    RETURN_IF_ERROR(CheckConfigDigest(keys, config, where));
    return keys;
  }
  if (!no_keyring.empty()) return Status::Corruption(no_keyring);
  if (tried == 0) {
    return Status::PermissionDenied(where + " has no passphrase slot; open it with its key file");
  }
  return Status::PermissionDenied("wrong passphrase: it opens none of the " +
                                  std::to_string(tried) + " passphrase slots of " + where);
}

Result<std::vector<SlotInfo>> ListSlots(ObjectStore* store) {
  ASSIGN_OR_RETURN(auto slots, ReadSlots(store, /*skip_bad=*/true));
  std::vector<SlotInfo> out;
  for (auto& s : slots) out.push_back(std::move(s.info));
  std::sort(out.begin(), out.end(), [](const SlotInfo& a, const SlotInfo& b) {
    return a.created_unix_ns != b.created_unix_ns ? a.created_unix_ns < b.created_unix_ns
                                                  : a.id < b.id;
  });
  return out;
}

Status RemoveSlot(ObjectStore* store, const UnlockedKeys& keys, const std::string& id,
                  std::string* removed) {
  RETURN_IF_ERROR(NeedMaster(keys, "removing a key slot"));
  ASSIGN_OR_RETURN(auto objects, store->List(kSlotPrefix));
  std::string found;
  for (const auto& o : objects) {
    const std::string slot = o.key.substr(sizeof(kSlotPrefix) - 1);
    if (id.empty() || slot.rfind(id, 0) != 0) continue;
    if (!found.empty()) return Status::InvalidArgument("key slot prefix '" + id + "' is ambiguous");
    found = slot;
  }
  if (found.empty()) return Status::NotFound("no key slot " + id + " in " + store->Url());
  if (found == keys.slot) {
    return Status::InvalidArgument("slot " + found +
                                   " is the one this command was opened with; "
                                   "open with another key to remove it (the last key slot stays)");
  }
  if (keys.slot.empty() && objects.size() == 1) {
    return Status::InvalidArgument("slot " + found + " is the last key slot of " + store->Url() +
                                   "; add another before removing it");
  }
  RETURN_IF_ERROR(store->Delete(kSlotPrefix + found));
  if (removed) *removed = found;
  return Status::OK();
}

Status ExportMasterKey(const std::string& repo_id, const UnlockedKeys& keys,
                       const std::string& path) {
  RETURN_IF_ERROR(NeedMaster(keys, "exporting the master key"));
  return WriteKeyFile(path, repo_id, "master", "", keys.master);
}

Result<uint32_t> RotateDataKey(ObjectStore* store, const std::string& repo_id, UnlockedKeys* keys) {
  RETURN_IF_ERROR(NeedMaster(*keys, "rotating the data key"));
  Keyring next = keys->keyring;
  RETURN_IF_ERROR(next.Rotate());
  const std::string name = RotatedKeyringName(next.current());
  Status written = WriteKeyring(store, repo_id, keys->master, next, name);
  if (written.code() == Code::kAlreadyExists) {
    // Either a concurrent rotation's keyring, or an object someone who can
    // write the store put there (it opens with nothing: readers skip it).
    const std::string where = store->Url() + "/" + kKeyringPrefix + name;
    auto sealed = store->Get(kKeyringPrefix + name);
    if (!sealed.ok()) return sealed.status();
    auto plain = OpenWithKey(keys->master, KeyringAd(repo_id), *sealed, where);
    if (!plain.ok()) {
      return Status::AlreadyExists(where + " is in the way of data key " +
                                   std::to_string(next.current()) +
                                   " and does not open with this repository's master key "
                                   "(planted or damaged): move it aside, then rotate again");
    }
    return Status::AlreadyExists("another rotation of " + store->Url() + " made data key " +
                                 std::to_string(next.current()) +
                                 " at the same time (rotate again for one more key)");
  }
  RETURN_IF_ERROR(written);
  keys->keyring = std::move(next);
  return keys->keyring.current();
}

}  // namespace dr
