// drvault jobs: the backups this vault committed, oldest first, from its job
// log (STATE/jobs.jsonl, policies/job_log.h): one record per committed
// snapshot, with the agent that sent it. A backup that failed before its
// commit is not here; the agent's own log (`drctl jobs`) has it.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/timefmt.h"
#include "policies/job_log.h"
#include "tools/drvault/commands.h"

namespace dr::drvault {

namespace {

nlohmann::json RecordJson(const JobRecord& r) {
  return {{"agent", r.agent},
          {"policy", r.policy},
          {"source", r.source},
          {"start", FormatRfc3339Utc(r.start_ns)},
          {"end", FormatRfc3339Utc(r.end_ns)},
          {"duration_s", static_cast<double>(r.end_ns - r.start_ns) / 1e9},
          {"result", JobResultName(r.result)},
          {"bytes_read", r.bytes_read},
          {"bytes_new", r.bytes_new},
          {"snapshot", r.snapshot},
          {"error", r.error}};
}

// drctl jobs's columns, with the agent added.
void PrintTable(const std::vector<JobRecord>& records) {
  std::printf("%-19s  %8s  %-20s  %-20s  %-20s  %-7s  %10s  %10s  %-8s  %s\n", "START", "DURATION",
              "AGENT", "POLICY", "SOURCE", "RESULT", "READ", "NEW", "SNAPSHOT", "ERROR");
  for (const JobRecord& r : records) {
    char dur[32];
    std::snprintf(dur, sizeof dur, "%.1fs", static_cast<double>(r.end_ns - r.start_ns) / 1e9);
    std::printf("%-19s  %8s  %-20s  %-20s  %-20s  %-7s  %10s  %10s  %-8s  %s\n",
                FormatLocal(r.start_ns).c_str(), dur, r.agent.empty() ? "-" : r.agent.c_str(),
                r.policy.empty() ? "-" : r.policy.c_str(), r.source.c_str(),
                JobResultName(r.result), HumanBytes(r.bytes_read).c_str(),
                HumanBytes(r.bytes_new).c_str(), r.snapshot.substr(0, 8).c_str(), r.error.c_str());
  }
}

}  // namespace

void AddJobsCommand(CLI::App& app, Cli& cli) {
  static JobLogFilter filter{"", 20, ""};
  static bool json = false;
  auto* cmd = app.add_subcommand("jobs", "the backups committed at this vault, oldest first");
  cmd->add_option("--policy", filter.policy, "only backups of this policy");
  cmd->add_option("--agent", filter.agent, "only backups of this agent");
  cmd->add_option("--last", filter.limit, "the newest N backups (default 20; 0: all)");
  cmd->add_flag("--json", json, "print JSON");
  cli.WithConfig(cmd, [](const VaultConfig& c) {
    auto log = ReadJobLog(c.state_dir, filter);
    if (!log.ok()) return Fail(log.status());
    for (const auto& w : log->warnings) std::fprintf(stderr, "drvault: warning: %s\n", w.c_str());
    if (json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& r : log->records) out.push_back(RecordJson(r));
      std::printf("%s\n",
                  out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    } else if (log->records.empty()) {
      std::printf("no backups recorded at this vault\n");
    } else {
      PrintTable(log->records);
    }
    return kExitOk;
  });
}

}  // namespace dr::drvault
