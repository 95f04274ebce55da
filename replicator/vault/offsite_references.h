// Reference-aware replication: before a snapshot is put at the off-site
// peer, every blob it references must be stored there.
//
// Copying packs as index segments name them is not enough once the peer
// prunes by its own retention: the same-city site keeps deduplicating
// against a chunk the peer has since deleted (or condemned), and the
// segment that named that chunk's pack was sent long ago. So the replicator
// asks the peer, as an agent asks its vault, which of a snapshot's blobs it
// lacks, and sends those again. The peer answers within its replicating
// session, whose marker keeps a prune there from deleting what it said it
// holds until the snapshot is in (docs/design.md, "Two sites").
#pragma once

#include <cstdint>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "catalog/format/snapshot.h"
#include "catalog/repository.h"
#include "core/status.h"
#include "replicator/wire/vault_client.h"

namespace dr {

struct ReferencesSent {
  uint64_t referenced = 0;  // distinct blobs the snapshots reference
  uint64_t resent = 0;      // of those, sent again because the peer lacked them
  uint64_t resent_bytes = 0;
};

// Makes sure `peer` stores every blob `snapshots` reference in `local`
// (opened after they were written), and waits until what it sent is durable
// there. Errors: a referenced blob missing here (Corruption: run check), or
// the peer's.
Result<ReferencesSent> SendMissingReferences(Repository& local,
                                             const std::vector<Snapshot>& snapshots,
                                             VaultClient& peer);

// For a peer that holds no key (an encrypted namespace), which cannot be
// asked about blobs: the packs holding every blob `snapshot` references in
// `local`, its reference list (catalog/snapshot_summary.h). The peer keeps
// those packs; a listed pack it pruned is sent again, pack and index entry,
// before the summary (PackIndexSegment). Corruption when a referenced blob
// is missing here.
Result<std::vector<Id>> ReferencedPacks(Repository& local, const Snapshot& snapshot);

// An index segment listing `packs` as `local`'s index does, and its key:
// what a peer that deleted those packs needs with their copies, so that it
// finds their blobs again.
std::pair<std::string, std::string> PackIndexSegment(Repository& local,
                                                     const std::unordered_set<Id, IdHash>& packs);

}  // namespace dr
