// drctl drill: restore a recovery point into a sandbox, verify it, run the
// operator's checks, measure RTO and RPO, write the JSON and HTML report, and
// record the drill in the repository (hash-chained) and in the catalog.
// drctl drill history: list the drills and verify the chain.
#include <cstdio>
#include <fstream>
#include <map>

#include "catalog/drill_record.h"
#include "catalog/index/catalog.h"
#include "core/timefmt.h"
#include "policies/duration.h"
#include "restore/drill/drill.h"
#include "restore/drill/drill_report.h"
#include "tools/drctl/cli.h"

namespace dr::cli {
namespace {

struct DrillFlags {
  std::string snapshot = "latest", at, host, policy, sandbox, site, report, catalog;
  std::string rto, rpo, check_timeout = "10m";
  std::vector<std::string> includes, checks;
  bool keep = false;
};

std::string SiteOf(const GlobalOptions& g, const std::string& site) {
  return site.empty() ? RepositoryUrlForDisplay(g.repo) : site;
}

Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return Status::IOError("cannot write the report " + path);
  return Status::OK();
}

std::string User() {
  const char* u = std::getenv("SUDO_USER");
  if (u == nullptr || *u == '\0') u = std::getenv("USER");
  return u != nullptr ? u : "";
}

// The recovery point: by id, latest or --at, among the snapshots of --host
// and --policy when given.
Result<Snapshot> ChooseRecoveryPoint(Repository& repo, const DrillFlags& f) {
  if (f.policy.empty()) return ResolveSnapshot(repo, f.snapshot, f.at, f.host);
  ASSIGN_OR_RETURN(auto all, repo.ListSnapshots());
  std::vector<Snapshot> of_policy;
  for (Snapshot& s : OfHost(std::move(all), f.host)) {
    if (s.policy == f.policy) of_policy.push_back(std::move(s));
  }
  if (of_policy.empty()) {
    return Status::NotFound("no snapshot of policy " + f.policy +
                            (f.host.empty() ? "" : " and host " + f.host) + " in " +
                            repo.store()->Url());
  }
  if (f.at.empty()) return PickSnapshot(of_policy, f.snapshot, repo.store()->Url());
  ASSIGN_OR_RETURN(int64_t at, ParseTimeArg(f.at));
  const Snapshot* best = nullptr;
  for (const Snapshot& s : of_policy) {
    if (s.time_ns <= at) best = &s;
  }
  if (best == nullptr) {
    return Status::NotFound("no snapshot of policy " + f.policy + " at or before " + f.at);
  }
  return *best;
}

}  // namespace

Result<DrillRun> RunAndRecordDrill(Repository& repo, const Snapshot& snapshot,
                                   const DrillOptions& o, const std::string& catalog_file,
                                   const std::string& report_prefix) {
  ASSIGN_OR_RETURN(DrillReport report, RunDrill(repo, snapshot, o));
  DrillRun run;
  run.json = DrillReportJson(report);
  // The record: in the repository first (the history of record), then the
  // catalog's anchor of it.
  // An encrypted repository keeps the report (paths, hosts, check output)
  // sealed; the chain (seq, prev, digests) stays checkable without the key.
  nlohmann::json stored = run.json;
  if (const Keyring* keys = repo.keyring()) {
    stored = {{"sealed", ToHex(keys->SealObject("drill-report", run.json.dump()))}};
  }
  auto record = AppendDrillRecord(repo.store(), stored);
  if (!record.ok()) {
    run.warnings.push_back("drill not recorded in the repository: " + record.status().message());
  } else {
    run.record = *record;
    auto catalog = OpenCatalogFile(catalog_file);
    Status s = catalog.ok()
                   ? (*catalog)->RecordDrill(
                         o.site, o.repository, repo.config().repo_id,
                         DrillEntry{o.site, record->seq, record->digest, report.drill_id,
                                    report.started_ns, report.passed, report.snapshot_id,
                                    run.json.dump(-1, ' ', false,
                                                  nlohmann::json::error_handler_t::replace)})
                   : catalog.status();
    if (!s.ok()) run.warnings.push_back("drill not recorded in the catalog: " + s.message());
  }
  run.report_prefix =
      report_prefix.empty() ? "drill-" + report.drill_id.substr(0, 8) : report_prefix;
  for (const auto& [path, text] :
       {std::pair{run.report_prefix + ".json",
                  run.json.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"},
        std::pair{run.report_prefix + ".html", DrillReportHtml(report)}}) {
    if (Status s = WriteText(path, text); !s.ok()) run.warnings.push_back(s.message());
  }
  run.report = std::move(report);
  return run;
}

namespace {

int RunDrillCommand(const GlobalOptions& g, const DrillFlags& f) {
  DrillOptions o;
  o.sandbox = f.sandbox;
  o.include_paths = f.includes;
  o.checks = f.checks;
  o.keep_sandbox = f.keep;
  o.site = SiteOf(g, f.site);
  o.repository = RepositoryUrlForDisplay(g.repo);
  o.operator_name = User();
  for (auto [text, out, name] : {std::tuple{&f.rto, &o.rto_objective_s, "--rto"},
                                 std::tuple{&f.rpo, &o.rpo_objective_s, "--rpo"}}) {
    if (text->empty()) continue;
    auto d = ParseDuration(*text);
    if (!d.ok())
      return Fail(Status::InvalidArgument(std::string(name) + ": " + d.status().message()));
    *out = *d;
  }
  auto timeout = ParseDuration(f.check_timeout);
  if (!timeout.ok()) {
    return Fail(Status::InvalidArgument("--check-timeout: " + timeout.status().message()));
  }
  o.check_timeout_s = *timeout;

  auto repo = OpenRepo(g, "restore");
  if (!repo) return kExitError;
  auto snapshot = ChooseRecoveryPoint(*repo, f);
  if (!snapshot.ok()) return Fail(snapshot.status());
  const std::string prefix = f.report.empty() ? "" : f.report;
  auto run = RunAndRecordDrill(*repo, *snapshot, o, f.catalog, prefix);
  if (!run.ok()) return Fail(run.status());
  const DrillReport* report = &run->report;
  const nlohmann::json& json = run->json;
  const std::vector<std::string>& warnings = run->warnings;
  const auto& record = run->record;
  for (const auto& w : warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());

  if (g.json) {
    PrintJson(json);
  } else if (!g.quiet) {
    std::printf("drill %s: %s\n", report->drill_id.substr(0, 8).c_str(),
                report->passed ? "PASSED" : "FAILED");
    for (const auto& v : report->verdict) std::printf("  %s\n", v.c_str());
    for (const auto& p : report->problems) std::printf("  %s\n", p.c_str());
    std::printf("  recovery point %s of %s (%s), site %s\n",
                report->snapshot_id.substr(0, 8).c_str(),
                FormatLocal(report->snapshot_time_ns).c_str(), report->snapshot_host.c_str(),
                report->site.c_str());
    std::printf("  RTO %.2f s", report->rto_s);
    const char* sep = " (";
    for (const auto& p : report->phases) {
      std::printf("%s%s %.2f s", sep, p.name.c_str(), p.seconds);
      sep = ", ";
    }
    std::printf("%s; RPO %lld s\n", report->phases.empty() ? "" : ")",
                static_cast<long long>(report->rpo_s));
    for (const auto& c : report->checks) {
      std::printf("  check %s (exit %d, %.2f s): %s\n", c.exit_code == 0 ? "passed" : "FAILED",
                  c.exit_code, c.seconds, c.command.c_str());
    }
    if (record)
      std::printf("  recorded as drill record %llu\n",
                  static_cast<unsigned long long>(record->seq));
    std::printf("  report: %s.json, %s.html\n", run->report_prefix.c_str(),
                run->report_prefix.c_str());
  }
  return report->passed ? kExitOk : kExitError;
}

int RunHistoryCommand(const GlobalOptions& g, const DrillFlags& f) {
  auto repo = OpenRepo(g);
  if (!repo) return kExitError;
  auto history = ReadDrillHistory(repo->store());
  if (!history.ok()) return Fail(history.status());
  std::vector<std::string> problems = history->problems;
  // The catalog's anchors: every drill it recorded must still be there, unchanged.
  const std::string site = SiteOf(g, f.site);
  auto catalog = OpenCatalogFile(f.catalog);
  int anchors = 0;
  auto drills =
      catalog.ok() ? (*catalog)->Drills(site) : Result<std::vector<DrillEntry>>(catalog.status());
  if (!drills.ok()) {
    // Without its anchors the newest records cannot be vouched for.
    problems.push_back("the catalog cannot be read, so the newest records are unchecked: " +
                       drills.status().message());
  } else {
    std::map<uint64_t, std::string> stored;
    for (const auto& r : history->records) stored[r.seq] = r.digest;
    for (const DrillEntry& d : *drills) {
      ++anchors;
      auto it = stored.find(d.seq);
      if (it == stored.end()) {
        problems.push_back("record " + std::to_string(d.seq) +
                           " is missing (the catalog recorded drill " + d.drill_id.substr(0, 8) +
                           ")");
      } else if (it->second != d.digest) {
        problems.push_back("record " + std::to_string(d.seq) +
                           " differs from what the catalog recorded (edited or replaced)");
      }
    }
  }
  if (g.json) {
    nlohmann::json records = nlohmann::json::array();
    for (const auto& r : history->records) {
      records.push_back(
          {{"seq", r.seq}, {"digest", r.digest}, {"prev", r.prev}, {"report", r.report}});
    }
    PrintJson({{"records", records},
               {"problems", problems},
               {"catalog_anchors", anchors},
               {"intact", problems.empty()}});
  } else {
    std::printf("%5s  %-8s  %-20s  %-8s  %-6s  %9s  %9s  %s\n", "#", "drill", "started", "snapshot",
                "result", "RTO", "RPO", "site");
    for (const auto& r : history->records) {
      const auto& j = r.report;
      if (!j.is_object()) {
        std::printf("%5llu  (unreadable)\n", static_cast<unsigned long long>(r.seq));
        continue;
      }
      try {
        char rto[32];
        std::snprintf(rto, sizeof rto, "%.1fs", j.value("rto_s", 0.0));
        std::printf(
            "%5llu  %-8s  %-20s  %-8s  %-6s  %9s  %8llds  %s\n",
            static_cast<unsigned long long>(r.seq), j.value("drill_id", "").substr(0, 8).c_str(),
            j.value("started", "").substr(0, 19).c_str(),
            j.contains("recovery_point")
                ? j["recovery_point"].value("snapshot", "").substr(0, 8).c_str()
                : "",
            j.value("passed", false) ? "passed" : "FAILED", rto,
            static_cast<long long>(j.value("rpo_s", int64_t{0})), j.value("site", "").c_str());
      } catch (const nlohmann::json::exception&) {
        std::printf("%5llu  (unreadable)\n", static_cast<unsigned long long>(r.seq));
      }
    }
    if (problems.empty()) {
      std::printf("chain intact: %zu records, %d of them anchored in the catalog\n",
                  history->records.size(), anchors);
      if (anchors == 0 && !history->records.empty()) {
        std::printf(
            "note: this catalog holds no anchor for site %s: the newest record is "
            "vouched for by nothing (sync the site, or name it with --site as the drills "
            "did)\n",
            site.c_str());
      }
    } else {
      for (const auto& p : problems) std::printf("PROBLEM: %s\n", p.c_str());
    }
  }
  return problems.empty() ? kExitOk : kExitError;
}

}  // namespace

void AddDrillCommand(CLI::App& app, GlobalOptions& g, Runner* run) {
  auto* cmd = app.add_subcommand(
      "drill", "restore a recovery point into a sandbox, verify it, run checks, report RTO/RPO");
  auto f = std::make_shared<DrillFlags>();
  cmd->add_option("SNAPSHOT", f->snapshot, "id, id prefix or latest (default)");
  cmd->add_option("--at", f->at, "the recovery point as of this time");
  cmd->add_option("--host", f->host, "only snapshots of this host");
  cmd->add_option("--policy", f->policy, "only snapshots taken by this policy");
  cmd->add_option("--sandbox", f->sandbox, "new or empty directory to restore into");
  cmd->add_option("-i,--include", f->includes, "restore only this path (repeatable)");
  cmd->add_option("--check", f->checks,
                  "shell command run in the sandbox after the verify; DR_SANDBOX, DR_SNAPSHOT and "
                  "DR_IMAGE are set; non-zero fails the drill (repeatable)");
  cmd->add_option("--check-timeout", f->check_timeout, "each check's limit (default 10m)");
  cmd->add_option("--rto", f->rto, "recovery time objective, e.g. 4h");
  cmd->add_option("--rpo", f->rpo, "recovery point objective, e.g. 1h");
  cmd->add_option("--site", f->site, "this repository's name in reports and the catalog");
  cmd->add_option("--report", f->report,
                  "write the report to PREFIX.json and PREFIX.html (default drill-<id>)");
  cmd->add_option("--catalog", f->catalog, "the catalog file (env DR_CATALOG)");
  cmd->add_flag("--keep", f->keep, "keep the sandbox (it is removed by default)");
  auto* history = cmd->add_subcommand("history", "list the drills and verify their hash chain");
  history->add_option("--site", f->site, "this repository's name in the catalog");
  history->add_option("--catalog", f->catalog, "the catalog file (env DR_CATALOG)");
  history->callback([&g, run, f] { *run = [&g, f] { return RunHistoryCommand(g, *f); }; });
  cmd->callback([&g, run, f, cmd] {
    if (cmd->got_subcommand("history")) return;
    *run = [&g, f] {
      if (f->sandbox.empty()) {
        return Fail(Status::InvalidArgument("drill: --sandbox DIR is required"));
      }
      return RunDrillCommand(g, *f);
    };
  });
}

}  // namespace dr::cli
