#include "catalog/format/blob.h"

#include <zstd.h>

namespace dr {

namespace {
// One compression context per thread: creating one per blob costs more than
// compressing a small blob.
ZSTD_CCtx* ThreadCCtx() {
  thread_local struct Holder {
    ZSTD_CCtx* c = ZSTD_createCCtx();
    ~Holder() { ZSTD_freeCCtx(c); }
  } h;
  return h.c;
}
ZSTD_DCtx* ThreadDCtx() {
  thread_local struct Holder {
    ZSTD_DCtx* d = ZSTD_createDCtx();
    ~Holder() { ZSTD_freeDCtx(d); }
  } h;
  return h.d;
}
}  // namespace

std::string_view EncodeBlobInto(std::string_view raw, int level, BlobScratch* scratch) {
  if (level <= 0 || raw.size() < 64) return raw;
  // Only a result that is actually smaller is kept, so the output buffer can
  // be capped at raw.size()-1: zstd then fails fast on incompressible data.
  const size_t cap = raw.size() - 1;
  char* out = ScratchSpace(scratch, cap);
  size_t n = ZSTD_compressCCtx(ThreadCCtx(), out, cap, raw.data(), raw.size(), level);
  if (ZSTD_isError(n)) return raw;
  return std::string_view(out, n);
}

std::string EncodeBlob(std::string_view raw, int level) {
  BlobScratch scratch;
  return std::string(EncodeBlobInto(raw, level, &scratch));
}

char* ScratchSpace(BlobScratch* scratch, size_t n) {
  if (scratch->capacity < n) {
    scratch->data.reset(new char[n]);
    scratch->capacity = n;
  }
  return scratch->data.get();
}

Result<std::string_view> DecodeBlobInto(std::string_view stored, uint32_t raw_len, const Id& id,
                                        const KeyedHasher& hasher, const std::string& what,
                                        BlobScratch* scratch) {
  // Both lengths are bounded before anything is allocated: the raw length by
  // the largest blob, the stored one by the raw one (a blob is compressed
  // exactly when it is shorter), so the buffer below is at most
  // kMaxBlobBytes and zstd cannot write past it.
  if (raw_len > kMaxBlobBytes) {
    return Status::Corruption(what + ": blob " + id.Hex() + " raw length " +
                              std::to_string(raw_len) + " is over the limit of " +
                              std::to_string(kMaxBlobBytes));
  }
  if (stored.size() > raw_len) {
    return Status::Corruption(what + ": blob " + id.Hex() + " stored length " +
                              std::to_string(stored.size()) + " is larger than its raw length " +
                              std::to_string(raw_len));
  }
  std::string_view raw = stored;
  if (stored.size() != raw_len) {
    char* out = ScratchSpace(scratch, raw_len);
    size_t n = ZSTD_decompressDCtx(ThreadDCtx(), out, raw_len, stored.data(), stored.size());
    if (ZSTD_isError(n)) {
      return Status::Corruption(what + ": blob " + id.Hex() + " does not decompress (" +
                                ZSTD_getErrorName(n) + ")");
    }
    if (n != raw_len) {
      return Status::Corruption(what + ": blob " + id.Hex() + " decompressed to " +
                                std::to_string(n) + " bytes, expected " + std::to_string(raw_len));
    }
    raw = std::string_view(out, n);
  }
  if (hasher.Hash(raw) != id) {
    return Status::Corruption(what + ": blob " + id.Hex() + " content does not match its id");
  }
  return raw;
}

Result<std::string> DecodeBlob(std::string_view stored, uint32_t raw_len, const Id& id,
                               const KeyedHasher& hasher, const std::string& what) {
  BlobScratch scratch;
  ASSIGN_OR_RETURN(std::string_view raw,
                   DecodeBlobInto(stored, raw_len, id, hasher, what, &scratch));
  return std::string(raw);
}

}  // namespace dr
