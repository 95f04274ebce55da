#include "catalog/format/chunker.h"

#include <bit>
#include <string>

namespace dr {

namespace {
// The gear hash shifts left, so bit k of the fingerprint depends on the last
// k+1 bytes: masks use the top bits, which see a 48..64-byte window.
uint64_t TopBits(int n) { return n <= 0 ? 0 : (~0ULL) << (64 - n); }
}  // namespace

Chunker::Chunker(const ChunkerParams& params, const KeyedHasher& hasher) : params_(params) {
  for (int i = 0; i < 256; ++i) {
    std::string label = "fastcdc-gear:" + std::to_string(i);
    gear_[i] = hasher.Hash(label).Low64();
  }
  int bits = std::countr_zero(params_.avg_size);
  mask_small_ = TopBits(bits + 2);
  mask_large_ = TopBits(bits - 2);
}

size_t Chunker::NextCut(std::string_view data) const {
  const size_t n = data.size();
  if (n <= params_.min_size) return n;
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  const size_t limit = n < params_.max_size ? n : params_.max_size;
  const size_t normal = limit < params_.avg_size ? limit : params_.avg_size;
  uint64_t fp = 0;
  size_t i = params_.min_size;
  for (; i < normal; ++i) {
    fp = (fp << 1) + gear_[p[i]];
    if ((fp & mask_small_) == 0) return i + 1;
  }
  for (; i < limit; ++i) {
    fp = (fp << 1) + gear_[p[i]];
    if ((fp & mask_large_) == 0) return i + 1;
  }
  return limit;
}

}  // namespace dr
