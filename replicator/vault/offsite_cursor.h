// The off-site replicator's cursor for one namespace (what it has copied to
// the peer), and its reconciliation against what the peer really holds.
//
// The cursor lives at the sending vault (state/offsite/<namespace>.json,
// rewritten atomically after every step). A peer that was wiped, rebuilt
// from an older backup, or lost objects would otherwise never be sent them
// again: ReconcileCursor drops from the cursor every index segment and
// snapshot the peer lacks, and every segment whose packs it lacks, so the
// next copy sends them again (in the usual order: packs, segment, snapshots).
// A snapshot the peer forgot by its own retention (its "forgotten/<id>"
// tombstone) is never sent again.
#pragma once

#include <set>
#include <string>

#include "catalog/store/dir_store.h"
#include "catalog/store/object_store.h"
#include "core/status.h"

namespace dr {

struct OffsiteCursor {
  std::set<std::string> index;      // index segment keys already at the peer
  std::set<std::string> snapshots;  // snapshot keys already at the peer
  bool config = false;
};

std::string OffsiteCursorKey(const std::string& ns);
// An unreadable or damaged cursor reads as empty: copying again is harmless
// (every put is write-once and idempotent).
OffsiteCursor LoadOffsiteCursor(DirStore& state, const std::string& key);
// Atomically and durably (DirStore's Put).
Status SaveOffsiteCursor(DirStore& state, const std::string& key, const OffsiteCursor& c);

struct Reconciled {
  size_t snapshots = 0, segments = 0, packs = 0;  // missing at the peer
  bool config = false;                            // config missing at the peer
  size_t total() const { return snapshots + segments + packs + (config ? 1 : 0); }
};
// Compares `*cursor` with the peer's listing and forgets what the peer lacks.
Result<Reconciled> ReconcileCursor(ObjectStore& local, ObjectStore& peer, OffsiteCursor* cursor);

}  // namespace dr
