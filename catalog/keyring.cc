#include "catalog/keyring.h"

#include <sodium.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "catalog/format/repo_config.h"
#include "core/bytes.h"

namespace dr {

using json = nlohmann::json;

namespace {

constexpr size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
static_assert(kSealOverhead == 4 + kNonceBytes + kTagBytes);
static_assert(kKeyBytes == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
constexpr size_t kIdSecretBytes = 192;

bool SodiumReady() {
  static const bool ready = sodium_init() >= 0;
  return ready;
}

// What a sealed blob is bound to: moving it to another id, type or length,
// or passing it off as an object, fails to open.
std::string BlobAd(BlobType type, const Id& id, uint32_t raw_len) {
  std::string ad = "dr-blob";
  ad.push_back(static_cast<char>(type));
  ad.append(id.Bytes());
  ByteWriter(&ad).U32(raw_len);
  return ad;
}

std::string ObjectAd(std::string_view domain) { return "dr-object:" + std::string(domain); }

}  // namespace

int64_t JsonIntegerIn(const json& j, const char* name, int64_t lo, int64_t hi) {
  if (j.is_number_unsigned()) {
    const auto u = j.get<uint64_t>();
    if (u <= static_cast<uint64_t>(hi) && static_cast<int64_t>(u) >= lo) {
      return static_cast<int64_t>(u);
    }
  } else if (j.is_number_integer()) {
    const auto v = j.get<int64_t>();
    if (v >= lo && v <= hi) return v;
  }
  throw std::runtime_error(std::string(name) + " is not an integer from " + std::to_string(lo) +
                           " to " + std::to_string(hi));
}

bool FromHexExact(const std::string& hex, size_t want, std::string* out) {
  if (hex.size() != 2 * want) return false;
  out->assign(want, '\0');
  size_t got = 0;
  return sodium_hex2bin(reinterpret_cast<unsigned char*>(out->data()), want, hex.data(), hex.size(),
                        nullptr, &got, nullptr) == 0 &&
         got == want;
}

std::string SealWithKey(std::string_view key, std::string_view ad, std::string_view plain) {
  SodiumReady();
  std::string out(kNonceBytes + plain.size() + kTagBytes, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  randombytes_buf(o, kNonceBytes);
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      o + kNonceBytes, nullptr, reinterpret_cast<const unsigned char*>(plain.data()), plain.size(),
      reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr, o,
      reinterpret_cast<const unsigned char*>(key.data()));
  return out;
}

Result<std::string> OpenWithKey(std::string_view key, std::string_view ad, std::string_view sealed,
                                const std::string& what) {
  SodiumReady();
  if (key.size() != kKeyBytes || sealed.size() < kNonceBytes + kTagBytes) {
    return Status::Corruption(what + ": sealed data is truncated (" +
                              std::to_string(sealed.size()) + " bytes)");
  }
  std::string out(sealed.size() - kNonceBytes - kTagBytes, '\0');
  const auto* s = reinterpret_cast<const unsigned char*>(sealed.data());
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(out.data()), nullptr, nullptr, s + kNonceBytes,
          sealed.size() - kNonceBytes, reinterpret_cast<const unsigned char*>(ad.data()), ad.size(),
          s, reinterpret_cast<const unsigned char*>(key.data())) != 0) {
    return Status::Corruption(what + ": does not open with this key (wrong key, or forged)");
  }
  return out;
}

Result<Keyring> Keyring::Generate() {
  if (!SodiumReady()) return Status::IOError("libsodium failed to initialise");
  Keyring k;
  RETURN_IF_ERROR(RandomBytes(kIdSecretBytes, &k.id_secret_));
  std::string key;
  RETURN_IF_ERROR(RandomBytes(kKeyBytes, &key));
  k.data_keys_[1] = std::move(key);
  return k;
}

Status Keyring::Rotate() {
  std::string key;
  RETURN_IF_ERROR(RandomBytes(kKeyBytes, &key));
  const uint32_t next = current() + 1;
  if (next == 0) return Status::InvalidArgument("no data key number is left to rotate to");
  data_keys_[next] = std::move(key);
  return Status::OK();
}

Status Keyring::Merge(const Keyring& other, const std::string& what) {
  if (other.id_secret_ != id_secret_ || (!other.config_digest_.empty() && !config_digest_.empty() &&
                                         other.config_digest_ != config_digest_)) {
    return Status::InvalidArgument(what +
                                   ": keyring of another repository (its id secret differs)");
  }
  for (const auto& [n, key] : other.data_keys_) {
    auto [it, added] = data_keys_.emplace(n, key);
    if (!added && it->second != key) {
      return Status::InvalidArgument(what + ": data key " + std::to_string(n) +
                                     " differs from the one already read");
    }
  }
  return Status::OK();
}

std::string Keyring::Encode() const {
  json keys = json::array();
  for (const auto& [n, key] : data_keys_) keys.push_back({{"number", n}, {"key", ToHex(key)}});
  json j = {{"id_secret", ToHex(id_secret_)}, {"data_keys", keys}};
  if (!config_digest_.empty()) j["config_digest"] = config_digest_;
  return j.dump();
}

Result<Keyring> Keyring::Decode(std::string_view plain, const std::string& what) {
  Keyring k;
  try {
    const json j = json::parse(plain);
    if (!FromHexExact(j.at("id_secret").get<std::string>(), kIdSecretBytes, &k.id_secret_)) {
      return Status::Corruption(what + ": id_secret is not " + std::to_string(kIdSecretBytes) +
                                " bytes of hex");
    }
    k.config_digest_ = j.value("config_digest", "");
    for (const auto& e : j.at("data_keys")) {
      const auto n = static_cast<uint32_t>(JsonIntegerIn(e.at("number"), "number", 1, UINT32_MAX));
      std::string key;
      if (n == 0 || !FromHexExact(e.at("key").get<std::string>(), kKeyBytes, &key) ||
          !k.data_keys_.emplace(n, std::move(key)).second) {
        return Status::Corruption(what + ": data key " + std::to_string(n) + " is malformed");
      }
    }
  } catch (const std::exception& e) {
    return Status::Corruption(what + ": " + e.what());
  }
  if (k.data_keys_.empty()) return Status::Corruption(what + ": holds no data key");
  return k;
}

std::string_view Keyring::SealBlob(BlobType type, const Id& id, uint32_t raw_len,
                                   std::string_view stored, BlobScratch* scratch) const {
  const std::string ad = BlobAd(type, id, raw_len);
  const size_t n = kSealOverhead + stored.size();
  auto* o = reinterpret_cast<unsigned char*>(ScratchSpace(scratch, n));
  std::string number;
  ByteWriter(&number).U32(current());
  std::copy(number.begin(), number.end(), o);
  randombytes_buf(o + 4, kNonceBytes);
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      o + 4 + kNonceBytes, nullptr, reinterpret_cast<const unsigned char*>(stored.data()),
      stored.size(), reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr, o + 4,
      reinterpret_cast<const unsigned char*>(data_keys_.rbegin()->second.data()));
  return std::string_view(reinterpret_cast<const char*>(o), n);
}

Result<std::string_view> Keyring::OpenBlob(BlobType type, const Id& id, uint32_t raw_len,
                                           std::string_view sealed, const std::string& what,
                                           BlobScratch* scratch) const {
  char* copy = ScratchSpace(scratch, sealed.size());
  std::copy(sealed.begin(), sealed.end(), copy);
  return OpenBlobInPlace(type, id, raw_len, copy, sealed.size(), what);
}

Result<std::string_view> Keyring::OpenBlobInPlace(BlobType type, const Id& id, uint32_t raw_len,
                                                  char* sealed, size_t size,
                                                  const std::string& what) const {
  if (size < kSealOverhead) {
    return Status::Corruption(what + ": blob " + id.Hex() + " is truncated (" +
                              std::to_string(size) + " bytes, less than the " +
                              std::to_string(kSealOverhead) + " of its seal)");
  }
  uint32_t number = 0;
  ByteReader(std::string_view(sealed, 4)).U32(&number);
  auto key = data_keys_.find(number);
  if (key == data_keys_.end()) {
    return Status::Corruption(what + ": blob " + id.Hex() + " is sealed with data key " +
                              std::to_string(number) + ", which the keyring does not hold");
  }
  const std::string ad = BlobAd(type, id, raw_len);
  // The tag is checked before anything is decrypted, and the ciphertext is
  // decrypted onto itself (libsodium allows m == c).
  auto* c = reinterpret_cast<unsigned char*>(sealed + 4 + kNonceBytes);
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          c, nullptr, nullptr, c, size - 4 - kNonceBytes,
          reinterpret_cast<const unsigned char*>(ad.data()), ad.size(),
          reinterpret_cast<const unsigned char*>(sealed + 4),
          reinterpret_cast<const unsigned char*>(key->second.data())) != 0) {
    return Status::Corruption(what + ": blob " + id.Hex() +
                              " fails authentication (truncated, forged, or moved from elsewhere)");
  }
  return std::string_view(reinterpret_cast<const char*>(c), size - kSealOverhead);
}

std::string Keyring::SealObject(std::string_view domain, std::string_view plain) const {
  std::string out;
  ByteWriter(&out).U32(current());
  out += SealWithKey(data_keys_.rbegin()->second, ObjectAd(domain), plain);
  return out;
}

Result<std::string> Keyring::OpenObject(std::string_view domain, std::string_view sealed,
                                        const std::string& what) const {
  if (sealed.size() < kSealOverhead) {
    return Status::Corruption(what + ": sealed object is truncated");
  }
  uint32_t number = 0;
  ByteReader(sealed).U32(&number);
  auto key = data_keys_.find(number);
  if (key == data_keys_.end()) {
    return Status::Corruption(what + ": sealed with data key " + std::to_string(number) +
                              ", which the keyring does not hold");
  }
  return OpenWithKey(key->second, ObjectAd(domain), sealed.substr(4), what);
}

}  // namespace dr
