// drctl jobs: the job history `drctl run` keeps (policies/job_log.h).
#include <cstdio>

#include "core/timefmt.h"
#include "policies/job_log.h"
#include "policies/scheduler.h"
#include "tools/drctl/cli.h"

namespace dr::cli {

namespace {

struct JobsFlags {
  std::string state, policy;
  size_t limit = 20;
};

nlohmann::json RecordJson(const JobRecord& r) {
  return {{"policy", r.policy},
          {"source", r.source},
          {"start", FormatRfc3339Utc(r.start_ns)},
          {"end", FormatRfc3339Utc(r.end_ns)},
          {"duration_s", static_cast<double>(r.end_ns - r.start_ns) / 1e9},
          {"result", JobResultName(r.result)},
          {"attempt", r.attempt},
          {"bytes_read", r.bytes_read},
          {"bytes_new", r.bytes_new},
          {"snapshot", r.snapshot},
          {"error", r.error}};
}

void PrintTable(const std::vector<JobRecord>& records) {
  std::printf("%-19s  %8s  %-20s  %-20s  %-7s  %10s  %10s  %-8s  %s\n", "start", "duration",
              "policy", "source", "result", "read", "new", "snapshot", "error");
  for (const auto& r : records) {
    char dur[32];
    std::snprintf(dur, sizeof dur, "%.1fs", static_cast<double>(r.end_ns - r.start_ns) / 1e9);
    std::string result = JobResultName(r.result);
    if (r.attempt > 1) result += "#" + std::to_string(r.attempt);
    std::printf("%-19s  %8s  %-20s  %-20s  %-7s  %10s  %10s  %-8s  %s\n",
                FormatLocal(r.start_ns).c_str(), dur, r.policy.c_str(), r.source.c_str(),
                result.c_str(), HumanBytes(r.bytes_read).c_str(), HumanBytes(r.bytes_new).c_str(),
                r.snapshot.substr(0, 8).c_str(), r.error.c_str());
  }
}

}  // namespace

void AddJobsCommand(CLI::App& app, GlobalOptions& g, Runner* run) {
  auto* cmd = app.add_subcommand("jobs", "the history of policy runs (run), oldest first");
  auto f = std::make_shared<JobsFlags>();
  cmd->add_option("--state", f->state, "state directory of drctl run (same default as run)");
  cmd->add_option("--policy", f->policy, "only runs of this policy");
  cmd->add_option("--limit", f->limit, "the newest N runs (default 20; 0: all)");
  cmd->callback([&g, run, f] {
    *run = [&g, f] {
      const std::string state = f->state.empty() ? DefaultStateDir() : f->state;
      auto log = ReadJobLog(state, JobLogFilter{f->policy, f->limit});
      if (!log.ok()) return Fail(log.status());
      for (const auto& w : log->warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
      if (g.json) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& r : log->records) out.push_back(RecordJson(r));
        PrintJson(out);
      } else if (!g.quiet) {
        if (log->records.empty()) {
          std::printf("no runs recorded in %s\n", state.c_str());
        } else {
          PrintTable(log->records);
        }
      }
      return kExitOk;
    };
  });
}

}  // namespace dr::cli
