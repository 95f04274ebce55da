// DecodeChangeRecord: a "change-signals/<id>" object, read by the
// ransomware watch (a base's file count, whether an earlier snapshot was
// flagged, the group's baseline) and by `drctl snapshots`. Whoever can write
// the store can plant one. A record that decodes must re-encode to one that
// decodes, and encode the same from then on.
#include "catalog/change_record.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = dr::DecodeChangeRecord(dr::fuzz::AsView(data, size), "record");
  if (!r.ok()) return 0;
  const std::string once = dr::EncodeChangeRecord(*r);
  auto again = dr::DecodeChangeRecord(once, "re-encoded record");
  if (!again.ok()) {
    std::fprintf(stderr, "%s\n", again.status().ToString().c_str());
    FUZZ_CHECK(again.ok());
  }
  FUZZ_CHECK(dr::EncodeChangeRecord(*again) == once);
  return 0;
}
