// The chunk index: blob id -> (pack, offset, lengths).
//
// On the store: immutable segments "index/<hex>" (docs/format/index.md), each
// written only after every pack it describes is durable. In memory: one sorted
// array of 32-byte entries plus a small hash map of recent additions, so the
// resident cost is about 32 bytes per stored blob (tens of MiB per TiB at the
// default 1 MiB average chunk).
//
// ChunkIndex is not thread-safe; Repository guards it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "catalog/format/pack.h"
#include "core/hash.h"
#include "core/status.h"

namespace dr {

struct BlobLocation {
  Id pack;
  BlobType type = BlobType::kData;
  uint32_t offset = 0;
  uint32_t stored_len = 0;
  uint32_t raw_len = 0;
};

struct IndexPack {
  Id pack;
  std::vector<PackEntry> entries;
};

// Segment codec. Encode returns the sealed object bytes.
std::string EncodeIndexSegment(const std::vector<IndexPack>& packs);
Result<std::vector<IndexPack>> DecodeIndexSegment(std::string_view object, const std::string& what);

class ChunkIndex {
 public:
  void AddPack(const Id& pack, const std::vector<PackEntry>& entries);
  // Packs a prune has condemned (catalog/gc_record.h): their blobs stay
  // findable for reading, but a writer must not count on them (HasLive is
  // false), and a copy in a pack added later replaces their entry. May be
  // called before or after the packs are added; it accumulates.
  void ExcludePacks(const std::vector<Id>& packs);
  bool IsExcluded(const Id& pack) const { return excluded_ids_.count(pack) > 0; }
  bool Has(const Id& id) const;
  // Indexed in a pack that is not excluded: what dedup may rely on.
  bool HasLive(const Id& id) const;
  // The position of `id` in iteration order (ForEach), for bitmaps over the
  // index. REQUIRES: nothing added since the last Compact().
  std::optional<size_t> Ordinal(const Id& id) const;
  std::optional<BlobLocation> Find(const Id& id) const;
  bool HasPack(const Id& pack) const { return pack_pos_.count(pack) > 0; }
  size_t blob_count() const { return sorted_.size() + recent_.size(); }
  size_t pack_count() const { return packs_.size(); }
  const std::vector<Id>& packs() const { return packs_; }
  // Calls fn(id, location) for every blob.
  template <typename Fn>
  void ForEach(Fn fn) const {
    for (const auto& e : sorted_) fn(e.id, ToLocation(e));
    for (const auto& [id, e] : recent_) fn(id, ToLocation(e));
  }
  // Forgets every pack and blob, keeping the exclusions.
  void ClearEntries();
  // Moves recent additions into the sorted array (after a bulk load).
  void Compact();
  // Bytes of memory the entries occupy (for the documented per-blob cost).
  size_t MemoryBytes() const;

 private:
  struct Entry {  // 32 bytes
    Id id;
    uint32_t pack_and_type;  // pack position << 1 | type
    uint32_t offset;
    uint32_t stored_len;
    uint32_t raw_len;
  };
  static_assert(sizeof(Entry) == 32);
  BlobLocation ToLocation(const Entry& e) const;
  void MergeRecent();
  Entry* FindEntry(const Id& id);
  bool ExcludedPos(uint32_t pos) const { return pos < excluded_.size() && excluded_[pos]; }

  std::vector<Id> packs_;
  std::unordered_map<Id, uint32_t, IdHash> pack_pos_;
  std::vector<Entry> sorted_;
  std::unordered_map<Id, Entry, IdHash> recent_;
  std::unordered_set<Id, IdHash> excluded_ids_;
  std::vector<bool> excluded_;  // by pack position
};

}  // namespace dr
