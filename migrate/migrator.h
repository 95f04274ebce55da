// The migration of one system (docs/migration.md): converging syncs of its
// sources into its cloud targets through the repository (deduplicated,
// compressed deltas: nothing travels twice), and a cutover that quiesces the
// source, applies the final delta, proves the target identical bit for bit,
// starts and health-checks the system at the target, and rolls the source
// back if any step fails. Every step's outcome is in the system's state
// before the next starts, so any command is resumable after kill -9.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "catalog/repository.h"
#include "core/progress.h"
#include "migrate/plan.h"
#include "migrate/state.h"
#include "replicator/capture/backup_target.h"

namespace dr {

// Where one capture goes: a fresh target each time, so its write statistics
// are that capture's (a local repository's, or a vault session's).
using CaptureTargetOpener = std::function<Result<std::shared_ptr<BackupTarget>>()>;

struct MigrationContext {
  // Applies, verifies and finds captures; null at a source host through a
  // vault (its backup right reads no repository, and capturing needs none).
  Repository* repo;
  CaptureTargetOpener open_target;
  const MigrationPlan& plan;
  const MigrationStateStore& states;
  std::function<void(const std::string&)> log;  // one line per step; may be empty
  ProgressCounters* progress = nullptr;
  double hook_timeout_s = 600;
  // Through vaults (dragent): this host is the target, and the source host's
  // agent captures. A cutover then applies the final capture the quiesce
  // hook had the source take, instead of capturing here.
  bool remote_source = false;
};

// One sync of `system`: every source captured (only what changed since the
// last sync is read and stored), then only that applied to the targets:
// changed chunks of changed files, removed entries removed, changed blocks of
// the image. Refused once the system is cut over, and while a cutover of it
// is unfinished.
Result<SyncRecord> SyncSystem(MigrationContext& ctx, const MigrationSystem& system);

// Through vaults the two halves of a sync run on two hosts
// (docs/migration.md, "Through vaults").
//
// The source half, on the source host (backup right): captures every source
// into the vault tagged for the system, reading only what changed since the
// last capture. Its state is kept under SourceStateKey(system). With a
// `cutover_token` (the 32 hex digits a cutover gives its quiesce hook as
// DR_CUTOVER_TOKEN) it is that cutover's final capture: tagged
// cutover:TOKEN, and an error when any file could not be read.
Result<SyncRecord> CaptureSystem(MigrationContext& ctx, const MigrationSystem& system,
                                 const std::string& cutover_token);
std::string SourceStateKey(const std::string& system);  // "SYSTEM@source"

// The target half, on the cloud host (restore right): applies the newest
// capture of the system that its source agent (the plan's source-agent)
// wrote, only what changed since the last apply. nullopt when the targets
// already hold it. Refused like SyncSystem once cut over.
Result<std::optional<SyncRecord>> ApplySystem(MigrationContext& ctx, const MigrationSystem& system);

// What the source agent captured after the targets' last apply, for the
// target host's status (its delta and the estimate's final sync).
struct PendingCapture {
  bool known = false;            // false: nothing captured yet
  std::string snapshot;          // the newest capture's id
  bool applied = false;          // the targets hold it already
  uint64_t last_bytes_read = 0;  // what the newest capture read at the source
  int64_t captured_ns = 0;       // when the vault accepted it
};
Result<PendingCapture> FindPendingCapture(MigrationContext& ctx, const MigrationSystem& system,
                                          const SystemState& state);

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
