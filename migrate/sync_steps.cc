// The steps of a sync shared by drctl's local syncs (migrator.cc) and the
// two halves of a sync through vaults (through_vault.cc).
#include "migrate/sync_steps.h"

#include <algorithm>

#include "catalog/format/repo_config.h"
#include "core/crash_point.h"
#include "core/timefmt.h"
#include "replicator/capture/backup.h"
#include "replicator/capture/block_backup.h"
#include "restore/block/block_restore.h"
#include "restore/files/restorer.h"

namespace dr::migrate_steps {

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

namespace {

// Recorded before an apply starts, cleared when the sync is recorded.
Status MarkApplyPending(MigrationContext& ctx, SystemState& state) {
  if (state.apply_pending) return Status::OK();
  state.apply_pending = true;
  return ctx.states.Save(state);
}

// Runs `backup` with `o` into a fresh target; when that fails with a parent
// (it may have been forgotten meanwhile), once more comparing with nothing.
template <typename Options, typename Backup>
Result<BackupResult> BackupWithParentFallback(MigrationContext& ctx, Options& o,
                                              const Backup& backup) {
  ASSIGN_OR_RETURN(std::shared_ptr<BackupTarget> target, ctx.open_target());
  auto result = backup(*target, o);
  if (result.ok() || !o.parent) return result;
  o.parent.reset();
  ASSIGN_OR_RETURN(target, ctx.open_target());
  return backup(*target, o);
}

// Backs up the file sources, compared with the snapshot `parent` (hex; may
// be empty or forgotten).
Result<Snapshot> CaptureFiles(MigrationContext& ctx, const MigrationSystem& sys,
                              const std::string& parent, const std::string& cutover_token,
                              bool final) {
  BackupOptions o;
  o.paths = sys.paths;
  o.tags = Tags(ctx, sys, cutover_token);
  if (!parent.empty()) o.parent = parent;
  o.progress = ctx.progress;
  auto backup = BackupWithParentFallback(
      ctx, o, [](BackupTarget& t, const BackupOptions& opt) { return RunBackup(t, opt); });
  if (!backup.ok()) return backup.status().WithContext("capture");
  const Snapshot& snap = backup->snapshot;
  if (snap.partial) {
    const std::string first = backup->warnings.empty() ? "" : ": " + backup->warnings.front();
    if (final)
      return Status::IOError("the final sync could not read every file (" +
                             std::to_string(backup->warnings.size()) + " problems)" + first);
    Log(ctx, "warning: sync snapshot " + snap.ShortId() + " is partial" + first);
  }
  Log(ctx, "captured " + snap.ShortId() + ": " + std::to_string(snap.stats.files_new) + " new, " +
               std::to_string(snap.stats.files_changed) + " changed files, " +
               HumanBytes(static_cast<double>(snap.stats.bytes_added)) + " new data");
  return std::move(backup).value().snapshot;
}

Result<Snapshot> CaptureBlock(MigrationContext& ctx, const MigrationSystem& sys,
                              const std::string& parent, const std::string& cutover_token) {
  BlockBackupOptions o;
  o.source = sys.BlockSource();
  o.tags = Tags(ctx, sys, cutover_token);
  if (!parent.empty()) o.parent = parent;
  o.progress = ctx.progress;
  auto backup = BackupWithParentFallback(
      ctx, o,
      [](BackupTarget& t, const BlockBackupOptions& opt) { return RunBlockBackup(t, opt); });
  if (!backup.ok()) return backup.status().WithContext("capture " + o.source);
  return std::move(backup).value().snapshot;
}

}  // namespace

const char* Program(const MigrationContext& ctx) { return ctx.remote_source ? "dragent" : "drctl"; }

void Log(const MigrationContext& ctx, const std::string& line) {
  if (ctx.log) ctx.log(line);
}

// The snapshot with id `hex`, when the repository still has it.
std::optional<Snapshot> SnapshotById(Repository& repo, const std::string& hex) {
  if (hex.empty()) return std::nullopt;
  auto s = repo.FindSnapshot(hex);
  if (!s.ok() || s->id.Hex() != hex) return std::nullopt;
  return std::move(s).value();
}

std::vector<std::string> Tags(const MigrationContext& ctx, const MigrationSystem& sys,
                              const std::string& cutover_token) {
  std::vector<std::string> tags = {"migrate:" + ctx.plan.name, "system:" + sys.name};
  if (!cutover_token.empty()) tags.push_back("cutover:" + cutover_token);
  return tags;
}

bool HasTag(const Snapshot& s, const std::string& tag) {
  return std::find(s.tags.begin(), s.tags.end(), tag) != s.tags.end();
}

bool IsCutoverToken(const std::string& t) {
  Id id;
  return Id::FromHex(t, &id) && id.Hex() == t;
}

Result<std::string> NewCutoverToken() {
  std::string bytes;
  RETURN_IF_ERROR(RandomBytes(16, &bytes));
  return Id::FromBytes(bytes).Hex();
}

// What the capture of `snap` read, stored and took, added to `rec`.
void AddCaptureStats(const Snapshot& snap, SyncRecord& rec) {
  rec.bytes_total += snap.stats.bytes_total;
  rec.bytes_read += snap.stats.bytes_read;
  rec.bytes_added += snap.stats.bytes_added;
  rec.capture_s += snap.stats.duration_s;
  if (snap.block) {
    rec.block_snapshot = snap.id.Hex();
  } else {
    rec.snapshot = snap.id.Hex();
    rec.files_changed = snap.stats.files_changed;
    rec.files_new = snap.stats.files_new;
  }
}

// Makes the target directory hold `snap`: with a base, only what changed
// since it; without, everything compared (and what the snapshot lacks
// removed) in every directory.
Status ApplyFiles(MigrationContext& ctx, const MigrationSystem& sys, const Snapshot& snap,
                  const std::optional<Snapshot>& base, SyncRecord& rec) {
  RestoreOptions ro;
  ro.target = sys.directory;
  // A file the capture could not read is missing from a partial snapshot:
  // it stays at the target rather than being removed.
  ro.mirror = !snap.partial;
  ro.progress = ctx.progress;
  if (base) ro.base_tree = base->tree;
  ASSIGN_OR_RETURN(RestoreResult r, RestoreSnapshot(*ctx.repo, snap, ro));
  if (!r.errors.empty())
    return Status::IOError("apply to " + sys.directory + ": " + std::to_string(r.errors.size()) +
                           " entries could not be applied; the first: " + r.errors.front());
  rec.bytes_written += r.bytes_written;
  rec.entries_removed += r.entries_removed;
  Log(ctx, "applied to " + sys.directory + ": wrote " +
               HumanBytes(static_cast<double>(r.bytes_written)) + ", " +
               std::to_string(r.files_unchanged) + " files unchanged, " +
               std::to_string(r.entries_removed) + " entries removed");
  return Status::OK();
}

// The same for the block target: with a base only the blocks that differ
// from it; without, every block.
Status ApplyBlock(MigrationContext& ctx, const MigrationSystem& sys, const Snapshot& snap,
                  const std::optional<Snapshot>& base, SyncRecord& rec) {
  BlockRestoreOptions ro;
  ro.target = sys.BlockTarget();
  ro.progress = ctx.progress;
  ro.update_existing_image = true;  // an earlier sync's, even one killed before it was recorded
  if (base) ro.base_map = base->tree;
  ASSIGN_OR_RETURN(BlockRestoreResult r, RestoreBlockSnapshot(*ctx.repo, snap, ro));
  rec.bytes_written += r.bytes_written;
  rec.blocks_written += r.blocks_written;
  Log(ctx, "applied to " + ro.target + ": " + std::to_string(r.blocks_written) +
               " blocks written, " + std::to_string(r.blocks_unchanged) + " unchanged");
  return Status::OK();
}

// Captures every source, each compared with what `state` says was captured
// or applied last; the figures go into `rec`.
Result<Captured> CaptureSources(MigrationContext& ctx, const MigrationSystem& sys,
                                const SystemState& state, const std::string& cutover_token,
                                SyncRecord& rec) {
  Captured c;
  if (sys.HasFiles()) {
    ASSIGN_OR_RETURN(c.files,
                     CaptureFiles(ctx, sys, state.applied_snapshot, cutover_token, rec.final));
    AddCaptureStats(*c.files, rec);
  }
  if (sys.HasBlock()) {
    ASSIGN_OR_RETURN(c.block, CaptureBlock(ctx, sys, state.applied_block_snapshot, cutover_token));
    AddCaptureStats(*c.block, rec);
  }
  return c;
}

// Makes the targets hold what `c` captured (a kind it lacks is left as it
// is), only what changed since the last apply unless an interrupted apply
// left them unknown; moves the state's applied snapshots on.
Status ApplyCaptured(MigrationContext& ctx, const MigrationSystem& sys, SystemState& state,
                     const Captured& c, SyncRecord& rec) {
  // A sync interrupted while applying may have left any mix of two
  // snapshots in the targets: then nothing is taken for granted this time.
  std::optional<Snapshot> base, block_base;
  if (!state.apply_pending) {
    base = SnapshotById(*ctx.repo, state.applied_snapshot);
    block_base = SnapshotById(*ctx.repo, state.applied_block_snapshot);
  }
  RETURN_IF_ERROR(MarkApplyPending(ctx, state));
  const auto t = Clock::now();
  if (c.files) {
    RETURN_IF_ERROR(ApplyFiles(ctx, sys, *c.files, base, rec));
    CrashPoint("migrate-applied");
    state.applied_snapshot = c.files->id.Hex();
  }
  if (c.block) {
    RETURN_IF_ERROR(ApplyBlock(ctx, sys, *c.block, block_base, rec));
    state.applied_block_snapshot = c.block->id.Hex();
  }
  rec.apply_s += SecondsSince(t);
  return Status::OK();
}

// Records a finished sync in `state` (saved): the targets are whole again.
Result<SyncRecord> RecordSync(MigrationContext& ctx, SystemState& state, SyncRecord rec) {
  CrashPoint("migrate-synced");
  rec.finished_ns = NowUnixNs();
  state.apply_pending = false;
  state.syncs.push_back(rec);
  RETURN_IF_ERROR(ctx.states.Save(state));
  return rec;
}

Result<SyncRecord> ApplyAndRecord(MigrationContext& ctx, const MigrationSystem& sys,
                                  SystemState& state, const Captured& c, bool final) {
  SyncRecord rec;
  rec.final = final;
  rec.started_ns = NowUnixNs();
  for (const auto* snap : {&c.files, &c.block})
    if (*snap) AddCaptureStats(**snap, rec);
  RETURN_IF_ERROR(ApplyCaptured(ctx, sys, state, c, rec));
  return RecordSync(ctx, state, std::move(rec));
}

// Applying, verifying and finding captures read the repository.
Status RequireRepository(const MigrationContext& ctx) {
  if (ctx.repo) return Status::OK();
  return Status::PermissionDenied(
      "this needs the repository, which only an agent with the restore right reads");
}

// Syncs stop once a system is cut over, or while its cutover is unfinished.
Status CheckSyncable(const MigrationContext& ctx, const MigrationSystem& sys,
                     const SystemState& state) {
  if (state.phase == MigrationPhase::kCutOver)
    return Status::InvalidArgument(
        "system " + sys.name + " was cut over" +
        (state.cutover ? " at " + FormatRfc3339Utc(state.cutover->finished_ns) : std::string()) +
        "; its source is not synced any more");
  if (state.phase == MigrationPhase::kCuttingOver)
    return Status::InvalidArgument("a cutover of system " + sys.name + " did not finish; run `" +
                                   Program(ctx) + " migrate cutover " + sys.name +
                                   "` again to complete it or roll it back");
  return Status::OK();
}

}  // namespace dr::migrate_steps
