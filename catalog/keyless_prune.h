// Prune without the key: how a site that holds only ciphertext (an off-site
// vault's encrypted namespace) gets back the space of what its own
// retention forgot.
//
// Trees are sealed, so this site cannot walk a snapshot; it relies on each
// snapshot's summary, whose reference list names the packs holding every
// blob the snapshot references (catalog/snapshot_summary.h). A pack is live
// when a summary lists it and that summary's snapshot is stored, or not yet
// stored and not forgotten ("forgotten/<id>": the replicating peer puts the
// summary first, the snapshot next). One run:
//  1. condemns every stored pack no live summary lists (a gc/ record, the
//     same as a keyed prune's), unless an earlier record has it already;
//  2. deletes the packs of every record at least `grace` old, whose readers
//     (the session markers alive when it was written) have ended, that are
//     still not live: the index is rewritten without them first, then the
//     packs and the replaced segments go, then the record;
//  3. deletes the summaries of forgotten snapshots.
// Packs partly live are kept whole (repacking would need to know which
// blobs are live). A snapshot without a summary, or a summary that cannot
// be read, stops the run before anything is deleted.
//
// Who else writes: only the replicating peer, and only through the vault
// that runs this prune, which refuses the peer's puts into the namespace for
// the run's length (replicator/vault/namespace_gate.h) and refuses a summary
// whose packs are not all stored. So a pack is never deleted under a summary
// that lists it, and a summary never lands after its pack went: it is
// refused, and the peer sends the pack again. `grace` only spares the peer
// that resend for the packs of a snapshot it is still copying.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "catalog/prune.h"
#include "catalog/store/object_store.h"
#include "core/status.h"

namespace dr {

struct KeylessPruneOptions {
  int64_t grace_ns = 24 * 3600 * 1'000'000'000LL;
  std::function<void(const std::string&)> log;
};

// Errors (nothing deleted): another prune holds the lock; the repository is
// not encrypted (prune it with its key: Prune); a stored snapshot has no
// summary; a summary or a condemnation record cannot be read.
Result<PruneReport> PruneWithoutKey(ObjectStore* store, const KeylessPruneOptions& options);

}  // namespace dr
