// RepoConfig::Decode: the repository's "config" object (an envelope around
// JSON), read first whenever a repository is opened. The input as stored,
// and its payload sealed again (so mutations reach the JSON decoder). A
// config that decodes must re-encode to one that decodes equal.
#include "catalog/format/repo_config.h"
#include "core/envelope.h"
#include "fuzz/fuzz_util.h"

namespace {

void Check(std::string_view object) {
  auto c = dr::RepoConfig::Decode(object, "config");
  if (!c.ok()) return;
  FUZZ_CHECK(c->chunker.Validate().ok());
  const std::string once = c->Encode();
  auto again = dr::RepoConfig::Decode(once, "re-encoded config");
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->format_version == c->format_version && again->repo_id == c->repo_id &&
             again->secret == c->secret && again->pack_size == c->pack_size &&
             again->compression_level == c->compression_level &&
             again->created_unix_ns == c->created_unix_ns &&
             again->chunker.min_size == c->chunker.min_size &&
             again->chunker.avg_size == c->chunker.avg_size &&
             again->chunker.max_size == c->chunker.max_size);
  FUZZ_CHECK(again->Encode() == once);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in = dr::fuzz::AsView(data, size);
  Check(in);
  Check(dr::SealEnvelope(dr::EnvelopeKind::kConfig, dr::fuzz::EnvelopePayload(in)));
  return 0;
}
