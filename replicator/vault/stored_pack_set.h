// StoredPackSet: the packs a keyless site holds of one namespace, so that
// checking each summary its peer puts (every listed pack must be here,
// docs/design.md "Who can see and do what") does not list the store each
// time, which on a store of a million packs would stall the vault's loop.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "catalog/store/object_store.h"
#include "core/hash.h"
#include "core/status.h"

namespace dr {

class StoredPackSet {
 public:
  // How many of `packs` `store` does not hold; `*first` is one of them.
  // Lists the store's packs only when nothing was listed yet, when
  // `closings` (NamespaceGate::Closings: a prune may have deleted packs)
  // moved since, or when one of `packs` was not seen: a pack this set
  // calls stored was, at the latest listing, or put since.
  Result<size_t> Missing(ObjectStore* store, uint64_t closings, const std::vector<Id>& packs,
                         Id* first);
  // `key` was put into the store (a pack, or anything else: ignored).
  void Stored(const std::string& key);

 private:
  size_t CountMissing(const std::vector<Id>& packs, Id* first) const;

  // As StoredPacks (catalog/prune.h) lists them; a pack put since has size 0.
  std::unordered_map<Id, uint64_t, IdHash> packs_;
  std::optional<uint64_t> listed_at_closings_;  // none: not listed yet
};

}  // namespace dr
