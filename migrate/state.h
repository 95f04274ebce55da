// What a migration remembers per system, between commands and across a
// kill -9: its phase, the snapshots its targets hold, every sync and the
// last cutover. One JSON file per system under the plan's state directory
// (docs/migration.md), replaced atomically; a lock file keeps two commands
// from working on one system at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/env/fd.h"
#include "core/status.h"

namespace dr {

enum class MigrationPhase {
  kPlanned,
  kSyncing,
  kInSync,
  kCuttingOver,
  kCutOver,
  kRolledBack,
  kFailed
};
const char* PhaseName(MigrationPhase p);  // "planned", "syncing", "in sync", ...

struct SyncRecord {
  int64_t started_ns = 0, finished_ns = 0;
  std::string snapshot, block_snapshot;  // ids taken ("" when the system has no such source)
  uint64_t bytes_total = 0;              // logical size of the sources
  uint64_t bytes_read = 0;               // read at the source (changed files and blocks)
  uint64_t bytes_added = 0;              // new data stored, compressed: what travelled
  uint64_t bytes_written = 0;            // written at the target
  uint64_t files_changed = 0, files_new = 0, entries_removed = 0;
  uint64_t blocks_written = 0;
  double capture_s = 0, apply_s = 0;
  bool final = false;  // the cutover's, taken with the source quiesced
};

struct CutoverRecord {
  int64_t started_ns = 0, finished_ns = 0;
  // Random, made when the cutover starts and given to its hooks as
  // DR_CUTOVER_TOKEN: through vaults the final capture carries it as the tag
  // cutover:TOKEN, which proves it was taken after this cutover's quiesce.
  std::string token;
  std::string failed_step;  // "" when it succeeded: quiesce, sync, verify, start, health-check
  std::string error;
  bool verified = false;     // the target equalled the final snapshot bit for bit
  uint64_t differences = 0;  // what verification found otherwise
  bool rolled_back = false;  // the rollback hook ran and succeeded
  std::string rollback_error;
  double downtime_s = 0;  // quiesce started to health check passed (or rollback done)
  std::vector<std::pair<std::string, double>> steps;  // step -> seconds, in order
};

struct SystemState {
  std::string system;
  MigrationPhase phase = MigrationPhase::kPlanned;
  std::string error;  // why the last command failed, while phase says failed
  // What the targets hold, as far as a completed apply knows. (In a source
  // host's capture state, SourceStateKey: what it captured last.)
  std::string applied_snapshot, applied_block_snapshot;
  // An apply started and did not finish: the targets may hold a mix of two
  // snapshots, so the next apply takes nothing for granted.
  bool apply_pending = false;
  std::vector<SyncRecord> syncs;         // oldest first; the last kMaxSyncsKept
  std::optional<CutoverRecord> cutover;  // the last one
  int64_t updated_ns = 0;
};

inline constexpr size_t kMaxSyncsKept = 200;

// The state directory of one plan.
class MigrationStateStore {
 public:
  // Creates `dir` (mode 0700) when missing.
  static Result<std::unique_ptr<MigrationStateStore>> Open(const std::string& dir);

  // The system's state; a fresh "planned" one when it has none yet. `system`
  // may also be a SourceStateKey. A file
  // that cannot be parsed is an error naming it, never silently reset.
  Result<SystemState> Load(const std::string& system) const;
  Status Save(SystemState& state) const;  // stamps updated_ns

  // Held while a command works on `system`; a second command gets an error
  // naming the holder instead of waiting, or waits up to `wait_s` first.
  class Lock {
   public:
    explicit Lock(UniqueFd fd) : fd_(std::move(fd)) {}

   private:
    UniqueFd fd_;
  };
  Result<Lock> LockSystem(const std::string& system, const std::string& command,
                          double wait_s = 0) const;

  const std::string& dir() const { return dir_; }

 private:
  explicit MigrationStateStore(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

}  // namespace dr
