// FastCDC content-defined chunker with normalized chunking (level 2).
//
// Cut points depend only on content, so inserting bytes near the start of a
// file moves only the cuts next to the insertion. The gear table is derived
// from the repository secret, so cut points cannot be predicted (or probed)
// without it. The realised mean is printed by the chunker test (random data)
// and by `drctl stats` (real data: "mean chunk").
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "catalog/format/repo_config.h"
#include "core/hash.h"

namespace dr {

class Chunker {
 public:
  Chunker(const ChunkerParams& params, const KeyedHasher& hasher);

  // Length of the next chunk at the start of `data`. The caller passes at
  // least max_size bytes unless `data` is the rest of the input; the last
  // chunk of an input may be shorter than min_size.
  // REQUIRES: !data.empty().
  size_t NextCut(std::string_view data) const;
  const ChunkerParams& params() const { return params_; }

 private:
  ChunkerParams params_;
  std::array<uint64_t, 256> gear_;
  uint64_t mask_small_;  // before the average: harder to match
  uint64_t mask_large_;  // after the average: easier to match
};

}  // namespace dr
