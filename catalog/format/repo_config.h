// RepoConfig: the repository's "config" object. Written once by init; every
// other object's interpretation depends on it (chunker parameters, id
// algorithm, the secret that keys ids and the chunker's gear table).
// Byte layout: docs/format/config.md.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace dr {

inline constexpr int kRepoFormatVersion = 1;
// An encrypted repository (docs/format/keys.md): blobs and snapshots sealed,
// the id secret kept in the keyring instead of here.
inline constexpr int kEncryptedRepoFormatVersion = 2;
inline constexpr char kIdAlgorithm[] = "xxh3-128-keyed";
inline constexpr char kChunkerAlgorithm[] = "fastcdc-gear64-nc2";
// Checked by Generate (init) and by Decode (every open).
inline constexpr uint32_t kMinPackSize = 1u << 20;
inline constexpr uint32_t kMaxPackSize = 1u << 30;
inline constexpr int kMaxCompressionLevel = 19;  // zstd; 0 = store raw

struct ChunkerParams {
  uint32_t min_size = 256 << 10;
  uint32_t avg_size = 1 << 20;
  uint32_t max_size = 4 << 20;
  // OK when min < avg < max, avg a power of two, and max fits our u32 fields.
  Status Validate() const;
};

struct RepoConfig {
  int format_version = kRepoFormatVersion;
  std::string repo_id;  // 32 hex digits, random
  std::string id_algorithm = kIdAlgorithm;
  std::string chunker_algorithm = kChunkerAlgorithm;
  ChunkerParams chunker;
  // 192 random bytes (raw) keying blob ids and the chunker. An encrypted
  // repository does not store it here: Repository::Open fills it in from
  // the keyring.
  std::string secret;
  // Encrypted repositories only: 192 random bytes, stored in the clear, that
  // key the names of packs, index segments and snapshots (what a site
  // without the key checks objects against).
  std::string object_secret;
  uint32_t pack_size = 16 << 20;
  int compression_level = 3;  // zstd; 0 = store raw
  int64_t created_unix_ns = 0;

  bool encrypted() const { return format_version == kEncryptedRepoFormatVersion; }
  // The secret that keys object names: `secret` unless encrypted.
  const std::string& naming_secret() const { return encrypted() ? object_secret : secret; }

  // A new config with fresh random id and secrets.
  static Result<RepoConfig> Generate(const ChunkerParams& chunker, uint32_t pack_size,
                                     int compression_level, bool encrypted = false);
  std::string Encode() const;
  // `what` names the object for error messages.
  static Result<RepoConfig> Decode(std::string_view object, const std::string& what);
};

// Fills `n` bytes from the kernel's CSPRNG.
Status RandomBytes(size_t n, std::string* out);

}  // namespace dr
