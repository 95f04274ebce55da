#include "migrate/migrator.h"

#include <chrono>

#include "core/crash_point.h"
#include "core/timefmt.h"
#include "migrate/hook_runner.h"
#include "migrate/sync_steps.h"
#include "restore/block/block_restore.h"
#include "restore/files/verifier.h"

namespace dr {

using namespace migrate_steps;

namespace {

// One capture-and-apply of every source, here.
Result<SyncRecord> SyncOnce(MigrationContext& ctx, const MigrationSystem& sys, SystemState& state,
                            bool final) {
  SyncRecord rec;
  rec.final = final;
  rec.started_ns = NowUnixNs();
  ASSIGN_OR_RETURN(Captured c, CaptureSources(ctx, sys, state, "", rec));
  CrashPoint("migrate-captured");
  RETURN_IF_ERROR(ApplyCaptured(ctx, sys, state, c, rec));
  return RecordSync(ctx, state, std::move(rec));
}

// The environment every hook gets.
std::vector<std::pair<std::string, std::string>> HookEnv(const MigrationContext& ctx,
                                                         const MigrationSystem& sys,
                                                         const std::string& cutover_token) {
  std::string sources;
  for (const auto& p : sys.paths) sources += (sources.empty() ? "" : " ") + p;
  if (sys.HasBlock()) sources += (sources.empty() ? "" : " ") + sys.BlockSource();
  return {{"DR_MIGRATION", ctx.plan.name},
          {"DR_SYSTEM", sys.name},
          {"DR_DEPARTMENT", sys.department},
          {"DR_CLOUD", sys.cloud},
          {"DR_SOURCES", sources},
          {"DR_TARGET_DIRECTORY", sys.directory},
          {"DR_TARGET_BLOCK", sys.BlockTarget()},
          {"DR_SOURCE_AGENT", sys.source_agent},
          {"DR_CUTOVER_TOKEN", cutover_token}};
}

// Compares the targets with the final sync's snapshots, bit for bit.
Result<uint64_t> VerifyTargets(MigrationContext& ctx, const MigrationSystem& sys,
                               const SyncRecord& rec) {
  uint64_t differences = 0;
  if (sys.HasFiles()) {
    auto snap = SnapshotById(*ctx.repo, rec.snapshot);
    if (!snap) return Status::NotFound("snapshot " + rec.snapshot + " of the final sync");
    ASSIGN_OR_RETURN(VerifyResult v,
                     VerifyAgainst(*ctx.repo, *snap, sys.directory, {}, ctx.progress));
    for (size_t i = 0; i < v.differences.size() && i < 5; ++i)
      Log(ctx, "differs: " + v.differences[i].path + " (" + v.differences[i].what + ")");
    differences += v.differences.size();
  }
  if (sys.HasBlock()) {
    auto snap = SnapshotById(*ctx.repo, rec.block_snapshot);
    if (!snap) return Status::NotFound("snapshot " + rec.block_snapshot + " of the final sync");
    ASSIGN_OR_RETURN(BlockVerifyResult v,
                     VerifyBlockTarget(*ctx.repo, *snap, sys.BlockTarget(), ctx.progress));
    differences += v.differing_count;
  }
  return differences;
}

// Applies the final sync's snapshots again, taking nothing for granted.
Status Repair(MigrationContext& ctx, const MigrationSystem& sys, const SyncRecord& final_sync) {
  SyncRecord scratch;
  if (sys.HasFiles()) {
    auto snap = SnapshotById(*ctx.repo, final_sync.snapshot);
    if (!snap) return Status::NotFound("snapshot " + final_sync.snapshot + " of the final sync");
    RETURN_IF_ERROR(ApplyFiles(ctx, sys, *snap, std::nullopt, scratch));
  }
  if (sys.HasBlock()) {
    auto snap = SnapshotById(*ctx.repo, final_sync.block_snapshot);
    if (!snap)
      return Status::NotFound("snapshot " + final_sync.block_snapshot + " of the final sync");
    RETURN_IF_ERROR(ApplyBlock(ctx, sys, *snap, std::nullopt, scratch));
  }
  return Status::OK();
}

}  // namespace

Result<SyncRecord> SyncSystem(MigrationContext& ctx, const MigrationSystem& sys) {
  RETURN_IF_ERROR(RequireRepository(ctx));
  ASSIGN_OR_RETURN(auto lock, ctx.states.LockSystem(sys.name, "sync"));
  ASSIGN_OR_RETURN(SystemState state, ctx.states.Load(sys.name));
  RETURN_IF_ERROR(CheckSyncable(ctx, sys, state));
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
  RETURN_IF_ERROR(RequireRepository(ctx));
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
    c.token = state.cutover->token;
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
  if (c.token.empty()) {
    ASSIGN_OR_RETURN(c.token, NewCutoverToken());
  }
  // From here on the state says "cutting over" until it ends one way or the
  // other, with every finished step in it.
  state.phase = MigrationPhase::kCuttingOver;
  state.error.clear();
  state.cutover = c;
  RETURN_IF_ERROR(ctx.states.Save(state));

  const auto env = HookEnv(ctx, sys, c.token);
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
              if (ctx.remote_source) {
                ASSIGN_OR_RETURN(final_sync, ApplyFinalCapture(ctx, sys, state, c.token));
              } else {
                ASSIGN_OR_RETURN(final_sync, SyncOnce(ctx, sys, state, true));
              }
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
