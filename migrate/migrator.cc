#include "migrate/migrator.h"

#include <chrono>

#include "core/crash_point.h"
#include "core/timefmt.h"
#include "migrate/hook_runner.h"
#include "replicator/capture/backup.h"
#include "replicator/capture/backup_target.h"
#include "replicator/capture/block_backup.h"
#include "restore/block/block_restore.h"
#include "restore/files/restorer.h"
#include "restore/files/verifier.h"

namespace dr {

namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

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

std::vector<std::string> Tags(const MigrationContext& ctx, const MigrationSystem& sys) {
  return {"migrate:" + ctx.plan.name, "system:" + sys.name};
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
  ASSIGN_OR_RETURN(RestoreResult r, RestoreSnapshot(ctx.repo, snap, ro));
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
  ASSIGN_OR_RETURN(BlockRestoreResult r, RestoreBlockSnapshot(ctx.repo, snap, ro));
  rec.bytes_written += r.bytes_written;
  rec.blocks_written += r.blocks_written;
  Log(ctx, "applied to " + ro.target + ": " + std::to_string(r.blocks_written) +
               " blocks written, " + std::to_string(r.blocks_unchanged) + " unchanged");
  return Status::OK();
}

// Recorded before an apply starts, cleared when the sync is recorded.
Status MarkApplyPending(MigrationContext& ctx, SystemState& state) {
  if (state.apply_pending) return Status::OK();
  state.apply_pending = true;
  return ctx.states.Save(state);
}

// Captures and applies the file sources; fills `rec`, moves the state's
// applied snapshot on.
Status SyncFiles(MigrationContext& ctx, const MigrationSystem& sys, SystemState& state,
                 bool take_base, SyncRecord& rec) {
  BackupOptions o;
  o.paths = sys.paths;
  o.tags = Tags(ctx, sys);
  if (!state.applied_snapshot.empty()) o.parent = state.applied_snapshot;
  o.progress = ctx.progress;
  auto t = Clock::now();
  auto backup = RunBackup(ctx.repo, o);
  if (!backup.ok() && o.parent) {
    // The parent may have been forgotten meanwhile: compare with nothing.
    o.parent.reset();
    backup = RunBackup(ctx.repo, o);
  }
  if (!backup.ok()) return backup.status().WithContext("capture");
  rec.capture_s += SecondsSince(t);
  const Snapshot& snap = backup->snapshot;
  if (snap.partial) {
    const std::string first = backup->warnings.empty() ? "" : ": " + backup->warnings.front();
    if (rec.final)
      return Status::IOError("the final sync could not read every file (" +
                             std::to_string(backup->warnings.size()) + " problems)" + first);
    Log(ctx, "warning: sync snapshot " + snap.ShortId() + " is partial" + first);
  }
  rec.snapshot = snap.id.Hex();
  rec.bytes_total += snap.stats.bytes_total;
  rec.bytes_read += snap.stats.bytes_read;
  rec.bytes_added += snap.stats.bytes_added;
  rec.files_changed = snap.stats.files_changed;
  rec.files_new = snap.stats.files_new;
  Log(ctx, "captured " + snap.ShortId() + ": " + std::to_string(snap.stats.files_new) + " new, " +
               std::to_string(snap.stats.files_changed) + " changed files, " +
               HumanBytes(static_cast<double>(snap.stats.bytes_added)) + " new data");

  std::optional<Snapshot> base;
  if (take_base) base = SnapshotById(ctx.repo, state.applied_snapshot);
  CrashPoint("migrate-captured");
  RETURN_IF_ERROR(MarkApplyPending(ctx, state));
  t = Clock::now();
  RETURN_IF_ERROR(ApplyFiles(ctx, sys, snap, base, rec));
  CrashPoint("migrate-applied");
  rec.apply_s += SecondsSince(t);
  state.applied_snapshot = rec.snapshot;
  return Status::OK();
}

Status SyncBlock(MigrationContext& ctx, const MigrationSystem& sys, SystemState& state,
                 bool take_base, SyncRecord& rec) {
  BlockBackupOptions o;
  o.source = sys.BlockSource();
  o.tags = Tags(ctx, sys);
  if (!state.applied_block_snapshot.empty()) o.parent = state.applied_block_snapshot;
  o.progress = ctx.progress;
  auto t = Clock::now();
  auto target = MakeRepositoryTarget(ctx.repo, 0);
  auto backup = RunBlockBackup(*target, o);
  if (!backup.ok() && o.parent) {
    o.parent.reset();
    backup = RunBlockBackup(*target, o);
  }
  if (!backup.ok()) return backup.status().WithContext("capture " + o.source);
  rec.capture_s += SecondsSince(t);
  const Snapshot& snap = backup->snapshot;
  rec.block_snapshot = snap.id.Hex();
  rec.bytes_total += snap.stats.bytes_total;
  rec.bytes_read += snap.stats.bytes_read;
  rec.bytes_added += snap.stats.bytes_added;

  std::optional<Snapshot> base;
  if (take_base) base = SnapshotById(ctx.repo, state.applied_block_snapshot);
  t = Clock::now();
  RETURN_IF_ERROR(MarkApplyPending(ctx, state));
  RETURN_IF_ERROR(ApplyBlock(ctx, sys, snap, base, rec));
  rec.apply_s += SecondsSince(t);
  state.applied_block_snapshot = rec.block_snapshot;
  return Status::OK();
}

// One capture-and-apply of every source, recorded in `state` (saved).
Result<SyncRecord> SyncOnce(MigrationContext& ctx, const MigrationSystem& sys, SystemState& state,
                            bool final) {
  SyncRecord rec;
  rec.final = final;
  rec.started_ns = NowUnixNs();
  // A sync interrupted while applying may have left any mix of two
  // snapshots in the targets: then nothing is taken for granted this time.
  const bool take_base = !state.apply_pending;
  if (sys.HasFiles()) RETURN_IF_ERROR(SyncFiles(ctx, sys, state, take_base, rec));
  if (sys.HasBlock()) RETURN_IF_ERROR(SyncBlock(ctx, sys, state, take_base, rec));
  CrashPoint("migrate-synced");
  rec.finished_ns = NowUnixNs();
  state.apply_pending = false;
  state.syncs.push_back(rec);
  RETURN_IF_ERROR(ctx.states.Save(state));
  return rec;
}

// The environment every hook gets.
std::vector<std::pair<std::string, std::string>> HookEnv(const MigrationContext& ctx,
                                                         const MigrationSystem& sys) {
  std::string sources;
  for (const auto& p : sys.paths) sources += (sources.empty() ? "" : " ") + p;
  if (sys.HasBlock()) sources += (sources.empty() ? "" : " ") + sys.BlockSource();
  return {{"DR_MIGRATION", ctx.plan.name},
          {"DR_SYSTEM", sys.name},
          {"DR_DEPARTMENT", sys.department},
          {"DR_CLOUD", sys.cloud},
          {"DR_SOURCES", sources},
          {"DR_TARGET_DIRECTORY", sys.directory},
          {"DR_TARGET_BLOCK", sys.BlockTarget()}};
}

// Compares the targets with the final sync's snapshots, bit for bit.
Result<uint64_t> VerifyTargets(MigrationContext& ctx, const MigrationSystem& sys,
                               const SyncRecord& rec) {
  uint64_t differences = 0;
  if (sys.HasFiles()) {
    auto snap = SnapshotById(ctx.repo, rec.snapshot);
    if (!snap) return Status::NotFound("snapshot " + rec.snapshot + " of the final sync");
    ASSIGN_OR_RETURN(VerifyResult v,
                     VerifyAgainst(ctx.repo, *snap, sys.directory, {}, ctx.progress));
    for (size_t i = 0; i < v.differences.size() && i < 5; ++i)
      Log(ctx, "differs: " + v.differences[i].path + " (" + v.differences[i].what + ")");
    differences += v.differences.size();
  }
  if (sys.HasBlock()) {
    auto snap = SnapshotById(ctx.repo, rec.block_snapshot);
    if (!snap) return Status::NotFound("snapshot " + rec.block_snapshot + " of the final sync");
    ASSIGN_OR_RETURN(BlockVerifyResult v,
                     VerifyBlockTarget(ctx.repo, *snap, sys.BlockTarget(), ctx.progress));
    differences += v.differing_count;
  }
  return differences;
}

// Applies the final sync's snapshots again, taking nothing for granted.
Status Repair(MigrationContext& ctx, const MigrationSystem& sys, const SyncRecord& final_sync) {
  SyncRecord scratch;
  if (sys.HasFiles()) {
    auto snap = SnapshotById(ctx.repo, final_sync.snapshot);
    if (!snap) return Status::NotFound("snapshot " + final_sync.snapshot + " of the final sync");
    RETURN_IF_ERROR(ApplyFiles(ctx, sys, *snap, std::nullopt, scratch));
  }
  if (sys.HasBlock()) {
    auto snap = SnapshotById(ctx.repo, final_sync.block_snapshot);
    if (!snap)
      return Status::NotFound("snapshot " + final_sync.block_snapshot + " of the final sync");
    RETURN_IF_ERROR(ApplyBlock(ctx, sys, *snap, std::nullopt, scratch));
  }
  return Status::OK();
}

}  // namespace

Result<SyncRecord> SyncSystem(MigrationContext& ctx, const MigrationSystem& sys) {
  ASSIGN_OR_RETURN(auto lock, ctx.states.LockSystem(sys.name, "sync"));
  ASSIGN_OR_RETURN(SystemState state, ctx.states.Load(sys.name));
  if (state.phase == MigrationPhase::kCutOver)
    return Status::InvalidArgument(
        "system " + sys.name + " was cut over" +
        (state.cutover ? " at " + FormatRfc3339Utc(state.cutover->finished_ns) : std::string()) +
        "; its source is not synced any more");
  if (state.phase == MigrationPhase::kCuttingOver)
    return Status::InvalidArgument("a cutover of system " + sys.name +
                                   " did not finish; run `drctl migrate cutover " + sys.name +
                                   "` again to complete it or roll it back");
  state.phase = MigrationPhase::kSyncing;
  state.error.clear();
  auto rec = SyncOnce(ctx, sys, state, false);
  if (!rec.ok()) {
    state.phase = MigrationPhase::kFailed;
    state.error = "sync: " + rec.status().message();
    (void)ctx.states.Save(state);
    return rec.status().WithContext("sync " + sys.name);
  }
  state.phase = MigrationPhase::kInSync;
  RETURN_IF_ERROR(ctx.states.Save(state));
  return rec;
}

Result<CutoverRecord> CutOverSystem(MigrationContext& ctx, const MigrationSystem& sys,
                                    const CutoverOptions& options) {
  ASSIGN_OR_RETURN(auto lock, ctx.states.LockSystem(sys.name, "cutover"));
  ASSIGN_OR_RETURN(SystemState state, ctx.states.Load(sys.name));
  if (state.phase == MigrationPhase::kCutOver && state.cutover) return *state.cutover;
  if (state.syncs.empty())
    return Status::InvalidArgument("system " + sys.name +
                                   " was never synced; run `drctl migrate sync " + sys.name +
                                   "` first, so the cutover only moves the last changes");
  // A cutover killed part way resumes: the source stayed quiesced, so its
  // downtime runs on from the first start, and once the target was verified
  // it is never synced over again (the system may be starting there).
  const bool resuming = state.phase == MigrationPhase::kCuttingOver && state.cutover;
  CutoverRecord c;
  bool verified_before = false;
  if (resuming) {
    c.started_ns = state.cutover->started_ns;
    for (const auto& [step, seconds] : state.cutover->steps)
      if (step == "verify") verified_before = true;
    if (verified_before) {
      c = *state.cutover;
      Log(ctx, "resuming the cutover after verification");
    } else {
      Log(ctx, "resuming the cutover from the quiesce");
    }
  } else {
    const int64_t now = NowUnixNs();
    if (!options.ignore_window && sys.window_end_ns != 0 &&
        (now < sys.window_start_ns || now >= sys.window_end_ns))
      return Status::InvalidArgument(
          "system " + sys.name + "'s cutover window is " + FormatRfc3339Utc(sys.window_start_ns) +
          " to " + FormatRfc3339Utc(sys.window_end_ns) + "; it is " + FormatRfc3339Utc(now) +
          " (--ignore-window to cut over anyway)");
    c.started_ns = now;
  }
  // From here on the state says "cutting over" until it ends one way or the
  // other, with every finished step in it.
  state.phase = MigrationPhase::kCuttingOver;
  state.error.clear();
  state.cutover = c;
  RETURN_IF_ERROR(ctx.states.Save(state));

  const auto env = HookEnv(ctx, sys);
  Status saved;
  auto step = [&](const std::string& name, const std::function<Status()>& run) {
    Log(ctx, name + "...");
    const auto t = Clock::now();
    Status s = run();
    c.steps.emplace_back(name, SecondsSince(t));
    if (!s.ok() && c.failed_step.empty()) {
      c.failed_step = name;
      c.error = s.message();
    }
    if (s.ok()) {
      state.cutover = c;
      if (Status w = ctx.states.Save(state); !w.ok() && saved.ok()) saved = w;
    }
    return s.ok();
  };
  auto hook = [&](const std::string& name, const std::string& command) {
    return [&, name, command] {
      if (command.empty()) return Status::OK();
      return RunMigrationHook({name, command, env, ctx.hook_timeout_s});
    };
  };
  SyncRecord final_sync;
  const bool ready =
      verified_before ||
      (step("quiesce", hook("quiesce", sys.hooks.quiesce)) &&
       step("sync",
            [&]() -> Status {
              CrashPoint("migrate-quiesced");
              ASSIGN_OR_RETURN(final_sync, SyncOnce(ctx, sys, state, true));
              return Status::OK();
            }) &&
       step("verify", [&]() -> Status {
         ASSIGN_OR_RETURN(c.differences, VerifyTargets(ctx, sys, final_sync));
         if (c.differences > 0) {
           // Changed at the target behind the syncs' back (where a sync takes
           // the base for granted): apply the final snapshot again, comparing
           // everything, and look once more.
           Log(ctx, std::to_string(c.differences) +
                        " differences: applying the final snapshot again in full");
           RETURN_IF_ERROR(Repair(ctx, sys, final_sync));
           ASSIGN_OR_RETURN(c.differences, VerifyTargets(ctx, sys, final_sync));
         }
         c.verified = c.differences == 0;
         if (!c.verified)
           return Status::Corruption(std::to_string(c.differences) +
                                     " differences between the target and the final snapshot");
         return Status::OK();
       }));
  const bool ok = ready &&
                  step("start",
                       [&] {
                         CrashPoint("migrate-verified");
                         return hook("start", sys.hooks.start)();
                       }) &&
                  step("health-check", hook("health-check", sys.hooks.health_check));
  if (!ok) {
    Log(ctx, c.failed_step + " failed: " + c.error);
    if (!sys.hooks.rollback.empty()) {
      Log(ctx, "rollback...");
      const auto t = Clock::now();
      Status rolled = RunMigrationHook({"rollback", sys.hooks.rollback, env, ctx.hook_timeout_s});
      c.steps.emplace_back("rollback", SecondsSince(t));
      c.rolled_back = rolled.ok();
      c.rollback_error = rolled.ok() ? "" : rolled.message();
    }
  }
  c.finished_ns = NowUnixNs();
  c.downtime_s = static_cast<double>(c.finished_ns - c.started_ns) / 1e9;
  state.cutover = c;
  if (ok) {
    state.phase = MigrationPhase::kCutOver;
  } else {
    state.phase = c.rolled_back || sys.hooks.rollback.empty() ? MigrationPhase::kRolledBack
                                                              : MigrationPhase::kFailed;
    state.error = "cutover: " + c.failed_step + ": " + c.error +
                  (c.rollback_error.empty() ? "" : "; rollback: " + c.rollback_error);
  }
  RETURN_IF_ERROR(ctx.states.Save(state));
  RETURN_IF_ERROR(saved);
  return c;
}

CutoverEstimate EstimateCutover(const SystemState& state, uint64_t delta_bytes) {
  CutoverEstimate e;
  if (state.syncs.empty()) return e;
  // Least squares through (bytes read, sync seconds): fixed cost + rate.
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const auto& s : state.syncs) {
    const double x = static_cast<double>(s.bytes_read), y = s.capture_s + s.apply_s;
    n += 1, sx += x, sy += y, sxx += x * x, sxy += x * y;
  }
  const double det = n * sxx - sx * sx;
  double slope = 0, intercept = sy / n;
  if (n >= 2 && det > 0) {
    slope = std::max(0.0, (n * sxy - sx * sy) / det);
    intercept = std::max(0.0, (sy - slope * sx) / n);
  }
  e.sync_s = intercept + slope * static_cast<double>(delta_bytes);
  // Verification reads the whole target once: at the last measured rate, or
  // (never measured) at the rate the first sync wrote it.
  const SyncRecord& last = state.syncs.back();
  double verify_rate = 0;
  if (state.cutover) {
    for (const auto& [step, s] : state.cutover->steps)
      if (step == "verify" && s > 0) verify_rate = static_cast<double>(last.bytes_total) / s;
  }
  const SyncRecord& first = state.syncs.front();
  if (verify_rate == 0 && first.apply_s > 0)
    verify_rate = static_cast<double>(first.bytes_written) / first.apply_s;
  e.verify_s = verify_rate > 0 ? static_cast<double>(last.bytes_total) / verify_rate : 0;
  e.seconds = e.sync_s + e.verify_s;
  e.known = true;
  return e;
}

}  // namespace dr
