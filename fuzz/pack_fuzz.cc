// A whole pack held in memory: ParsePack (ParsePackTrailer, then
// ParsePackHeader), as the checker and the vault read one. Each input is also
// tried with its header checksum made right, so that mutated headers reach
// the entry decoder. A pack that parses must be rebuilt byte for byte by
// PackBuilder from its entries and blobs.
#include <cstring>

#include "catalog/format/pack.h"
#include "fuzz/fuzz_util.h"

namespace {

void Check(std::string_view pack) {
  auto entries = dr::ParsePack(pack, "pack");
  if (!entries.ok()) return;
  dr::PackBuilder b;
  for (const auto& e : *entries) {
    FUZZ_CHECK(uint64_t{e.stored_len} <= uint64_t{e.raw_len} + dr::kSealOverhead);
    FUZZ_CHECK(static_cast<uint64_t>(e.offset) + e.stored_len <= pack.size());
    b.Add(e.type, e.id, pack.substr(e.offset, e.stored_len), e.raw_len);
  }
  FUZZ_CHECK(b.Finish() == pack);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in = dr::fuzz::AsView(data, size);
  Check(in);
  // The same pack with the checksum its header bytes have (the trailer's
  // count says where the header starts).
  if (size < dr::kPackTrailerSize) return 0;
  uint32_t count;
  std::memcpy(&count, data + size - dr::kPackTrailerSize, 4);
  const uint64_t header_len = static_cast<uint64_t>(count) * dr::kPackEntrySize;
  if (header_len > size - dr::kPackTrailerSize) return 0;
  std::string fixed(in);
  const size_t header_at = size - dr::kPackTrailerSize - header_len;
  const uint64_t sum = dr::Checksum64(in.substr(header_at, header_len));
  std::memcpy(fixed.data() + size - dr::kPackTrailerSize + 4, &sum, 8);
  if (fixed != in) Check(fixed);
  return 0;
}
