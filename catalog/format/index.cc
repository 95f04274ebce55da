#include "catalog/format/index.h"

#include <algorithm>

#include "core/bytes.h"
#include "core/envelope.h"

namespace dr {

std::string EncodeIndexSegment(const std::vector<IndexPack>& packs) {
  std::string payload;
  ByteWriter w(&payload);
  w.Var(packs.size());
  for (const auto& p : packs) {
    w.Raw(p.pack.Bytes());
    w.Var(p.entries.size());
    for (const auto& e : p.entries) {
      w.U8(static_cast<uint8_t>(e.type));
      w.Raw(e.id.Bytes());
      w.U32(e.offset);
      w.U32(e.stored_len);
      w.U32(e.raw_len);
    }
  }
  return SealEnvelope(EnvelopeKind::kIndex, payload);
}

Result<std::vector<IndexPack>> DecodeIndexSegment(std::string_view object,
                                                  const std::string& what) {
  ASSIGN_OR_RETURN(std::string payload, OpenEnvelope(EnvelopeKind::kIndex, object, what));
  ByteReader r(payload);
  uint64_t npacks;
  if (!r.Var(&npacks) || npacks > payload.size() / 17) {
    return Status::Corruption(what + ": bad pack count");
  }
  std::vector<IndexPack> out(npacks);
  for (auto& p : out) {
    std::string_view id;
    uint64_t n;
    if (!r.Raw(16, &id) || !r.Var(&n) || n > r.remaining() / 29) {
      return Status::Corruption(what + ": truncated pack record");
    }
    p.pack = Id::FromBytes(id);
    p.entries.resize(n);
    for (auto& e : p.entries) {
      uint8_t type;
      std::string_view bid;
      if (!(r.U8(&type) && r.Raw(16, &bid) && r.U32(&e.offset) && r.U32(&e.stored_len) &&
            r.U32(&e.raw_len)) ||
          type > 1) {
        return Status::Corruption(what + ": bad blob record in pack " + p.pack.Hex());
      }
      e.type = static_cast<BlobType>(type);
      e.id = Id::FromBytes(bid);
    }
  }
  if (!r.done()) return Status::Corruption(what + ": trailing bytes after the last pack record");
  return out;
}

void ChunkIndex::AddPack(const Id& pack, const std::vector<PackEntry>& entries) {
  auto [it, inserted] = pack_pos_.emplace(pack, static_cast<uint32_t>(packs_.size()));
  if (inserted) packs_.push_back(pack);
  uint32_t pos = it->second;
  for (const auto& e : entries) {
    if (Has(e.id)) continue;  // the same blob in two packs: the first one wins
    recent_.emplace(e.id, Entry{e.id, pos << 1 | static_cast<uint32_t>(e.type), e.offset,
                                e.stored_len, e.raw_len});
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

bool ChunkIndex::Has(const Id& id) const { return Find(id).has_value(); }

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
