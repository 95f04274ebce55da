// drctl migrate and dragent migrate: moving departmental systems into the
// cloud by plan (docs/migration.md, migrate/migrator.h). drctl syncs through
// the plan's repository on one host; through vaults, dragent captures on the
// source host and applies and cuts over on the cloud host.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "core/env/file_io.h"
#include "core/timefmt.h"
#include "migrate/migrator.h"
#include "migrate/report.h"
#include "policies/duration.h"
#include "replicator/wire/remote_target.h"
#include "tools/drctl/cli.h"

namespace dr::cli {

namespace {

std::atomic<bool> g_migrate_stop{false};

struct MigrateFlags {
  std::string plan;
  std::string system;
  int wave = 0;
  bool continuous = false;
  std::string interval = "5m";
  bool ignore_window = false;
  std::string html;
  double hook_timeout_s = 600;
  std::string final_token;  // capture --final: the cutover's $DR_CUTOVER_TOKEN
  bool agent = false;       // dragent: through the vault its options name
};

// Everything a migrate command works with, opened once.
struct Opened {
  MigrationPlan plan;
  std::unique_ptr<MigrationStateStore> states;
  std::string url;  // the plan's repository (drctl) or the agent's vault
  std::unique_ptr<Repository> repo;
  CaptureTargetOpener open_target;
};

Result<MigrationPlan> LoadPlan(const MigrateFlags& f) {
  if (f.plan.empty())
    return Status::InvalidArgument(
        "no migration plan given (use --plan FILE or set DR_MIGRATION_PLAN)");
  return LoadMigrationPlan(f.plan);
}

// Opens the repository into `o` unless it is open; false (the error
// printed) when it cannot be.
bool OpenRepository(const GlobalOptions& g, Opened& o) {
  if (o.repo) return true;
  GlobalOptions rg = g;
  rg.repo = o.url;
  o.repo = OpenRepo(rg, "migrate");
  return o.repo != nullptr;
}

// `with_repo`: the command applies or verifies (a source host through a
// vault only captures: its backup right reads no repository).
std::optional<Opened> Open(const GlobalOptions& g, const MigrateFlags& f, bool with_repo) {
  auto plan = LoadPlan(f);
  if (!plan.ok()) {
    Fail(plan.status());
    return std::nullopt;
  }
  Opened o{std::move(plan).value(), nullptr, f.agent ? g.repo : "", nullptr, nullptr};
  auto states = MigrationStateStore::Open(o.plan.state_dir);
  if (!states.ok()) {
    Fail(states.status());
    return std::nullopt;
  }
  o.states = std::move(states).value();
  if (f.agent) {
    o.open_target = [url = o.url]() -> Result<std::shared_ptr<BackupTarget>> {
      ASSIGN_OR_RETURN(KeySource keys, KeySourceFromEnvironment());
      ASSIGN_OR_RETURN(OpenedTarget t, OpenBackupTarget(url, 0, keys));
      auto owner = std::make_shared<OpenedTarget>(std::move(t));
      return std::shared_ptr<BackupTarget>(owner, owner->target.get());
    };
    if (with_repo && !OpenRepository(g, o)) return std::nullopt;
    return o;
  }
  if (!with_repo) return o;
  if (o.plan.repository.empty()) {
    Fail(Status::InvalidArgument(
        o.plan.file +
        " names no repository: drctl migrate syncs through the one the plan names "
        "(repository:); through vaults, run dragent migrate on the source and cloud hosts"));
    return std::nullopt;
  }
  o.url = o.plan.repository;
  if (!OpenRepository(g, o)) return std::nullopt;
  o.open_target = [repo = o.repo.get()]() -> Result<std::shared_ptr<BackupTarget>> {
    return std::shared_ptr<BackupTarget>(MakeRepositoryTarget(*repo, 0));
  };
  return o;
}

// The systems a command names: one by name, a wave, or (`all_if_none`) all.
Result<std::vector<const MigrationSystem*>> Selected(const MigrationPlan& plan,
                                                     const MigrateFlags& f, bool all_if_none) {
  if (!f.system.empty() && f.wave)
    return Status::InvalidArgument("give a system or --wave, not both");
  if (!f.system.empty()) {
    const MigrationSystem* s = plan.Find(f.system);
    if (!s) return Status::NotFound("plan " + plan.file + " has no system " + f.system);
    return std::vector<const MigrationSystem*>{s};
  }
  if (f.wave) {
    auto wave = plan.Wave(f.wave);
    if (wave.empty())
      return Status::NotFound("plan " + plan.file + " has no system in wave " +
                              std::to_string(f.wave));
    return wave;
  }
  if (!all_if_none) return Status::InvalidArgument("name a system or give --wave N");
  std::vector<const MigrationSystem*> all;
  for (const auto& s : plan.systems) all.push_back(&s);
  return all;
}

MigrationContext Context(const GlobalOptions& g, Opened& o, const MigrateFlags& f,
                         const std::string& system) {
  MigrationContext ctx{o.repo.get(), o.open_target, o.plan,           *o.states,
                       nullptr,      nullptr,       f.hook_timeout_s, f.agent};
  if (!g.quiet && !g.json) {
    ctx.log = [system](const std::string& line) {
      std::fprintf(stderr, "%s %s: %s\n", FormatLocal(NowUnixNs()).c_str(), system.c_str(),
                   line.c_str());
    };
  }
  return ctx;
}

nlohmann::json SyncJson(const std::string& system, const SyncRecord& r) {
  return {{"system", system},
          {"snapshot", r.snapshot},
          {"block_snapshot", r.block_snapshot},
          {"bytes_read", r.bytes_read},
          {"bytes_added", r.bytes_added},
          {"bytes_written", r.bytes_written},
          {"blocks_written", r.blocks_written},
          {"entries_removed", r.entries_removed},
          {"capture_s", r.capture_s},
          {"apply_s", r.apply_s}};
}

int RunPlanValidate(const MigrateFlags& f, const GlobalOptions& g) {
  auto plan = LoadPlan(f);
  if (!plan.ok()) return Fail(plan.status());
  if (!g.quiet)
    std::printf("%s: migration %s, %zu systems: valid\n", plan->file.c_str(), plan->name.c_str(),
                plan->systems.size());
  return kExitOk;
}

int RunPlanShow(const MigrateFlags& f, const GlobalOptions& g) {
  auto plan = LoadPlan(f);
  if (!plan.ok()) return Fail(plan.status());
  std::map<int, std::vector<const MigrationSystem*>> waves;
  for (const auto& s : plan->systems) waves[s.wave].push_back(&s);
  nlohmann::json out = nlohmann::json::array();
  if (!g.json)
    std::printf(
        "migration %s (%s, state %s)\n", plan->name.c_str(),
        plan->repository.empty() ? "through vaults" : ("repository " + plan->repository).c_str(),
        plan->state_dir.c_str());
  for (const auto& [wave, systems] : waves) {
    if (!g.json) std::printf("wave %d:\n", wave);
    for (const MigrationSystem* s : systems) {
      uint64_t size = 0;  // where known: the files' and the image's current sizes
      for (const auto& p : s->paths) {
        std::error_code ec;
        for (auto it = std::filesystem::recursive_directory_iterator(
                 p, std::filesystem::directory_options::skip_permission_denied, ec);
             !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
          if (it->is_regular_file(ec) && !it->is_symlink(ec)) size += it->file_size(ec);
        }
      }
      if (s->HasBlock()) {
        std::error_code ec;
        const auto n = std::filesystem::file_size(s->BlockSource(), ec);
        if (!ec) size += n;
      }
      std::string sources;
      for (const auto& p : s->paths) sources += (sources.empty() ? "" : ", ") + p;
      if (s->HasBlock()) sources += (sources.empty() ? "" : ", ") + s->BlockSource();
      std::string targets = s->directory;
      if (s->HasBlock()) targets += (targets.empty() ? "" : ", ") + s->BlockTarget();
      if (g.json) {
        out.push_back({{"system", s->name},
                       {"wave", wave},
                       {"department", s->department},
                       {"kind", s->kind},
                       {"cloud", s->cloud},
                       {"sources", sources},
                       {"source_agent", s->source_agent},
                       {"targets", targets},
                       {"size_bytes", size}});
      } else {
        std::printf("  %-20s %-14s %-14s %-12s %10s  %s -> %s\n", s->name.c_str(),
                    s->department.c_str(), s->kind.c_str(), s->cloud.c_str(),
                    HumanBytes(static_cast<double>(size)).c_str(), sources.c_str(),
                    targets.c_str());
      }
    }
  }
  if (g.json) PrintJson(out);
  return kExitOk;
}

// What one round does for one system: its JSON, or nullopt when there was
// nothing to do; an error is printed and the round goes on.
using SystemStep =
    std::function<Result<std::optional<nlohmann::json>>(MigrationContext&, const MigrationSystem&)>;

// Runs `step` for every selected system, once or (--continuous) in rounds
// until SIGTERM or SIGINT.
int RunRounds(const GlobalOptions& g, const MigrateFlags& f, bool with_repo,
              const SystemStep& step) {
  auto o = Open(g, f, with_repo);
  if (!o) return kExitError;
  auto systems = Selected(o->plan, f, false);
  if (!systems.ok()) return Fail(systems.status());
  int64_t interval = 0;
  if (f.continuous) {
    auto d = ParseDuration(f.interval);
    if (!d.ok()) return Fail(d.status().WithContext("--interval"));
    interval = *d;
    struct sigaction sa = {};
    sa.sa_handler = [](int) { g_migrate_stop = true; };
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGTERM, SIGINT}) ::sigaction(sig, &sa, nullptr);
  }
  int rc = kExitOk;
  do {
    const auto round = std::chrono::steady_clock::now();
    nlohmann::json out = nlohmann::json::array();
    for (const MigrationSystem* s : *systems) {
      MigrationContext ctx = Context(g, *o, f, s->name);
      auto r = step(ctx, *s);
      if (!r.ok()) {
        Fail(r.status());
        rc = kExitError;
        continue;
      }
      if (*r) out.push_back(**r);
    }
    if (g.json) PrintJson(out);
    std::fflush(stdout);
    while (f.continuous && !g_migrate_stop &&
           std::chrono::steady_clock::now() - round < std::chrono::seconds(interval))
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
  } while (f.continuous && !g_migrate_stop);
  return rc;
}

int RunSync(const GlobalOptions& g, const MigrateFlags& f) {
  return RunRounds(g, f, true,
                   [&g](MigrationContext& ctx,
                        const MigrationSystem& s) -> Result<std::optional<nlohmann::json>> {
                     ASSIGN_OR_RETURN(SyncRecord r, SyncSystem(ctx, s));
                     if (!g.quiet && !g.json)
                       std::printf(
                           "%s: synced in %.1fs: read %s, moved %s, wrote %s at the target\n",
                           s.name.c_str(), r.capture_s + r.apply_s,
                           HumanBytes(static_cast<double>(r.bytes_read)).c_str(),
                           HumanBytes(static_cast<double>(r.bytes_added)).c_str(),
                           HumanBytes(static_cast<double>(r.bytes_written)).c_str());
                     return std::optional<nlohmann::json>(SyncJson(s.name, r));
                   });
}

int RunCapture(const GlobalOptions& g, const MigrateFlags& f) {
  if (!f.final_token.empty() && f.continuous)
    return Fail(Status::InvalidArgument("--final takes one capture; not with --continuous"));
  return RunRounds(g, f, false,
                   [&g, &f](MigrationContext& ctx,
                            const MigrationSystem& s) -> Result<std::optional<nlohmann::json>> {
                     ASSIGN_OR_RETURN(SyncRecord r, CaptureSystem(ctx, s, f.final_token));
                     if (!g.quiet && !g.json)
                       std::printf("%s: captured%s in %.1fs: read %s, sent %s to the vault\n",
                                   s.name.c_str(), r.final ? " (final)" : "", r.capture_s,
                                   HumanBytes(static_cast<double>(r.bytes_read)).c_str(),
                                   HumanBytes(static_cast<double>(r.bytes_added)).c_str());
                     return std::optional<nlohmann::json>(SyncJson(s.name, r));
                   });
}

int RunApply(const GlobalOptions& g, const MigrateFlags& f) {
  return RunRounds(
      g, f, true,
      [&g](MigrationContext& ctx,
           const MigrationSystem& s) -> Result<std::optional<nlohmann::json>> {
        ASSIGN_OR_RETURN(std::optional<SyncRecord> r, ApplySystem(ctx, s));
        if (!r) {
          if (!g.quiet && !g.json)
            std::printf("%s: the target already holds the newest capture\n", s.name.c_str());
          return std::optional<nlohmann::json>();
        }
        if (!g.quiet && !g.json)
          std::printf("%s: applied in %.1fs: wrote %s at the target\n", s.name.c_str(), r->apply_s,
                      HumanBytes(static_cast<double>(r->bytes_written)).c_str());
        return std::optional<nlohmann::json>(SyncJson(s.name, *r));
      });
}

// The states `status` shows for a system: drctl has one; a dragent host
// shows its capture state where it is the source, and its apply state where
// it is the target (or has neither yet).
Result<std::vector<std::pair<std::string, SystemState>>> StatusRows(const MigrateFlags& f,
                                                                    const Opened& o,
                                                                    const MigrationSystem& s) {
  ASSIGN_OR_RETURN(SystemState target, o.states->Load(s.name));
  if (!f.agent) return std::vector<std::pair<std::string, SystemState>>{{"", std::move(target)}};
  ASSIGN_OR_RETURN(SystemState source, o.states->Load(SourceStateKey(s.name)));
  std::vector<std::pair<std::string, SystemState>> rows;
  const bool has_source = source.updated_ns != 0;
  if (has_source) rows.emplace_back("source", std::move(source));
  if (target.updated_ns != 0 || !has_source) rows.emplace_back("target", std::move(target));
  return rows;
}

int RunStatus(const GlobalOptions& g, const MigrateFlags& f) {
  // A source host through a vault reads no repository: opened for the
  // systems this host is the target of.
  auto o = Open(g, f, !f.agent);
  if (!o) return kExitError;
  auto systems = Selected(o->plan, f, true);
  if (!systems.ok()) return Fail(systems.status());
  nlohmann::json out = nlohmann::json::array();
  if (!g.json)
    std::printf("%-20s %4s  %-12s  %-19s  %12s  %14s\n", "system", "wave", "phase", "last sync",
                "delta since", "est. downtime");
  int rc = kExitOk;
  for (const MigrationSystem* s : *systems) {
    auto rows = StatusRows(f, *o, *s);
    if (!rows.ok()) {
      Fail(rows.status());
      rc = kExitError;
      continue;
    }
    for (const auto& [role, st] : *rows) {
      if (role == "target" && !OpenRepository(g, *o)) {
        rc = kExitError;
        continue;
      }
      MigrationContext ctx = Context(g, *o, f, s->name);
      // Once cut over, the source is history: nothing to scan or estimate.
      const bool done = st.phase == MigrationPhase::kCutOver;
      // Here, the sources' delta is scanned; at a cloud host, the newest
      // capture the source agent sent stands for it.
      SourceDelta delta;
      PendingCapture pending;
      Status looked;
      if (!done && role == "target") {
        auto p = FindPendingCapture(ctx, *s, st);
        if (p.ok()) pending = *p;
        looked = p.status();
      } else if (!done) {
        auto d = ScanDelta(ctx, *s, st);
        if (d.ok()) delta = *d;
        looked = d.status();
      }
      if (!looked.ok()) {
        Fail(looked);
        rc = kExitError;
        continue;
      }
      CutoverEstimate est;
      if (!done && role == "target" && pending.known)
        est = EstimateCutover(st, pending.applied ? 0 : pending.last_bytes_read);
      else if (!done && role.empty())
        est = EstimateCutover(st, delta.bytes);
      const int64_t last = st.syncs.empty() ? 0 : st.syncs.back().finished_ns;
      if (g.json) {
        nlohmann::json j = {{"system", s->name},
                            {"wave", s->wave},
                            {"phase", PhaseName(st.phase)},
                            {"error", st.error},
                            {"last_sync", last ? FormatRfc3339Utc(last) : ""},
                            {"syncs", st.syncs.size()}};
        if (!role.empty()) j["role"] = role;
        if (delta.known)
          j["delta"] = {{"files_changed", delta.files_changed},
                        {"files_new", delta.files_new},
                        {"entries_gone", delta.entries_gone},
                        {"bytes", delta.bytes}};
        if (pending.known)
          j["newest_capture"] = {{"snapshot", pending.snapshot},
                                 {"applied", pending.applied},
                                 {"bytes_read", pending.last_bytes_read},
                                 {"captured", FormatRfc3339Utc(pending.captured_ns)}};
        if (est.known)
          j["estimated_downtime"] = {
              {"seconds", est.seconds}, {"sync_s", est.sync_s}, {"verify_s", est.verify_s}};
        out.push_back(j);
        continue;
      }
      std::string delta_text = "-", est_text = "-";
      if (delta.known) {
        delta_text = std::to_string(delta.files_new + delta.files_changed + delta.entries_gone) +
                     " / " + HumanBytes(static_cast<double>(delta.bytes));
      } else if (role == "target" && !done) {
        delta_text = !pending.known ? "no capture"
                     : pending.applied
                         ? "applied"
                         : "new " + HumanBytes(static_cast<double>(pending.last_bytes_read));
      }
      if (est.known) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.1fs", est.seconds);
        est_text = buf;
      }
      const std::string name = role.empty() ? s->name : s->name + " (" + role + ")";
      std::printf("%-20s %4d  %-12s  %-19s  %12s  %14s\n", name.c_str(), s->wave,
                  PhaseName(st.phase), last ? FormatLocal(last).c_str() : "never",
                  delta_text.c_str(), est_text.c_str());
      if (!st.error.empty()) std::printf("  %s\n", st.error.c_str());
    }
  }
  if (g.json) PrintJson(out);
  return rc;
}

int RunCutover(const GlobalOptions& g, const MigrateFlags& f) {
  auto o = Open(g, f, true);
  if (!o) return kExitError;
  auto systems = Selected(o->plan, f, false);
  if (!systems.ok()) return Fail(systems.status());
  if (systems->size() != 1) return Fail(Status::InvalidArgument("cut over one system at a time"));
  const MigrationSystem& s = *systems->front();
  MigrationContext ctx = Context(g, *o, f, s.name);
  auto c = CutOverSystem(ctx, s, CutoverOptions{f.ignore_window});
  if (!c.ok()) return Fail(c.status());
  if (g.json) {
    auto st = o->states->Load(s.name);
    if (!st.ok()) return Fail(st.status());
    PrintJson(MigrationReportJson(o->plan, {{&s, *st}}, NowUnixNs())["systems"][0]);
  } else if (!g.quiet) {
    if (c->failed_step.empty()) {
      std::printf("%s: cut over; target verified identical; downtime %.1fs\n", s.name.c_str(),
                  c->downtime_s);
    } else {
      std::printf("%s: cutover FAILED at %s: %s; %s; downtime %.1fs\n", s.name.c_str(),
                  c->failed_step.c_str(), c->error.c_str(),
                  c->rolled_back             ? "rolled back at the source"
                  : s.hooks.rollback.empty() ? "no rollback hook to run"
                                             : "ROLLBACK FAILED too",
                  c->downtime_s);
    }
  }
  return c->failed_step.empty() ? kExitOk : kExitError;
}

int RunReport(const GlobalOptions& g, const MigrateFlags& f) {
  auto o = Open(g, f, false);
  if (!o) return kExitError;
  auto systems = Selected(o->plan, f, true);
  if (!systems.ok()) return Fail(systems.status());
  std::vector<SystemReport> reports;
  for (const MigrationSystem* s : *systems) {
    auto st = o->states->Load(s->name);
    if (!st.ok()) return Fail(st.status());
    reports.push_back({s, std::move(st).value()});
  }
  const nlohmann::json report = MigrationReportJson(o->plan, reports, NowUnixNs());
  if (!f.html.empty()) {
    Status s =
        WriteFileAtomically(f.html, MigrationReportHtml(report), ReplaceMode::kReplace, 0644);
    if (!s.ok()) return Fail(s);
  }
  if (g.json || f.html.empty()) PrintJson(report);
  return kExitOk;
}

}  // namespace

void AddMigrateCommand(CLI::App& app, GlobalOptions& g, Runner* run, bool agent) {
  auto* cmd = app.add_subcommand(
      "migrate", agent ? "move systems into the cloud by plan, through the vault: capture at the "
                         "source; apply, status, cutover, report at the cloud host"
                       : "move systems into the cloud by plan: sync, status, cutover, report");
  cmd->require_subcommand(1);
  auto f = std::make_shared<MigrateFlags>();
  f->agent = agent;
  if (const char* p = std::getenv("DR_MIGRATION_PLAN")) f->plan = p;
  cmd->add_option("--plan", f->plan, "the migration plan (YAML; env DR_MIGRATION_PLAN)");

  auto* plan = cmd->add_subcommand("plan", "check or show the plan");
  plan->require_subcommand(1);
  plan->add_subcommand("validate", "check the plan; every mistake names file, line and field")
      ->callback([&g, run, f] { *run = [&g, f] { return RunPlanValidate(*f, g); }; });
  plan->add_subcommand("show", "the waves and systems, with their sizes where known")
      ->callback([&g, run, f] { *run = [&g, f] { return RunPlanShow(*f, g); }; });

  auto add_hook_timeout = [f](CLI::App* c) {
    c->add_option("--hook-timeout", f->hook_timeout_s, "seconds a hook may run (default 600)")
        ->check(CLI::Range(1.0, 86400.0));
  };
  auto add_rounds = [f](CLI::App* c, const char* verb) {
    c->add_option("system", f->system, std::string("the system to ") + verb);
    c->add_option("--wave", f->wave, "every system of this wave");
    c->add_flag("--continuous", f->continuous, std::string("keep going until interrupted"));
    c->add_option("--interval", f->interval, "time between continuous rounds (default 5m)");
  };
  if (agent) {
    auto* capture = cmd->add_subcommand(
        "capture", "at the source host: send what changed in the system's sources to the vault");
    add_rounds(capture, "capture");
    capture->add_option("--final", f->final_token,
                        "the cutover's final capture: its $DR_CUTOVER_TOKEN (from the quiesce "
                        "hook)");
    capture->callback([&g, run, f] { *run = [&g, f] { return RunCapture(g, *f); }; });
    auto* apply = cmd->add_subcommand(
        "apply", "at the cloud host: apply the source agent's newest capture to the targets");
    add_rounds(apply, "apply");
    apply->callback([&g, run, f] { *run = [&g, f] { return RunApply(g, *f); }; });
  } else {
    auto* sync = cmd->add_subcommand(
        "sync", "capture the sources and apply what changed to the targets (the first sync: all)");
    add_rounds(sync, "sync");
    add_hook_timeout(sync);
    sync->callback([&g, run, f] { *run = [&g, f] { return RunSync(g, *f); }; });
  }

  auto* status = cmd->add_subcommand(
      "status", "per system: phase, last sync, what changed since, estimated cutover downtime");
  status->add_option("system", f->system, "only this system");
  status->add_option("--wave", f->wave, "only this wave");
  status->callback([&g, run, f] { *run = [&g, f] { return RunStatus(g, *f); }; });

  auto* cutover = cmd->add_subcommand(
      "cutover",
      "quiesce, final sync, verify bit for bit, start and health-check at the target; "
      "roll back at the source if a step fails");
  cutover->add_option("system", f->system, "the system to cut over")->required();
  cutover->add_flag("--ignore-window", f->ignore_window, "cut over outside the plan's window");
  add_hook_timeout(cutover);
  cutover->callback([&g, run, f] { *run = [&g, f] { return RunCutover(g, *f); }; });

  auto* report = cmd->add_subcommand(
      "report", "per system: data moved, syncs, downtime, verification (JSON; --html for a page)");
  report->add_option("--wave", f->wave, "only this wave");
  report->add_option("--html", f->html, "also write the report as a self-contained HTML page");
  report->callback([&g, run, f] { *run = [&g, f] { return RunReport(g, *f); }; });
}

}  // namespace dr::cli
