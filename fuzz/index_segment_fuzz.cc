// DecodeIndexSegment: an "index/<hex>" object, read for every pack it lists
// when a repository is opened. The input as stored, and its payload sealed
// again with a right length and checksum (so mutations reach the payload
// decoder). A segment that decodes must encode to the same bytes.
#include "catalog/format/index.h"
#include "core/envelope.h"
#include "fuzz/fuzz_util.h"

namespace {

void Check(std::string_view object) {
  auto packs = dr::DecodeIndexSegment(object, "index segment");
  if (!packs.ok()) return;
  FUZZ_CHECK(dr::EncodeIndexSegment(*packs) == object);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in = dr::fuzz::AsView(data, size);
  Check(in);
  Check(dr::SealEnvelope(dr::EnvelopeKind::kIndex, dr::fuzz::EnvelopePayload(in)));
  return 0;
}
