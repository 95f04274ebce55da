// drvault status: whether each policy source of each agent meets its
// recovery point objective at each site (replicator/vault/vault_rpo.h),
// judged from the repositories themselves, so it works whether or not the
// vault is running. --last-seen shows instead what the running vault's
// monitor last saw (STATE/rpo.json).
//
// As `drctl rpo`: exit 1 when a row is breached or something could not be
// read (a bad policy file, an unreadable namespace), else 0.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/env/file_io.h"
#include "core/timefmt.h"
#include "policies/duration.h"
#include "replicator/vault/vault_rpo.h"
#include "tools/drvault/commands.h"

namespace dr::drvault {

namespace {

// drctl rpo's columns, with the namespace, agent and site added.
void PrintTable(const std::vector<RpoRow>& rows) {
  std::printf("%-12s  %-24s  %-28s  %-20s  %-9s  %-8s  %-19s  %10s  %9s\n", "NAMESPACE", "POLICY",
              "SOURCE", "AGENT", "SITE", "STATE", "NEWEST", "AGE", "RPO");
  for (const RpoRow& r : rows) {
    std::printf("%-12s  %-24s  %-28s  %-20s  %-9s  %-8s  %-19s  %10s  %9s\n", r.ns.c_str(),
                r.policy.c_str(), r.source.c_str(), r.agent.c_str(), r.site.c_str(),
                RpoStateName(r.status.state), r.newest_ns ? FormatLocal(*r.newest_ns).c_str() : "-",
                r.status.age_s >= 0 ? FormatDuration(r.status.age_s).c_str() : "-",
                r.rpo_s ? FormatDuration(r.rpo_s).c_str() : "-");
  }
}

nlohmann::json RowsJson(const std::vector<RpoRow>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const RpoRow& r : rows) {
    out.push_back({{"namespace", r.ns},
                   {"policy", r.policy},
                   {"source", r.source},
                   {"agent", r.agent},
                   {"site", r.site},
                   {"state", RpoStateName(r.status.state)},
                   {"newest", r.newest_ns ? FormatRfc3339Utc(*r.newest_ns) : ""},
                   {"age_s", r.status.age_s},
                   {"rpo_s", r.rpo_s}});
  }
  return out;
}

}  // namespace

void AddStatusCommand(CLI::App& app, Cli& cli) {
  static bool json = false, last_seen = false;
  auto* cmd = app.add_subcommand(
      "status",
      "show whether each policy source meets its recovery point objective at each site (exit 1 "
      "if one is breached)");
  cmd->add_flag("--json", json, "print JSON");
  cmd->add_flag("--last-seen", last_seen,
                "show what the running vault last evaluated (STATE/rpo.json) instead");
  cli.WithConfig(cmd, [](const VaultConfig& c) {
    std::vector<RpoRow> rows;
    bool trouble = false;
    if (last_seen) {
      auto text = ReadWholeFile(RpoStatePath(c));
      if (!text.ok()) {
        if (!text.status().IsNotFound()) return Fail(text.status());
        return Fail(Status::NotFound("the vault has not evaluated the RPO yet (no " +
                                     RpoStatePath(c) + ")"));
      }
      int64_t at = 0;
      auto decoded = DecodeRpoRows(*text, &at);
      if (!decoded.ok()) return Fail(decoded.status().WithContext(RpoStatePath(c)));
      rows = std::move(decoded).value();
      if (!json) std::printf("as the vault saw it at %s\n", FormatLocal(at).c_str());
    } else {
      VaultRpoIssues issues;
      auto evaluated = EvaluateVaultRpo(c, NowUnixNs(), &issues);
      if (!evaluated.ok()) return Fail(evaluated.status());
      rows = std::move(evaluated).value();
      for (const auto& e : issues.policy_errors)
        std::fprintf(stderr, "drvault: policy error: %s\n", e.c_str());
      for (const auto& [ns, why] : issues.namespaces)
        std::fprintf(stderr, "drvault: namespace %s: %s\n", ns.c_str(), why.c_str());
      trouble = !issues.policy_errors.empty() || !issues.namespaces.empty();
    }
    bool breached = false;
    for (const RpoRow& r : rows) breached = breached || r.status.state == RpoState::kBreached;
    if (json) {
      std::printf(
          "%s\n",
          RowsJson(rows).dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    } else if (rows.empty()) {
      std::printf("no policies applied at this vault\n");
    } else {
      PrintTable(rows);
    }
    return breached || trouble ? kExitError : kExitOk;
  });
}

}  // namespace dr::drvault
