// Reading a stored pack's self-description without fetching its blobs.
#pragma once

#include <string>
#include <vector>

#include "catalog/format/pack.h"
#include "catalog/store/object_store.h"
#include "core/status.h"

namespace dr {

// The entries of the pack stored under `key`: two range reads (trailer, then
// header), each checked (magic, version, counts against the size, checksum).
Result<std::vector<PackEntry>> ReadPackHeader(ObjectStore* store, const std::string& key);

}  // namespace dr
