#include "core/hash.h"

#include <xxhash.h>

#include <cstring>
#include <stdexcept>

namespace dr {

std::string ToHex(std::string_view bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    s.push_back(kDigits[c >> 4]);
    s.push_back(kDigits[c & 15]);
  }
  return s;
}

std::string Id::Hex() const { return ToHex(Bytes()); }

bool Id::FromHex(std::string_view hex, Id* out) {
  if (hex.size() != 32) return false;
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (int i = 0; i < 16; ++i) {
    int hi = nib(hex[2 * i]), lo = nib(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->b[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

Id Id::FromBytes(std::string_view sixteen) {
  Id id;
  std::memcpy(id.b.data(), sixteen.data(), 16);
  return id;
}

uint64_t Id::Low64() const {
  uint64_t v;
  std::memcpy(&v, b.data(), 8);
  return v;
}

static Id FromCanonical(XXH128_hash_t h) {
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, h);
  Id id;
  std::memcpy(id.b.data(), c.digest, 16);
  return id;
}

KeyedHasher::KeyedHasher(std::string secret) : secret_(std::move(secret)) {
  if (secret_.size() < XXH3_SECRET_SIZE_MIN) throw std::invalid_argument("XXH3 secret too short");
}

Id KeyedHasher::Hash(std::string_view data) const {
  return FromCanonical(
      XXH3_128bits_withSecret(data.data(), data.size(), secret_.data(), secret_.size()));
}

StreamDigest::StreamDigest(const KeyedHasher& h) : state_(XXH3_createState()), secret_(h.secret()) {
  XXH3_128bits_reset_withSecret(static_cast<XXH3_state_t*>(state_), secret_.data(), secret_.size());
}

StreamDigest::~StreamDigest() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }

void StreamDigest::Update(std::string_view data) {
  XXH3_128bits_update(static_cast<XXH3_state_t*>(state_), data.data(), data.size());
}

void StreamDigest::UpdateZeros(uint64_t n) {
  static const std::string kZeros(1 << 20, '\0');
  while (n > 0) {
    size_t k = n < kZeros.size() ? static_cast<size_t>(n) : kZeros.size();
    Update(std::string_view(kZeros.data(), k));
    n -= k;
  }
}

Id StreamDigest::Finish() const {
  return FromCanonical(XXH3_128bits_digest(static_cast<XXH3_state_t*>(state_)));
}

uint64_t Checksum64(std::string_view data) { return XXH3_64bits(data.data(), data.size()); }

}  // namespace dr
