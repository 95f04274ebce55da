// drctl rpo: whether each policy source of this host meets its recovery
// point objective, judged from the repository's snapshots (policies/rpo.h).
#include <cstdio>

#include "core/timefmt.h"
#include "policies/duration.h"
#include "policies/rpo.h"
#include "policies/scheduler.h"
#include "policies/snapshot_groups.h"
#include "replicator/capture/backup.h"
#include "tools/drctl/cli.h"

namespace dr::cli {

namespace {

struct RpoFlags {
  std::string policies, host;
};

struct Row {
  std::string policy, source;
  std::optional<int64_t> newest_ns;
  int64_t rpo_s = 0;
  RpoStatus status;
};

void PrintRpoTable(const std::vector<Row>& rows) {
  std::printf("%-24s  %-28s  %-19s  %10s  %9s  %s\n", "policy", "source", "newest", "age",
              "objective", "state");
  for (const auto& r : rows) {
    std::printf("%-24s  %-28s  %-19s  %10s  %9s  %s\n", r.policy.c_str(), r.source.c_str(),
                r.newest_ns ? FormatLocal(*r.newest_ns).c_str() : "-",
                r.status.age_s >= 0 ? FormatDuration(r.status.age_s).c_str() : "-",
                r.rpo_s ? FormatDuration(r.rpo_s).c_str() : "-", RpoStateName(r.status.state));
  }
}

}  // namespace

void AddRpoCommand(CLI::App& app, GlobalOptions& g, Runner* run) {
  auto* cmd = app.add_subcommand(
      "rpo",
      "show whether each policy source meets its recovery point objective (exit 1 if one "
      "is breached)");
  auto f = std::make_shared<RpoFlags>();
  cmd->add_option("--policies", f->policies, "policy directory or file (env DR_POLICIES)")
      ->envname("DR_POLICIES");
  cmd->add_option("--host", f->host, "the host whose snapshots count (default: this host)");
  cmd->callback([&g, run, f] {
    *run = [&g, f] {
      if (f->policies.empty())
        return Fail(Status::InvalidArgument("no --policies DIR given (env DR_POLICIES)"));
      auto load = LoadPolicyDir(f->policies);
      if (!load.ok()) return Fail(load.status());
      for (const auto& e : load->errors) std::fprintf(stderr, "policy error: %s\n", e.c_str());
      auto repo = OpenRepo(g);
      if (!repo) return kExitError;
      auto all = repo->ListSnapshots();
      if (!all.ok()) return Fail(all.status());
      const std::string host = f->host.empty() ? LocalHostName() : f->host;
      const int64_t now_s = NowUnixNs() / 1000000000;
      std::vector<Row> rows;
      bool breached = false;
      for (const Policy& p : load->policies) {
        if (!p.AppliesTo(host)) continue;
        for (const PolicySource& src : p.Sources()) {
          Row r{p.name,
                src.Label(),
                NewestRecoveryPoint(*all, GroupKeyOf(p, src, host)),
                p.rpo_s,
                {}};
          const auto expected =
              LastExpectedSlot(p.schedule, JitterKey(JobKey(p, src), host), now_s);
          r.status = EvaluateRpo(r.newest_ns, r.rpo_s, expected, now_s);
          breached = breached || r.status.state == RpoState::kBreached;
          rows.push_back(std::move(r));
        }
      }
      if (g.json) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& r : rows) {
          out.push_back({{"policy", r.policy},
                         {"source", r.source},
                         {"newest", r.newest_ns ? FormatRfc3339Utc(*r.newest_ns) : ""},
                         {"age_s", r.status.age_s},
                         {"rpo_s", r.rpo_s},
                         {"state", RpoStateName(r.status.state)}});
        }
        PrintJson(out);
      } else if (!g.quiet) {
        if (rows.empty()) {
          std::printf("no policies apply to host %s\n", host.c_str());
        } else {
          PrintRpoTable(rows);
        }
      }
      return breached || !load->errors.empty() ? kExitError : kExitOk;
    };
  });
}

}  // namespace dr::cli
