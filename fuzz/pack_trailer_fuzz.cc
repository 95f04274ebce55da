// ParsePackTrailer: the fixed 17-byte end of a pack, read first by every
// reader of a stored pack (catalog/pack_reader.h), for any pack size.
// Input: the pack size (8 bytes, little endian), then the trailer bytes.
#include <cstring>

#include "catalog/format/pack.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  uint64_t pack_size;
  std::memcpy(&pack_size, data, 8);
  const std::string_view trailer = dr::fuzz::AsView(data + 8, size - 8);
  auto tr = dr::ParsePackTrailer(trailer, pack_size, "pack");
  if (!tr.ok()) return 0;
  // What the reader then fetches must lie inside the pack.
  FUZZ_CHECK(trailer.size() == dr::kPackTrailerSize);
  FUZZ_CHECK(tr->header_len == static_cast<uint64_t>(tr->count) * dr::kPackEntrySize);
  FUZZ_CHECK(tr->header_len + dr::kPackTrailerSize <= pack_size);
  FUZZ_CHECK(tr->header_offset + tr->header_len + dr::kPackTrailerSize == pack_size);
  return 0;
}
