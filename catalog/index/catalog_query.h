// Catalog questions and answers as text, so a vault can answer them for its
// agents (replicator/wire: catalog-query, catalog-answer) from the catalog
// it keeps of each namespace. Requests and answers are JSON; paths and link
// targets travel hex-encoded, because they are raw bytes, not UTF-8.
//
//   {"query": "versions", "path": HEX}
//   {"query": "find", "pattern": HEX, "since_ns": N, "until_ns": N, "changed": B, "limit": N}
//   {"query": "recovery-points", "site": S}
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "catalog/index/catalog.h"
#include "core/status.h"

namespace dr {

inline constexpr size_t kMaxCatalogRequestBytes = 64 << 10;

std::string VersionsRequest(const std::string& path);
std::string FindRequest(const FindQuery& query);
std::string RecoveryPointsRequest(const std::string& site);

// Runs `request` on `catalog`. InvalidArgument for a request that is not
// one of the above (named in the message).
Result<std::string> AnswerCatalogRequest(Catalog& catalog, std::string_view request);

// An answer back into rows; Corruption when it is not one.
Result<std::vector<FileVersion>> VersionsFromAnswer(std::string_view answer);
Result<std::vector<RecoveryPoint>> RecoveryPointsFromAnswer(std::string_view answer);

}  // namespace dr
