// Keyring: what the master key of an encrypted repository opens (the id
// secret and the numbered data keys), and the sealing of blobs and small
// objects with those data keys (XChaCha20-Poly1305, libsodium).
// Byte layout: docs/format/keys.md.
//
// A sealed blob or object names the data key that sealed it, so keys can be
// rotated in without rewriting anything: new writes use the newest key, and
// every key ever made stays in the keyring for reading.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "catalog/format/blob.h"
#include "core/hash.h"
#include "core/status.h"

namespace dr {

inline constexpr size_t kKeyBytes = 32;

class Keyring {
 public:
  // A new keyring: a fresh id secret and data key number 1.
  static Result<Keyring> Generate();
  // The keyring object's plaintext (JSON), and back; `what` names it.
  std::string Encode() const;
  static Result<Keyring> Decode(std::string_view plain, const std::string& what);

  // The 192-byte secret that keys blob ids and the chunker (the plaintext
  // repository keeps it in `config`; an encrypted one only here).
  const std::string& id_secret() const { return id_secret_; }
  // Hex BLAKE2b-256 of the exact `config` object the keyring belongs to, so
  // an edited config (a downgrade to plaintext, other chunking) is refused;
  // empty in keyrings written before it was recorded.
  const std::string& config_digest() const { return config_digest_; }
  void set_config_digest(std::string digest) { config_digest_ = std::move(digest); }
  uint32_t current() const { return data_keys_.rbegin()->first; }
  size_t key_count() const { return data_keys_.size(); }
  // Adds a new data key, numbered one above the newest; later seals use it.
  Status Rotate();
  // Takes every key of `other` this keyring lacks. InvalidArgument when the
  // two disagree on a key number or the id secret (not the same repository).
  Status Merge(const Keyring& other, const std::string& what);

  // A blob's stored form (EncodeBlob output) sealed with the current key,
  // bound to its type, id and raw length, written into `scratch` (the view
  // lives until its next use).
  std::string_view SealBlob(BlobType type, const Id& id, uint32_t raw_len, std::string_view stored,
                            BlobScratch* scratch) const;
  // The stored form back from `sealed`, written into `scratch`. Corruption
  // naming `what` when it was truncated, forged, moved to another id or
  // sealed with a key this keyring lacks.
  Result<std::string_view> OpenBlob(BlobType type, const Id& id, uint32_t raw_len,
                                    std::string_view sealed, const std::string& what,
                                    BlobScratch* scratch) const;
  // Same, decrypting in place: the stored form is returned inside `sealed`.
  Result<std::string_view> OpenBlobInPlace(BlobType type, const Id& id, uint32_t raw_len,
                                           char* sealed, size_t size,
                                           const std::string& what) const;
  // A small object (a snapshot), bound to `domain` (its kind).
  std::string SealObject(std::string_view domain, std::string_view plain) const;
  Result<std::string> OpenObject(std::string_view domain, std::string_view sealed,
                                 const std::string& what) const;

 private:
  std::string id_secret_;
  std::string config_digest_;
  std::map<uint32_t, std::string> data_keys_;  // number -> 32 bytes; never empty
};

// The JSON integer `j` if it is one within [lo, hi]: never a fraction, an
// exponent or a value beyond the range, which nlohmann would convert with
// undefined behaviour. Throws std::runtime_error naming `name` otherwise.
int64_t JsonIntegerIn(const nlohmann::json& j, const char* name, int64_t lo, int64_t hi);
// `want` bytes from exactly 2 * `want` hex digits (key material in JSON).
bool FromHexExact(const std::string& hex, size_t want, std::string* out);

// Sealing under one key (the master key wraps the keyring; a slot's key
// wraps the master key): nonce || ciphertext || tag, bound to `ad`.
std::string SealWithKey(std::string_view key, std::string_view ad, std::string_view plain);
Result<std::string> OpenWithKey(std::string_view key, std::string_view ad, std::string_view sealed,
                                const std::string& what);

}  // namespace dr
