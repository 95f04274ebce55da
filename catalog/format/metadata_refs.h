// What a metadata blob (blob type 1: a directory tree or a block map part)
// references, for those that must make sure it is all stored: the vault
// before it commits an agent's snapshot.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/hash.h"
#include "core/status.h"

namespace dr {

// Subtrees and chunks of a tree; segments of a block map head; chunks of a
// block map segment. Checks the blob's structure; `what` names it in errors.
Result<std::vector<Id>> MetadataReferences(std::string_view raw, const std::string& what);

}  // namespace dr
