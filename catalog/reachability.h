// Reachability: which indexed blobs some snapshot needs. One bit per
// indexed blob (positions from Repository::IndexOrdinal), so marking a
// repository of N blobs costs N/8 bytes on top of its index, and a subtree
// shared by many snapshots is walked once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "catalog/repository.h"
#include "core/status.h"

namespace dr {

class ReachableSet {
 public:
  explicit ReachableSet(size_t blobs) : bits_((blobs + 63) / 64, 0) {}
  // True when `ordinal` was not marked before.
  bool Mark(size_t ordinal) {
    uint64_t& w = bits_[ordinal / 64];
    const uint64_t bit = uint64_t{1} << (ordinal % 64);
    if (w & bit) return false;
    w |= bit;
    ++count_;
    return true;
  }
  bool Test(size_t ordinal) const { return bits_[ordinal / 64] >> (ordinal % 64) & 1; }
  size_t count() const { return count_; }
  size_t MemoryBytes() const { return bits_.capacity() * sizeof(uint64_t); }

 private:
  std::vector<uint64_t> bits_;
  size_t count_ = 0;
};

struct Reachability {
  explicit Reachability(size_t blobs) : set(blobs) {}
  ReachableSet set;
  uint64_t metadata_blobs = 0;  // trees and block map parts walked
  // Referenced blobs the index lacks ("snapshot 1a2b3c4d: blob ... (in tree
  // ...)"), at most a few; non-empty means the repository is damaged and
  // nothing may be deleted on its account.
  std::vector<std::string> missing;
  uint64_t missing_count = 0;
};

// Marks, in `into`, everything `snapshots` reference: their root trees or
// block map heads and, below them, every tree, block map segment and chunk.
// REQUIRES: nothing was added to `repo`'s index since it was opened.
// Errors: a metadata blob that cannot be loaded or decoded.
Status MarkReachable(Repository& repo, const std::vector<Snapshot>& snapshots, Reachability* into);

}  // namespace dr
