#include "catalog/format/index.h"

#include <algorithm>

#include "catalog/format/pack_fields.h"
#include "core/codec.h"
#include "core/envelope.h"

namespace dr {

namespace {

// docs/format/index.md: the segment payload. A pack record is at least 17
// bytes (id and count), a blob entry exactly 29.
template <class A, class Packs>
void SegmentFields(A& a, Packs& packs) {
  a.Seq("pack", packs, codec::kNoLimit, 17, [&](auto& p) {
    a.IdField("pack id", p.pack);
    a.Seq("blob", p.entries, codec::kNoLimit, 29,
          [&](auto& e) { PackEntryFields(a, e, /*with_offset=*/true); });
  });
}

}  // namespace

std::string EncodeIndexSegment(const std::vector<IndexPack>& packs) {
  std::string payload;
  codec::UncheckedWriter w(&payload);
  SegmentFields(w, packs);
  return SealEnvelope(EnvelopeKind::kIndex, payload);
}

Result<std::vector<IndexPack>> DecodeIndexSegment(std::string_view object,
                                                  const std::string& what) {
  ASSIGN_OR_RETURN(std::string payload, OpenEnvelope(EnvelopeKind::kIndex, object, what));
  std::vector<IndexPack> out;
  codec::Reader r(payload, Code::kCorruption);
  SegmentFields(r, out);
  r.Finish();
  RETURN_IF_ERROR(r.status(what));
  return out;
}

void ChunkIndex::AddPack(const Id& pack, const std::vector<PackEntry>& entries) {
  auto [it, inserted] = pack_pos_.emplace(pack, static_cast<uint32_t>(packs_.size()));
  if (inserted) packs_.push_back(pack);
  uint32_t pos = it->second;
  if (excluded_ids_.count(pack)) {
    if (excluded_.size() <= pos) excluded_.resize(pos + 1);
    excluded_[pos] = true;
  }
  for (const auto& e : entries) {
    Entry entry{e.id, pos << 1 | static_cast<uint32_t>(e.type), e.offset, e.stored_len, e.raw_len};
    // The same blob in two packs: the first one wins, unless it lies in an
    // excluded pack and this one does not (a prune will delete that one).
    if (Entry* old = FindEntry(e.id)) {
      if (ExcludedPos(old->pack_and_type >> 1) && !ExcludedPos(pos)) *old = entry;
      continue;
    }
    recent_.emplace(e.id, entry);
  }
  // Merge geometrically so loading N entries costs O(N log N), not O(N^2).
  if (recent_.size() > std::max<size_t>(65536, sorted_.size() / 8)) MergeRecent();
}

void ChunkIndex::MergeRecent() {
  size_t old = sorted_.size();
  sorted_.reserve(old + recent_.size());
  for (auto& [id, e] : recent_) sorted_.push_back(e);
  recent_.clear();
  auto less = [](const Entry& a, const Entry& b) { return a.id < b.id; };
  std::sort(sorted_.begin() + static_cast<ptrdiff_t>(old), sorted_.end(), less);
  std::inplace_merge(sorted_.begin(), sorted_.begin() + static_cast<ptrdiff_t>(old), sorted_.end(),
                     less);
}

void ChunkIndex::Compact() {
  MergeRecent();
  sorted_.shrink_to_fit();
}

void ChunkIndex::ClearEntries() {
  packs_.clear();
  pack_pos_.clear();
  sorted_.clear();
  recent_.clear();
  excluded_.clear();
}

void ChunkIndex::ExcludePacks(const std::vector<Id>& packs) {
  for (const auto& p : packs) {
    excluded_ids_.insert(p);
    auto it = pack_pos_.find(p);
    if (it == pack_pos_.end()) continue;
    if (excluded_.size() <= it->second) excluded_.resize(it->second + 1);
    excluded_[it->second] = true;
  }
}

ChunkIndex::Entry* ChunkIndex::FindEntry(const Id& id) {
  auto r = recent_.find(id);
  if (r != recent_.end()) return &r->second;
  auto it = std::lower_bound(sorted_.begin(), sorted_.end(), id,
                             [](const Entry& e, const Id& k) { return e.id < k; });
  if (it != sorted_.end() && it->id == id) return &*it;
  return nullptr;
}

bool ChunkIndex::Has(const Id& id) const { return Find(id).has_value(); }

bool ChunkIndex::HasLive(const Id& id) const {
  const Entry* e = const_cast<ChunkIndex*>(this)->FindEntry(id);
  return e && !ExcludedPos(e->pack_and_type >> 1);
}

std::optional<size_t> ChunkIndex::Ordinal(const Id& id) const {
  auto it = std::lower_bound(sorted_.begin(), sorted_.end(), id,
                             [](const Entry& e, const Id& k) { return e.id < k; });
  if (it != sorted_.end() && it->id == id) return static_cast<size_t>(it - sorted_.begin());
  return std::nullopt;
}

std::optional<BlobLocation> ChunkIndex::Find(const Id& id) const {
  auto r = recent_.find(id);
  if (r != recent_.end()) return ToLocation(r->second);
  auto it = std::lower_bound(sorted_.begin(), sorted_.end(), id,
                             [](const Entry& e, const Id& k) { return e.id < k; });
  if (it != sorted_.end() && it->id == id) return ToLocation(*it);
  return std::nullopt;
}

BlobLocation ChunkIndex::ToLocation(const Entry& e) const {
  return {packs_[e.pack_and_type >> 1], static_cast<BlobType>(e.pack_and_type & 1), e.offset,
          e.stored_len, e.raw_len};
}

size_t ChunkIndex::MemoryBytes() const {
  return sorted_.capacity() * sizeof(Entry) + recent_.size() * (sizeof(Entry) + 32) +
         packs_.capacity() * sizeof(Id) + pack_pos_.size() * 48;
}

}  // namespace dr
