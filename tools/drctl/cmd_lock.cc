// drctl lock: retention locks (catalog/retention_lock.h). Set or extend a
// snapshot's lock, or list the locks; nothing here removes or shortens one.
#include <cstdio>

#include "catalog/retention_lock.h"
#include "core/timefmt.h"
#include "policies/duration.h"
#include "tools/drctl/cli.h"

namespace dr::cli {

namespace {

struct LockFlags {
  std::string snapshot, until, for_duration, reason;
  bool list = false;
};

int RunList(const GlobalOptions& g, Repository& repo) {
  auto locks = ListRetentionLocks(*repo.store());
  if (!locks.ok()) return Fail(locks.status());
  const int64_t now = NowUnixNs();
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [id, until] : *locks) {
    if (g.json) {
      out.push_back(
          {{"snapshot", id.Hex()}, {"until", FormatRfc3339Utc(until)}, {"active", until > now}});
    } else if (!g.quiet) {
      std::printf("%s  locked until %s%s\n", id.Hex().substr(0, 8).c_str(),
                  FormatLocal(until).c_str(), until > now ? "" : " (expired)");
    }
  }
  if (g.json) PrintJson(out);
  return kExitOk;
}

int RunLock(const GlobalOptions& g, const LockFlags& f) {
  auto repo = OpenRepo(g);
  if (!repo) return kExitError;
  if (f.list) return RunList(g, *repo);
  if (f.snapshot.empty())
    return Fail(Status::InvalidArgument("name the snapshot to lock (or --list the locks)"));
  if (f.until.empty() == f.for_duration.empty())
    return Fail(Status::InvalidArgument("give the lock's end: --until TIME or --for DURATION"));
  const int64_t now = NowUnixNs();
  int64_t until = 0;
  if (!f.until.empty()) {
    auto t = ParseTimeArg(f.until);
    if (!t.ok()) return Fail(t.status().WithContext("--until"));
    until = *t;
  } else {
    auto d = ParseDuration(f.for_duration);
    if (!d.ok()) return Fail(d.status().WithContext("--for"));
    int64_t ns = 0;
    if (__builtin_mul_overflow(*d, int64_t{1'000'000'000}, &ns) ||
        __builtin_add_overflow(now, ns, &until))
      return Fail(Status::InvalidArgument("--for " + f.for_duration + ": too far in the future"));
  }
  auto snap = ResolveSnapshot(*repo, f.snapshot, "");
  if (!snap.ok()) return Fail(snap.status());
  Status s = AddRetentionLock(*repo->store(), snap->id, until, f.reason, now);
  if (!s.ok()) return Fail(s);
  if (g.json) {
    PrintJson({{"snapshot", snap->id.Hex()}, {"until", FormatRfc3339Utc(until)}});
  } else if (!g.quiet) {
    std::printf("snapshot %s locked until %s: no forget or prune removes it before then\n",
                snap->ShortId().c_str(), FormatLocal(until).c_str());
  }
  return kExitOk;
}

}  // namespace

void AddLockCommand(CLI::App& app, GlobalOptions& g, Runner* run) {
  auto* cmd = app.add_subcommand(
      "lock", "keep a snapshot until a time, whatever retention says (locks only extend)");
  auto f = std::make_shared<LockFlags>();
  cmd->add_option("snapshot", f->snapshot, "snapshot id, prefix or 'latest'");
  cmd->add_option("--until", f->until, "the lock's end: YYYY-MM-DD[ HH:MM[:SS]][Z] or @SECONDS");
  cmd->add_option("--for", f->for_duration, "the lock's length from now: 90d, 52w, 36h, ...");
  cmd->add_option("--reason", f->reason, "why (kept with the lock)");
  cmd->add_flag("--list", f->list, "list every snapshot's lock");
  cmd->callback([&g, run, f] { *run = [&g, f] { return RunLock(g, *f); }; });
}

}  // namespace dr::cli
