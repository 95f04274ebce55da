// Digests and signatures for the hash-chained records a site keeps (drill
// records, the vault's audit log): BLAKE2b-256 of exact stored bytes, and
// Ed25519 signing keys kept in a file beside the vault's other keys
// (libsodium). Public keys, digests and signatures travel as lowercase hex.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace dr {

// Hex BLAKE2b-256 (unkeyed) of `bytes`.
std::string ChainDigest(std::string_view bytes);
// What a chain's first record names as its predecessor: 64 zeros.
inline constexpr char kNoPredecessor[] =
    "0000000000000000000000000000000000000000000000000000000000000000";

class SigningKey {
 public:
  // The key in `path` (its secret half as 128 hex digits and a newline),
  // made with mode 0600 when the file does not exist. A file that exists
  // but does not hold a key is an error naming it: never replaced, since
  // records signed by it would no longer verify.
  static Result<SigningKey> LoadOrCreate(const std::string& path);
  static Result<SigningKey> Load(const std::string& path);
  // The key made from a 32-byte seed: the same key every time (the fuzz
  // seed corpus). Never for a vault, whose key must be secret.
  static Result<SigningKey> FromSeed(std::string_view seed);

  const std::string& public_hex() const { return public_hex_; }
  // Hex of the 64-byte Ed25519 signature of `message`.
  std::string Sign(std::string_view message) const;

 private:
  std::string secret_;  // 64 bytes (seed and public key), as libsodium keeps it
  std::string public_hex_;
};

// Whether `signature_hex` is `public_hex`'s Ed25519 signature of `message`.
bool VerifySignature(const std::string& public_hex, std::string_view message,
                     const std::string& signature_hex);

}  // namespace dr
