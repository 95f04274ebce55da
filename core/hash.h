// Identifiers and digests: 128-bit XXH3.
//
// Chunk, tree and pack ids are XXH3-128 keyed with the repository's secret
// (so ids are not predictable across repositories and the gear table of the
// chunker cannot be probed). XXH3 is not cryptographic: dedup must never cross
// a trust boundary (docs/design.md, trust model). File digests use the same keyed hash.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace dr {

struct Id {
  std::array<uint8_t, 16> b{};

  bool operator==(const Id&) const = default;
  auto operator<=>(const Id&) const = default;
  bool IsZero() const { return *this == Id{}; }
  std::string Hex() const;
  std::string_view Bytes() const { return {reinterpret_cast<const char*>(b.data()), b.size()}; }
  // Parses 32 hex digits; false on anything else.
  static bool FromHex(std::string_view hex, Id* out);
  static Id FromBytes(std::string_view sixteen);
  uint64_t Low64() const;
};

struct IdHash {
  size_t operator()(const Id& id) const { return static_cast<size_t>(id.Low64()); }
};

// Keyed XXH3-128. The secret must be at least 136 bytes of high entropy
// (the repository config holds 192 random bytes).
class KeyedHasher {
 public:
  explicit KeyedHasher(std::string secret);
  Id Hash(std::string_view data) const;
  const std::string& secret() const { return secret_; }

 private:
  std::string secret_;
};

// Streaming keyed XXH3-128 for whole-file digests.
class StreamDigest {
 public:
  explicit StreamDigest(const KeyedHasher& h);
  ~StreamDigest();
  StreamDigest(const StreamDigest&) = delete;
  StreamDigest& operator=(const StreamDigest&) = delete;
  void Update(std::string_view data);
  // Feeds n zero bytes (a hole) without materialising them.
  void UpdateZeros(uint64_t n);
  Id Finish() const;

 private:
  void* state_;  // XXH3_state_t*, opaque here so the header stays std-only
  std::string secret_;
};

// Unkeyed XXH3-64 for object checksums (envelopes, pack headers).
uint64_t Checksum64(std::string_view data);

std::string ToHex(std::string_view bytes);

}  // namespace dr
