#include "catalog/signing.h"

#include <sodium.h>

#include <sys/stat.h>
#include <cerrno>

#include "core/env/file_io.h"
#include "core/hash.h"

namespace dr {

namespace {

bool SodiumReady() {
  static const bool ready = sodium_init() >= 0;  // picks the fastest implementation; idempotent
  return ready;
}

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// Raw bytes of lowercase or uppercase hex; false when `hex` is not exactly
// `size` bytes of it.
bool FromHexBytes(std::string_view hex, size_t size, std::string* out) {
  if (hex.size() != 2 * size) return false;
  out->assign(size, '\0');
  size_t len = 0;
  return sodium_hex2bin(reinterpret_cast<unsigned char*>(out->data()), size, hex.data(), hex.size(),
                        nullptr, &len, nullptr) == 0 &&
         len == size;
}

}  // namespace

std::string ChainDigest(std::string_view bytes) {
  (void)SodiumReady();
  unsigned char out[crypto_generichash_BYTES];
  crypto_generichash(out, sizeof out, Bytes(bytes), bytes.size(), nullptr, 0);
  return ToHex(std::string_view(reinterpret_cast<const char*>(out), sizeof out));
}

Result<SigningKey> SigningKey::Load(const std::string& path) {
  if (!SodiumReady()) return Status::Unavailable("libsodium failed to initialise");
  ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  SigningKey key;
  if (!FromHexBytes(text, crypto_sign_SECRETKEYBYTES, &key.secret_)) {
    return Status::Corruption(path + ": not a signing key (expected " +
                              std::to_string(2 * crypto_sign_SECRETKEYBYTES) + " hex digits)");
  }
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  crypto_sign_ed25519_sk_to_pk(pk, Bytes(key.secret_));
  key.public_hex_ = ToHex(std::string_view(reinterpret_cast<const char*>(pk), sizeof pk));
  return key;
}

Result<SigningKey> SigningKey::LoadOrCreate(const std::string& path) {
  if (!SodiumReady()) return Status::Unavailable("libsodium failed to initialise");
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 || errno != ENOENT) return Load(path);
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_keypair(pk, sk);
  const std::string text =
      ToHex(std::string_view(reinterpret_cast<const char*>(sk), sizeof sk)) + "\n";
  sodium_memzero(sk, sizeof sk);
  // Two processes making the key at once: one file wins, both use it.
  Status made = WriteFileAtomically(path, text, ReplaceMode::kCreateIfAbsent, 0600);
  if (!made.ok() && made.code() != Code::kAlreadyExists) return made;
  return Load(path);
}

Result<SigningKey> SigningKey::FromSeed(std::string_view seed) {
  if (!SodiumReady()) return Status::Unavailable("libsodium failed to initialise");
  if (seed.size() != crypto_sign_SEEDBYTES)
    return Status::InvalidArgument("a signing key seed is " +
                                   std::to_string(crypto_sign_SEEDBYTES) + " bytes");
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_seed_keypair(pk, sk, Bytes(seed));
  SigningKey key;
  key.secret_.assign(reinterpret_cast<const char*>(sk), sizeof sk);
  sodium_memzero(sk, sizeof sk);
  key.public_hex_ = ToHex(std::string_view(reinterpret_cast<const char*>(pk), sizeof pk));
  return key;
}

std::string SigningKey::Sign(std::string_view message) const {
  unsigned char sig[crypto_sign_BYTES];
  crypto_sign_detached(sig, nullptr, Bytes(message), message.size(), Bytes(secret_));
  return ToHex(std::string_view(reinterpret_cast<const char*>(sig), sizeof sig));
}

bool VerifySignature(const std::string& public_hex, std::string_view message,
                     const std::string& signature_hex) {
  if (!SodiumReady()) return false;
  std::string pk, sig;
  if (!FromHexBytes(public_hex, crypto_sign_PUBLICKEYBYTES, &pk) ||
      !FromHexBytes(signature_hex, crypto_sign_BYTES, &sig))
    return false;
  return crypto_sign_verify_detached(Bytes(sig), Bytes(message), message.size(), Bytes(pk)) == 0;
}

}  // namespace dr
