// What a site holding no key knows of a sealed snapshot, so that it can
// apply its own retention to an encrypted repository: `summaries/<id>`,
// written by the replicating site beside each sealed snapshot it copies
// (docs/format/keys.md, "Snapshot summaries").
#pragma once

#include <string>
#include <string_view>

#include "catalog/format/snapshot.h"
#include "core/hash.h"
#include "core/status.h"

namespace dr {

inline constexpr char kSummaryPrefix[] = "summaries/";
std::string SummaryKey(const Id& snapshot);

// JSON with the snapshot's id, time, policy, identity, tags, partial flag,
// whether it is a block snapshot, and `group`: a digest of its host and
// paths keyed with `ids` (the repository's id secret), so snapshots of one
// source group together without the summary naming the source.
std::string EncodeSnapshotSummary(const Snapshot& snapshot, const KeyedHasher& ids);

// The snapshot as far as retention needs it: `host` holds the group digest
// and `paths` is empty; no tree. Corruption naming `what` unless well-formed.
Result<Snapshot> DecodeSnapshotSummary(std::string_view bytes, const std::string& what);

}  // namespace dr
