// DecodeBlobInto: a blob as stored in a pack (zstd-compressed, or raw when
// that is not smaller), with the raw length and id its index entry or the
// agent's blob message claims, any raw_len up to 2^32-1 (the decoder's own
// bound, kMaxBlobBytes, must refuse the rest before allocating). Input: raw_len
// (4 bytes, little endian), the id (16 bytes), then the stored bytes. When
// only the id is wrong, the blob is decoded again under its right id (which
// must then succeed with the same bytes), and a decoded blob must survive
// EncodeBlob -> DecodeBlob.
#include <cstring>

#include "catalog/format/blob.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 20) return 0;
  uint32_t raw_len;
  std::memcpy(&raw_len, data, 4);
  const dr::Id id = dr::Id::FromBytes(dr::fuzz::AsView(data + 4, 16));
  const std::string_view stored = dr::fuzz::AsView(data + 20, size - 20);
  const dr::KeyedHasher& hasher = dr::fuzz::FuzzHasher();

  // Up to 64 KiB a fresh scratch per input, so ASan sees the exact bounds;
  // above, one reused scratch, as the readers reuse theirs (a fresh mmap of
  // up to 64 MiB per input would run at under 1000 inputs a second).
  static dr::BlobScratch big, big2;
  dr::BlobScratch small, small2;
  dr::BlobScratch& scratch = raw_len <= (64u << 10) ? small : big;
  dr::BlobScratch& scratch2 = raw_len <= (64u << 10) ? small2 : big2;
  auto raw = dr::DecodeBlobInto(stored, raw_len, id, hasher, "blob", &scratch);
  std::string_view content;
  if (raw.ok()) {
    content = *raw;
  } else if (raw.status().message().find("does not match its id") != std::string::npos) {
    // Decoded to raw_len bytes, only the id differs: they are in scratch
    // (or the stored bytes themselves, when stored raw).
    content = stored.size() == raw_len ? stored : std::string_view(scratch.data.get(), raw_len);
    auto right =
        dr::DecodeBlobInto(stored, raw_len, hasher.Hash(content), hasher, "blob", &scratch2);
    FUZZ_CHECK(right.ok());
    FUZZ_CHECK(*right == content);
  } else {
    return 0;
  }
  FUZZ_CHECK(content.size() == raw_len);
  FUZZ_CHECK(raw_len <= dr::kMaxBlobBytes);
  if (content.size() <= (1u << 20)) {
    const std::string enc = dr::EncodeBlob(content, 1);
    FUZZ_CHECK(enc.size() <= content.size());
    auto back = dr::DecodeBlob(enc, raw_len, hasher.Hash(content), hasher, "re-encoded blob");
    FUZZ_CHECK(back.ok());
    FUZZ_CHECK(*back == content);
  }
  return 0;
}
