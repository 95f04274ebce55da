// The steps of a sync, shared by drctl's local syncs and cutovers
// (migrator.cc) and the two halves of a sync through vaults
// (through_vault.cc). Internal to dr_migrate: migrator.h is the contract.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "migrate/migrator.h"

namespace dr::migrate_steps {

using Clock = std::chrono::steady_clock;
double SecondsSince(Clock::time_point t);

// "drctl" or "dragent", for what a message tells the operator to run.
const char* Program(const MigrationContext& ctx);
void Log(const MigrationContext& ctx, const std::string& line);
// The snapshot with id `hex`, when the repository still has it.
std::optional<Snapshot> SnapshotById(Repository& repo, const std::string& hex);

// A capture's tags: migrate:PLAN, system:NAME, and cutover:TOKEN for a
// cutover's final capture.
std::vector<std::string> Tags(const MigrationContext& ctx, const MigrationSystem& sys,
                              const std::string& cutover_token);
bool HasTag(const Snapshot& s, const std::string& tag);
bool IsCutoverToken(const std::string& t);  // 32 lowercase hex digits
Result<std::string> NewCutoverToken();

// The snapshots one sync applies: the file sources' and the block source's.
struct Captured {
  std::optional<Snapshot> files, block;
};
// What the capture of `snap` read, stored and took, added to `rec`.
void AddCaptureStats(const Snapshot& snap, SyncRecord& rec);

// Captures every source, each compared with what `state` says was captured
// or applied last; the figures go into `rec` (rec.final: a partial capture
// of the files is an error).
Result<Captured> CaptureSources(MigrationContext& ctx, const MigrationSystem& sys,
                                const SystemState& state, const std::string& cutover_token,
                                SyncRecord& rec);
// Makes the targets hold `snap`: with a base only what changed since it;
// without, everything compared (and, for files, what the snapshot lacks
// removed).
Status ApplyFiles(MigrationContext& ctx, const MigrationSystem& sys, const Snapshot& snap,
                  const std::optional<Snapshot>& base, SyncRecord& rec);
Status ApplyBlock(MigrationContext& ctx, const MigrationSystem& sys, const Snapshot& snap,
                  const std::optional<Snapshot>& base, SyncRecord& rec);
// Makes the targets hold what `c` captured (a kind it lacks is left as it
// is), only what changed since the last apply unless an interrupted apply
// left them unknown; moves the state's applied snapshots on.
Status ApplyCaptured(MigrationContext& ctx, const MigrationSystem& sys, SystemState& state,
                     const Captured& c, SyncRecord& rec);
// Records a finished sync in `state` (saved): the targets are whole again.
Result<SyncRecord> RecordSync(MigrationContext& ctx, SystemState& state, SyncRecord rec);
// A capture taken elsewhere, applied and recorded as one sync (its figures
// from the snapshots' own statistics).
Result<SyncRecord> ApplyAndRecord(MigrationContext& ctx, const MigrationSystem& sys,
                                  SystemState& state, const Captured& c, bool final);

// Applying, verifying and finding captures read the repository.
Status RequireRepository(const MigrationContext& ctx);
// Syncs stop once a system is cut over, or while its cutover is unfinished.
Status CheckSyncable(const MigrationContext& ctx, const MigrationSystem& sys,
                     const SystemState& state);

// The cutover's final sync through vaults: the quiesce hook had the source
// agent take it, tagged cutover:TOKEN; applies it (through_vault.cc).
Result<SyncRecord> ApplyFinalCapture(MigrationContext& ctx, const MigrationSystem& sys,
                                     SystemState& state, const std::string& cutover_token);

}  // namespace dr::migrate_steps
