// What a site holding no key knows of a sealed snapshot, so that it can
// apply its own retention to an encrypted repository: `summaries/<id>`,
// written by the replicating site beside each sealed snapshot it copies
// (docs/format/keys.md, "Snapshot summaries").
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "catalog/format/snapshot.h"
#include "core/hash.h"
#include "core/status.h"

namespace dr {

inline constexpr char kSummaryPrefix[] = "summaries/";
std::string SummaryKey(const Id& snapshot);

// JSON with the snapshot's id, time, policy, identity, tags, partial flag,
// whether it is a block snapshot, `group`: a digest of its host and paths
// keyed with `ids` (the repository's id secret), so snapshots of one source
// group together without the summary naming the source, and `packs`: the
// packs holding every blob the snapshot references (its reference list, by
// which a keyless site prunes; catalog/keyless_prune.h).
std::string EncodeSnapshotSummary(const Snapshot& snapshot, const KeyedHasher& ids,
                                  const std::vector<Id>& packs);

// The snapshot as far as retention needs it: `host` holds the group digest
// and `paths` is empty; no tree. With `packs`, its reference list too
// (sorted, distinct). Corruption naming `what` unless well-formed.
Result<Snapshot> DecodeSnapshotSummary(std::string_view bytes, const std::string& what,
                                       std::vector<Id>* packs = nullptr);

}  // namespace dr
