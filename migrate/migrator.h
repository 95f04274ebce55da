// The migration of one system (docs/migration.md): converging syncs of its
// sources into its cloud targets through the repository (deduplicated,
// compressed deltas: nothing travels twice), and a cutover that quiesces the
// source, applies the final delta, proves the target identical bit for bit,
// starts and health-checks the system at the target, and rolls the source
// back if any step fails. Every step's outcome is in the system's state
// before the next starts, so any command is resumable after kill -9.
#pragma once

#include <functional>
#include <string>

#include "catalog/repository.h"
#include "core/progress.h"
#include "migrate/plan.h"
#include "migrate/state.h"

namespace dr {

struct MigrationContext {
  Repository& repo;
  const MigrationPlan& plan;
  const MigrationStateStore& states;
  std::function<void(const std::string&)> log;  // one line per step; may be empty
  ProgressCounters* progress = nullptr;
  double hook_timeout_s = 600;
};

// One sync of `system`: every source captured (only what changed since the
// last sync is read and stored), then only that applied to the targets:
// changed chunks of changed files, removed entries removed, changed blocks of
// the image. Refused once the system is cut over, and while a cutover of it
// is unfinished.
Result<SyncRecord> SyncSystem(MigrationContext& ctx, const MigrationSystem& system);

struct CutoverOptions {
  bool ignore_window = false;  // cut over outside the plan's cutover window
};

// The cutover: quiesce, final sync, verify, start, health check; on a failed
// step the rollback hook. Returns the record (also when a step failed: see
// failed_step); an error only when it could not start or record. A system
// already cut over returns its record unchanged.
Result<CutoverRecord> CutOverSystem(MigrationContext& ctx, const MigrationSystem& system,
                                    const CutoverOptions& options);

// What changed at the sources since the last sync, by the metadata a backup
// compares (size, mtime, ctime, inode): no file content is read.
struct SourceDelta {
  uint64_t files_changed = 0, files_new = 0, entries_gone = 0;
  uint64_t bytes = 0;  // sizes of the new and changed files
  bool known = false;  // false: no sync yet, or the system has no file sources
};
Result<SourceDelta> ScanDelta(MigrationContext& ctx, const MigrationSystem& system,
                              const SystemState& state);

// The downtime a cutover would take now, from the measured rates of the
// syncs: the final sync of `delta` bytes, predicted by a least-squares line
// through the syncs' (bytes read, seconds) pairs, plus verifying the whole
// target at the rate the last verification or the first full sync achieved.
struct CutoverEstimate {
  bool known = false;
  double seconds = 0, sync_s = 0, verify_s = 0;
};
CutoverEstimate EstimateCutover(const SystemState& state, uint64_t delta_bytes);

}  // namespace dr
