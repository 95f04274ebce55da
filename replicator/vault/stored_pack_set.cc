#include "replicator/vault/stored_pack_set.h"

#include "catalog/format/pack.h"
#include "catalog/prune.h"

namespace dr {

Result<size_t> StoredPackSet::Missing(ObjectStore* store, uint64_t closings,
                                      const std::vector<Id>& packs, Id* first) {
  if (listed_at_closings_ == closings) {
    const size_t missing = CountMissing(packs, first);
    if (missing == 0) return missing;
  }
  packs_.clear();
  listed_at_closings_.reset();
  ASSIGN_OR_RETURN(packs_, StoredPacks(store));
  listed_at_closings_ = closings;
  return CountMissing(packs, first);
}

void StoredPackSet::Stored(const std::string& key) {
  Id id;
  if (listed_at_closings_ && PackIdFromKey(key, &id)) packs_.emplace(id, 0);
}

size_t StoredPackSet::CountMissing(const std::vector<Id>& packs, Id* first) const {
  size_t missing = 0;
  for (const Id& p : packs) {
    if (packs_.count(p)) continue;
    if (missing++ == 0) *first = p;
  }
  return missing;
}

}  // namespace dr
