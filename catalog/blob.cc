#include "catalog/blob.h"

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
  if (scratch->capacity < cap) {
    scratch->data.reset(new char[cap]);
    scratch->capacity = cap;
  }
  size_t n = ZSTD_compressCCtx(ThreadCCtx(), scratch->data.get(), cap, raw.data(), raw.size(), level);
  if (ZSTD_isError(n)) return raw;
  return std::string_view(scratch->data.get(), n);
}

std::string EncodeBlob(std::string_view raw, int level) {
  BlobScratch scratch;
  return std::string(EncodeBlobInto(raw, level, &scratch));
}

Result<std::string> DecodeBlob(std::string_view stored, uint32_t raw_len, const Id& id,
                               const KeyedHasher& hasher, const std::string& what) {
  std::string raw;
  if (stored.size() == raw_len) {
    raw.assign(stored);
  } else {
    raw.resize(raw_len);
    size_t n = ZSTD_decompressDCtx(ThreadDCtx(), raw.data(), raw.size(), stored.data(),
                                   stored.size());
    if (ZSTD_isError(n)) {
      return Status::Corruption(what + ": blob " + id.Hex() + " does not decompress (" +
                                ZSTD_getErrorName(n) + ")");
    }
    if (n != raw_len) {
      return Status::Corruption(what + ": blob " + id.Hex() + " decompressed to " +
                                std::to_string(n) + " bytes, expected " + std::to_string(raw_len));
    }
  }
  if (hasher.Hash(raw) != id) {
    return Status::Corruption(what + ": blob " + id.Hex() + " content does not match its id");
  }
  return raw;
}

}  // namespace dr
