// Prune: reclaim the space of packs no snapshot needs, while backups keep
// writing into the same repository (no exclusive repository lock; only one
// prune at a time, by "locks/prune").
//
// One run does, in order (docs/design.md, "Prune while backups run"):
//  1. delete: for each armed condemnation record (catalog/gc_record.h)
//     whose sessions have all ended, take a fresh look at every snapshot and
//     delete the record's packs that are still unreferenced (rewriting the
//     index without them first), then drop the record;
//  2. condemn: packs with nothing referenced, packs no index lists (left by
//     failed backups), and packs mostly garbage after their live blobs were
//     copied into new packs (repack, PruneOptions::max_unused) go into a new
//     record, which is armed
//     with the sessions alive once it is visible;
//  3. if no session was alive, step 1 again, so a quiet repository gets its
//     space back in one run; otherwise the next run deletes.
// The index is consolidated (small segments merged) whenever it is rewritten
// and when it has more than kMaxSegmentsBeforeMerge segments.
// Each step is a crash point of tools/crash-suite; a run killed anywhere
// leaves every snapshot whole, and the next run finishes the work.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "catalog/repository.h"
#include "core/status.h"

namespace dr {

inline constexpr size_t kMaxSegmentsBeforeMerge = 32;
// Held by a prune for its run (a SessionMarker lock): one at a time, keyed
// or keyless (catalog/keyless_prune.h).
inline constexpr char kPruneLockKey[] = "locks/prune";

struct PruneOptions {
  bool dry_run = false;
  // Repack packs, those with the largest unreferenced share first, until the
  // unreferenced bytes left in packs are at most this share of all the
  // bytes the packs hold afterwards (restic's --max-unused; 1 or more: no
  // repacking): most of the space back for the least copying.
  double max_unused = 0.05;
  // Progress lines ("condemning 12 packs"), if wanted.
  std::function<void(const std::string&)> log;
};

struct PruneReport {
  size_t snapshots = 0;
  uint64_t blobs_indexed = 0, blobs_referenced = 0;
  size_t packs = 0;
  uint64_t pack_bytes = 0, referenced_bytes = 0;

  // Condemned by this run (deleted by this run too when nothing was running).
  size_t condemned_unused = 0, condemned_unindexed = 0, condemned_repacked = 0;
  uint64_t condemned_bytes = 0;
  uint64_t repacked_blobs = 0, repacked_bytes = 0;  // live bytes copied into new packs

  // Deleted by this run.
  size_t packs_deleted = 0;
  uint64_t bytes_deleted = 0;
  size_t packs_rescued = 0;  // condemned, but a snapshot needs them after all
  size_t records_dropped = 0;

  size_t segments_before = 0, segments_after = 0;
  size_t stale_sessions_removed = 0;
  // Records still waiting, and for whom ("backup on host a (pid 7) since ...").
  size_t records_waiting = 0;
  std::vector<std::string> waiting_for;
  std::vector<std::string> warnings;

  uint64_t reachability_bytes = 0;  // the reachability set's memory
  double seconds = 0;
};

// Opens the repository afresh; prune looks at it several times.
using RepositoryOpener = std::function<Result<std::unique_ptr<Repository>>()>;

// Errors (nothing deleted): another prune holds the lock; a snapshot that
// cannot be read; a referenced blob missing from the index (run check); a
// condemnation record that cannot be read.
Result<PruneReport> Prune(const RepositoryOpener& open, const PruneOptions& options);

// The packs stored under data/, with their sizes.
Result<std::unordered_map<Id, uint64_t, IdHash>> StoredPacks(ObjectStore* store);
// Deletes `keys` in order, passing crash point `point` after each.
Status DeleteKeys(ObjectStore* store, const std::vector<std::string>& keys, const char* point);

// Writes index segments (named by `names`) listing every pack the current
// index lists except `drop`, and returns the keys of the segments they
// replace, for the caller to delete once the packs are gone. A segment that
// cannot be decoded is kept (and named in report->warnings); sets
// report->segments_after. The index is in the clear, so this needs no key.
Result<std::vector<std::string>> RewriteIndexWithout(ObjectStore* store, const KeyedHasher& names,
                                                     const std::unordered_set<Id, IdHash>& drop,
                                                     PruneReport* report);

}  // namespace dr
