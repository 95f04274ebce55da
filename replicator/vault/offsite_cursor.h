// The off-site replicator's cursor for one namespace (what it has copied to
// the peer), and its reconciliation against what the peer really holds.
//
// The cursor lives at the sending vault (state/offsite/<namespace>.json,
// rewritten atomically after every step). A peer that was wiped, rebuilt
// from an older backup, or lost objects would otherwise never be sent them
// again: ReconcileCursor drops from the cursor every snapshot the peer
// lacks, so the next copy sends it again with every blob it needs there
// (offsite_references.h). A peer that lost its config (wiped) gets every
// pack and segment again; any other peer may have pruned packs on purpose,
// and gets again only the packs its own index still lists (lost ones). A snapshot the peer forgot
// by its own retention (its "forgotten/<id>" tombstone) is never sent again.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

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
  // Packs a peer that was not wiped lost: the caller copies them again
  // (by name: the peer's index lists them).
  std::vector<std::string> lost_packs;
  bool config = false;  // config missing at the peer
  size_t total() const { return snapshots + segments + packs + (config ? 1 : 0); }
};
// The pack keys each of the peer's index segments lists, by segment key
// (segments never change, so each is read once per replicator).
using SegmentPacks = std::map<std::string, std::vector<std::string>>;
// Compares `*cursor` with the peer's listing and forgets what the peer lacks.
Result<Reconciled> ReconcileCursor(ObjectStore& local, ObjectStore& peer, OffsiteCursor* cursor,
                                   SegmentPacks* known);

}  // namespace dr
