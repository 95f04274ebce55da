// The two halves of a sync through vaults (migrator.h): the source host's
// agent captures, the cloud host's agent applies what that agent captured.
#include <algorithm>

#include "core/timefmt.h"
#include "migrate/migrator.h"
#include "migrate/sync_steps.h"

namespace dr {

using namespace migrate_steps;

namespace migrate_steps {

// The newest captures of `sys` its source agent wrote into the vault (with
// `cutover_token`: only that cutover's final ones). Another agent's
// snapshots never count, whatever their tags say.
Result<Captured> NewestCaptures(MigrationContext& ctx, const MigrationSystem& sys,
                                const std::string& cutover_token) {
  if (sys.source_agent.empty())
    return Status::InvalidArgument(
        "system " + sys.name + " in " + ctx.plan.file +
        " names no source-agent: through vaults the target applies only what that agent "
        "captured");
  // Captures arrive while this runs (a cutover's quiesce hook takes one, a
  // continuous apply waits for them): their blobs are indexed by segments
  // written since the repository was opened here.
  // Snapshots first: a capture listed here had its segments written before
  // it, so the refresh after finds them.
  ASSIGN_OR_RETURN(std::vector<Snapshot> all, ctx.repo->ListSnapshots());
  RETURN_IF_ERROR(ctx.repo->RefreshExclusions());
  Captured c;
  for (Snapshot& s : all) {  // oldest first: the newest wins
    if (s.identity != sys.source_agent || !HasTag(s, "migrate:" + ctx.plan.name) ||
        !HasTag(s, "system:" + sys.name))
      continue;
    if (!cutover_token.empty() && !HasTag(s, "cutover:" + cutover_token)) continue;
    (s.block ? c.block : c.files) = std::move(s);
  }
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  // A capture of other sources (an older plan) would mirror them over the
  // target, removing what the plan's sources hold.
  if (c.files && sorted(c.files->paths) != sorted(sys.paths))
    return Status::InvalidArgument("capture " + c.files->ShortId() + " by agent " +
                                   sys.source_agent + " is not of the plan's sources for system " +
                                   sys.name + "; capture again with this plan");
  if (c.block && c.block->paths != std::vector<std::string>{sys.BlockSource()})
    return Status::InvalidArgument("capture " + c.block->ShortId() + " by agent " +
                                   sys.source_agent + " is not of " + sys.BlockSource() +
                                   "; capture again with this plan");
  if (!cutover_token.empty() && c.files && c.files->partial)
    return Status::IOError("the final capture " + c.files->ShortId() +
                           " could not read every file at the source");
  return c;
}

// Every kind of source the system has, captured; else what to do about it.
Status RequireCaptures(const MigrationContext& ctx, const MigrationSystem& sys, const Captured& c,
                       const std::string& cutover_token) {
  if ((!sys.HasFiles() || c.files) && (!sys.HasBlock() || c.block)) return Status::OK();
  const std::string what = sys.HasFiles() && !c.files ? "its files" : sys.BlockSource();
  if (cutover_token.empty())
    return Status::NotFound("the vault holds no capture of system " + sys.name + " (" + what +
                            ") by agent " + sys.source_agent +
                            " yet; run `dragent migrate --plan " + ctx.plan.file + " capture " +
                            sys.name + "` on the source host");
  return Status::NotFound("the quiesce hook finished, but the vault holds no capture of " + what +
                          " tagged cutover:" + cutover_token + " by agent " + sys.source_agent +
                          ": the quiesce hook must end with `dragent migrate --plan " +
                          ctx.plan.file + " capture --final \"$DR_CUTOVER_TOKEN\" " + sys.name +
                          "` on the source host");
}

// The cutover's final sync through vaults: the quiesce hook had the source
// take it; apply it.
Result<SyncRecord> ApplyFinalCapture(MigrationContext& ctx, const MigrationSystem& sys,
                                     SystemState& state, const std::string& cutover_token) {
  ASSIGN_OR_RETURN(Captured c, NewestCaptures(ctx, sys, cutover_token));
  RETURN_IF_ERROR(RequireCaptures(ctx, sys, c, cutover_token));
  return ApplyAndRecord(ctx, sys, state, c, /*final=*/true);
}

}  // namespace migrate_steps

std::string SourceStateKey(const std::string& system) { return system + "@source"; }

Result<SyncRecord> CaptureSystem(MigrationContext& ctx, const MigrationSystem& sys,
                                 const std::string& cutover_token) {
  if (!cutover_token.empty() && !IsCutoverToken(cutover_token))
    return Status::InvalidArgument("cutover token \"" + cutover_token +
                                   "\": expected the 32 hex digits a cutover gives its quiesce "
                                   "hook in $DR_CUTOVER_TOKEN");
  const std::string key = SourceStateKey(sys.name);
  // A final capture waits for a round of `capture --continuous` to end
  // rather than fail the cutover's quiesce hook.
  ASSIGN_OR_RETURN(auto lock,
                   ctx.states.LockSystem(key, "capture", cutover_token.empty() ? 0 : 600));
  ASSIGN_OR_RETURN(SystemState state, ctx.states.Load(key));
  SyncRecord rec;
  rec.final = !cutover_token.empty();
  rec.started_ns = NowUnixNs();
  state.error.clear();
  auto c = CaptureSources(ctx, sys, state, cutover_token, rec);
  if (!c.ok()) {
    state.phase = MigrationPhase::kFailed;
    state.error = "capture: " + c.status().message();
    (void)ctx.states.Save(state);
    return c.status().WithContext("capture " + sys.name);
  }
  if (c->files) state.applied_snapshot = c->files->id.Hex();
  if (c->block) state.applied_block_snapshot = c->block->id.Hex();
  rec.finished_ns = NowUnixNs();
  state.syncs.push_back(rec);
  state.phase = MigrationPhase::kInSync;
  RETURN_IF_ERROR(ctx.states.Save(state));
  return rec;
}

Result<std::optional<SyncRecord>> ApplySystem(MigrationContext& ctx, const MigrationSystem& sys) {
  RETURN_IF_ERROR(RequireRepository(ctx));
  ASSIGN_OR_RETURN(auto lock, ctx.states.LockSystem(sys.name, "apply"));
  ASSIGN_OR_RETURN(SystemState state, ctx.states.Load(sys.name));
  RETURN_IF_ERROR(CheckSyncable(ctx, sys, state));
  auto fail = [&](const Status& s) {
    state.phase = MigrationPhase::kFailed;
    state.error = "apply: " + s.message();
    (void)ctx.states.Save(state);
    return s.WithContext("apply " + sys.name);
  };
  auto c = NewestCaptures(ctx, sys, "");
  if (!c.ok()) return fail(c.status());
  if (Status s = RequireCaptures(ctx, sys, *c, ""); !s.ok()) return s;
  // What the targets already hold is not applied again (unless an
  // interrupted apply left them unknown).
  if (!state.apply_pending) {
    if (c->files && c->files->id.Hex() == state.applied_snapshot) c->files.reset();
    if (c->block && c->block->id.Hex() == state.applied_block_snapshot) c->block.reset();
    if (!c->files && !c->block) return std::optional<SyncRecord>();
  }
  state.phase = MigrationPhase::kSyncing;
  state.error.clear();
  auto recorded = ApplyAndRecord(ctx, sys, state, *c, /*final=*/false);
  if (!recorded.ok()) return fail(recorded.status());
  state.phase = MigrationPhase::kInSync;
  RETURN_IF_ERROR(ctx.states.Save(state));
  return std::optional<SyncRecord>(std::move(recorded).value());
}

Result<PendingCapture> FindPendingCapture(MigrationContext& ctx, const MigrationSystem& sys,
                                          const SystemState& state) {
  RETURN_IF_ERROR(RequireRepository(ctx));
  ASSIGN_OR_RETURN(Captured c, NewestCaptures(ctx, sys, ""));
  PendingCapture p;
  for (const auto* snap : {&c.files, &c.block}) {
    if (!*snap) continue;
    const Snapshot& s = **snap;
    p.known = true;
    if (s.time_ns >= p.captured_ns) {
      p.captured_ns = s.time_ns;
      p.snapshot = s.id.Hex();
    }
    p.last_bytes_read += s.stats.bytes_read;
  }
  p.applied = !state.apply_pending && (!c.files || c.files->id.Hex() == state.applied_snapshot) &&
              (!c.block || c.block->id.Hex() == state.applied_block_snapshot);
  return p;
}

}  // namespace dr
