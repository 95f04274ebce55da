// DecodeKeySlot: a "keys/<id>" object of an encrypted repository, read in
// the clear before any key is known, so whoever can write the store can
// plant one. Also the sealed blob and snapshot openers with a fixed keyring:
// no input may open, and none may crash or read out of bounds.
#include "catalog/keyring.h"
#include "catalog/repo_keys.h"
#include "fuzz/fuzz_util.h"

namespace {

const dr::Keyring& FixedKeyring() {
  static const dr::Keyring k = [] {
    std::string json = "{\"id_secret\":\"" + std::string(384, 'a') +
                       "\",\"data_keys\":[{\"number\":1,\"key\":\"" + std::string(64, 'b') +
                       "\"}]}";
    return *dr::Keyring::Decode(json, "fixed");
  }();
  return k;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in = dr::fuzz::AsView(data, size);
  auto slot = dr::DecodeKeySlot("0123456789abcdef", in, "slot");
  if (slot.ok()) FUZZ_CHECK(slot->kind == "passphrase" || slot->kind == "key-file");
  dr::BlobScratch scratch;
  auto blob = FixedKeyring().OpenBlob(dr::BlobType::kData, dr::Id{}, 100, in, "blob", &scratch);
  FUZZ_CHECK(!blob.ok());
  FUZZ_CHECK(!FixedKeyring().OpenObject("snapshot", in, "snapshot").ok());
  return 0;
}
