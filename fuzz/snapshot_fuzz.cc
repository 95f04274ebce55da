// DecodeSnapshot: a "snapshots/<id>" object (an envelope around JSON), read
// by every listing, restore and incremental backup, and by the vault from
// each commit. The input as stored, and its payload sealed again (so
// mutations reach the JSON decoder). A snapshot that decodes must re-encode
// to an object that decodes, and encode the same from then on.
#include "catalog/format/snapshot.h"
#include "core/envelope.h"
#include "fuzz/fuzz_util.h"

namespace {

void Check(std::string_view object) {
  auto s = dr::DecodeSnapshot(object, "snapshot");
  if (!s.ok()) return;
  (void)s->ShortId();
  const std::string once = dr::EncodeSnapshot(*s);
  auto again = dr::DecodeSnapshot(once, "re-encoded snapshot");
  if (!again.ok()) {
    std::fprintf(stderr, "%s\n", again.status().ToString().c_str());
    FUZZ_CHECK(again.ok());
  }
  FUZZ_CHECK(dr::EncodeSnapshot(*again) == once);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in = dr::fuzz::AsView(data, size);
  Check(in);
  Check(dr::SealEnvelope(dr::EnvelopeKind::kSnapshot, dr::fuzz::EnvelopePayload(in)));
  return 0;
}
