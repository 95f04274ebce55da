// DecodeKeySlot: a "keys/<id>" object of an encrypted repository, read in
// the clear before any key is known, so whoever can write the store can
// plant one. Also the sealed blob and snapshot openers with a fixed keyring:
// no input may open, and none may crash or read out of bounds. And
// DecodeSnapshotSummary, which a keyless off-site vault reads from its peer:
// what it accepts encodes and decodes to the same snapshot.
#include "catalog/keyring.h"
#include "catalog/repo_keys.h"
#include "catalog/snapshot_summary.h"
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
  std::vector<dr::Id> packs, packs_again;
  auto summary = dr::DecodeSnapshotSummary(in, "summary", &packs);
  if (summary.ok()) {
    const dr::KeyedHasher ids(FixedKeyring().id_secret());
    auto again = dr::DecodeSnapshotSummary(dr::EncodeSnapshotSummary(*summary, ids, packs), "again",
                                           &packs_again);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(packs_again == packs);
    FUZZ_CHECK(again->id == summary->id && again->time_ns == summary->time_ns &&
               again->policy == summary->policy && again->identity == summary->identity &&
               again->tags == summary->tags &&
               again->block.has_value() == summary->block.has_value());
  }
  return 0;
}
