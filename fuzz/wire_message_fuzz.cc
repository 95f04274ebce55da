// wire::DecodeMessage: every frame a vault receives from an agent or a peer,
// and every answer an agent receives (all 19 message types; the fourth byte
// picks the type). A frame that decodes must encode to exactly the same
// bytes: the codec has one encoding per message.
#include "fuzz/fuzz_util.h"
#include "replicator/wire/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view frame = dr::fuzz::AsView(data, size);
  auto m = dr::wire::DecodeMessage(frame);
  if (!m.ok()) return 0;
  (void)dr::wire::SeqOf(*m);
  FUZZ_CHECK(std::string(dr::wire::TypeName(dr::wire::TypeOf(*m))) != "?");
  auto again = dr::wire::EncodeMessage(*m);
  if (!again.ok()) {
    std::fprintf(stderr, "%s\n", again.status().ToString().c_str());
    FUZZ_CHECK(again.ok());
  }
  FUZZ_CHECK(*again == frame);
  return 0;
}
