// Loading a repository's index and keeping it current while others write
// and prune (Repository::Impl's index half; repository_impl.h).
#include "catalog/repository_impl.h"

#include <string>
#include <unordered_set>
#include <vector>

#include "catalog/gc_record.h"

namespace dr {

std::vector<Id> PacksOf(const std::vector<IndexPack>& segment) {
  std::vector<Id> packs;
  packs.reserve(segment.size());
  for (const auto& p : segment) packs.push_back(p.pack);
  return packs;
}

Status Repository::Impl::RefreshExclusions() {
  ASSIGN_OR_RETURN(auto records, ListGcRecords(store_.get()));
  {
    std::unique_lock l(index_mu_);
    index_.ExcludePacks(CondemnedPacks(records));
  }
  if (!index_loaded_) return Status::OK();
  // Segments written since Open by others (another backup, a prune that
  // repacked): a long-lived writer such as a vault learns where repacked
  // blobs went, so they count as stored.
  ASSIGN_OR_RETURN(auto segments, store_->List("index/"));
  std::unordered_set<std::string> listed;
  std::vector<std::pair<std::string, std::vector<IndexPack>>> added;
  for (const auto& seg : segments) {
    listed.insert(seg.key);
    {
      std::shared_lock l(index_mu_);
      if (loaded_segments_.count(seg.key)) continue;
    }
    auto raw = store_->Get(seg.key);
    if (!raw.ok()) {
      if (raw.status().IsNotFound()) continue;  // replaced by a prune meanwhile
      return raw.status();
    }
    ASSIGN_OR_RETURN(auto packs, DecodeIndexSegment(*raw, store_->Url() + "/" + seg.key));
    added.push_back({seg.key, std::move(packs)});
  }
  std::unique_lock l(index_mu_);
  // A prune deletes the packs it doomed before the segments that list them,
  // and drops its record only after both: so once a segment we loaded is
  // gone and its record with it, a pack no remaining segment lists is gone
  // too (or about to be). Without this, a writer that opened before that
  // prune would go on trusting the deleted pack's blobs as stored.
  std::vector<Id> vanished_packs;
  for (auto it = loaded_segments_.begin(); it != loaded_segments_.end();) {
    if (listed.count(it->first)) {
      ++it;
      continue;
    }
    vanished_packs.insert(vanished_packs.end(), it->second.begin(), it->second.end());
    it = loaded_segments_.erase(it);
  }
  if (!vanished_packs.empty()) {
    std::unordered_set<Id, IdHash> still_listed;
    for (const auto& [key, packs] : loaded_segments_)
      still_listed.insert(packs.begin(), packs.end());
    for (const auto& [key, packs] : added)
      for (const auto& p : packs) still_listed.insert(p.pack);
    for (const auto& p : unwritten_index_) still_listed.insert(p.pack);
    std::vector<Id> gone;
    for (const Id& p : vanished_packs)
      if (!still_listed.count(p)) gone.push_back(p);
    index_.ExcludePacks(gone);
  }
  // Added after the exclusions, so a blob a prune moved points at its new
  // pack (an entry in an excluded pack gives way).
  for (auto& [key, packs] : added) {
    for (const auto& p : packs) index_.AddPack(p.pack, p.entries);
    loaded_segments_[key] = PacksOf(packs);
  }
  return Status::OK();
}

Status Repository::ExcludeMissingPacks() {
  // Only packs indexed before the listing: a pack is indexed after it is
  // durable, so each of these is listed unless it was deleted.
  std::vector<Id> indexed;
  {
    std::shared_lock l(impl_->index_mu_);
    indexed = impl_->index_.packs();
  }
  ASSIGN_OR_RETURN(auto listed, impl_->store_->List("data/"));
  std::unordered_set<Id, IdHash> present;
  for (const auto& o : listed) {
    Id id;
    if (PackIdFromKey(o.key, &id)) present.insert(id);
  }
  std::vector<Id> missing;
  for (const Id& p : indexed)
    if (!present.count(p)) missing.push_back(p);
  std::unique_lock l(impl_->index_mu_);
  impl_->index_.ExcludePacks(missing);
  return Status::OK();
}

Status Repository::Impl::LoadIndex() {
  // A prune replaces segments: it writes the new ones before deleting the
  // old, so a segment that vanished between List and Get means a newer
  // listing has its content. Start over (a few times) rather than open
  // with part of the index missing.
  for (int attempt = 0;; ++attempt) {
    ASSIGN_OR_RETURN(auto segments, store_->List("index/"));
    std::unique_lock l(index_mu_);
    std::vector<std::string> warnings;
    bool vanished = false;
    index_.ClearEntries();
    loaded_segments_.clear();
    for (const auto& seg : segments) {
      const std::string what = store_->Url() + "/" + seg.key;
      auto raw = store_->Get(seg.key);
      if (!raw.ok()) {
        if (raw.status().IsNotFound() && attempt < 3) {
          vanished = true;
          break;
        }
        warnings.push_back(raw.status().message());
        continue;
      }
      auto packs = DecodeIndexSegment(*raw, what);
      if (!packs.ok()) {
        warnings.push_back(packs.status().message());
        continue;
      }
      for (const auto& p : *packs) index_.AddPack(p.pack, p.entries);
      loaded_segments_[seg.key] = PacksOf(*packs);
    }
    if (vanished) continue;
    index_loaded_ = true;
    open_warnings_.insert(open_warnings_.end(), warnings.begin(), warnings.end());
    index_.Compact();
    return Status::OK();
  }
}

}  // namespace dr
