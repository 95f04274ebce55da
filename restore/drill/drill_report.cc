#include "restore/drill/drill_report.h"

#include <algorithm>
#include <cstdio>

#include "core/html.h"
#include "core/timefmt.h"

namespace dr {
namespace {

std::string Seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f s", s);
  return buf;
}

std::string Row(const std::string& name, const std::string& value) {
  return "<tr><th>" + HtmlEscape(name) + "</th><td>" + HtmlEscape(value) + "</td></tr>\n";
}

std::string Objective(const std::optional<int64_t>& objective) {
  return objective ? std::to_string(*objective) + " s" : "none set";
}

// A horizontal bar per phase, widths in proportion to the RTO.
std::string PhaseChart(const DrillReport& r) {
  const double total = std::max(r.rto_s, 1e-9);
  const int width = 640, bar = 22, label = 90;
  std::string svg = "<svg width='" + std::to_string(width + label + 90) + "' height='" +
                    std::to_string((bar + 6) * static_cast<int>(r.phases.size()) + 4) +
                    "' role='img' aria-label='time per phase'>\n";
  int y = 2;
  for (const DrillPhase& p : r.phases) {
    const int w = std::max(1, static_cast<int>(width * p.seconds / total));
    svg += "<text x='0' y='" + std::to_string(y + 16) + "'>" + HtmlEscape(p.name) + "</text>";
    svg += "<rect x='" + std::to_string(label) + "' y='" + std::to_string(y) + "' width='" +
           std::to_string(w) + "' height='" + std::to_string(bar) + "' fill='#3b6ea5'/>";
    svg += "<text x='" + std::to_string(label + w + 6) + "' y='" + std::to_string(y + 16) + "'>" +
           Seconds(p.seconds) + "</text>\n";
    y += bar + 6;
  }
  return svg + "</svg>\n";
}

}  // namespace

nlohmann::json DrillReportJson(const DrillReport& r) {
  nlohmann::json phases = nlohmann::json::array();
  for (const DrillPhase& p : r.phases) phases.push_back({{"name", p.name}, {"seconds", p.seconds}});
  nlohmann::json checks = nlohmann::json::array();
  for (const DrillCheckResult& c : r.checks) {
    checks.push_back({{"command", c.command},
                      {"exit_code", c.exit_code},
                      {"timed_out", c.timed_out},
                      {"seconds", c.seconds},
                      {"output", c.output}});
  }
  auto objective = [](const std::optional<int64_t>& o) {
    return o ? nlohmann::json(*o) : nlohmann::json(nullptr);
  };
  return {{"drill_id", r.drill_id},
          {"started", FormatRfc3339Utc(r.started_ns)},
          {"finished", FormatRfc3339Utc(r.finished_ns)},
          {"passed", r.passed},
          {"verdict", r.verdict},
          {"site", r.site},
          {"repository", r.repository},
          {"operator", r.operator_name},
          {"drill_host", r.host_name},
          {"recovery_point",
           {{"snapshot", r.snapshot_id},
            {"time", FormatRfc3339Utc(r.snapshot_time_ns)},
            {"host", r.snapshot_host},
            {"kind", r.kind},
            {"policy", r.policy},
            {"paths", r.paths},
            {"include", r.include_paths}}},
          {"sandbox", {{"path", r.sandbox}, {"image", r.image}, {"kept", r.sandbox_kept}}},
          {"restored",
           {{"files", r.files},
            {"blocks", r.blocks},
            {"bytes", r.bytes},
            {"entries_verified", r.entries_verified},
            {"bytes_verified", r.bytes_verified}}},
          {"problems", r.problems},
          {"problem_count", r.problem_count},
          {"checks", checks},
          {"phases", phases},
          {"rto_s", r.rto_s},
          {"rpo_s", r.rpo_s},
          {"rto_objective_s", objective(r.rto_objective_s)},
          {"rpo_objective_s", objective(r.rpo_objective_s)}};
}

std::string DrillReportHtml(const DrillReport& r) {
  std::string h =
      "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>\n<title>Recovery drill " +
      HtmlEscape(r.drill_id.substr(0, 8)) + (r.passed ? " passed" : " FAILED") +
      "</title>\n<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}"
      "table{border-collapse:collapse;margin:1em 0}th,td{text-align:left;padding:.25em .8em;"
      "border-bottom:1px solid #ddd;vertical-align:top}pre{background:#f4f4f4;padding:.6em;"
      "overflow:auto;max-height:20em}.pass{color:#176f2c}.fail{color:#b00020}"
      "svg text{font:13px sans-serif}</style></head><body>\n";
  h += "<h1>Recovery drill: <span class='" +
       std::string(r.passed ? "pass'>PASSED" : "fail'>FAILED") + "</span></h1>\n<ul>";
  for (const std::string& v : r.verdict) h += "<li>" + HtmlEscape(v) + "</li>";
  h += "</ul>\n<h2>Recovery point</h2>\n<table>\n";
  h += Row("Snapshot", r.snapshot_id) + Row("Taken", FormatRfc3339Utc(r.snapshot_time_ns)) +
       Row("Host", r.snapshot_host) + Row("Kind", r.kind) + Row("Policy", r.policy);
  std::string paths;
  for (const auto& p : r.paths) paths += (paths.empty() ? "" : ", ") + p;
  h += Row("Paths", paths);
  if (!r.include_paths.empty()) {
    std::string inc;
    for (const auto& p : r.include_paths) inc += (inc.empty() ? "" : ", ") + p;
    h += Row("Restored only", inc);
  }
  h += Row("Site", r.site) + Row("Repository", r.repository) + "</table>\n";
  h += "<h2>Objectives</h2>\n<table>\n<tr><th></th><th>measured</th><th>objective</th></tr>\n";
  h += "<tr><th>RTO (start to verified and checked)</th><td>" + Seconds(r.rto_s) + "</td><td>" +
       Objective(r.rto_objective_s) + "</td></tr>\n";
  h += "<tr><th>RPO (age of the recovery point)</th><td>" + std::to_string(r.rpo_s) +
       " s</td><td>" + Objective(r.rpo_objective_s) + "</td></tr>\n</table>\n";
  h += "<h2>Time per phase</h2>\n" + PhaseChart(r);
  h += "<p>fetch and write share the restore's wall time in the proportion the restore threads "
       "were busy with each.</p>\n";
  h += "<h2>What came back</h2>\n<table>\n";
  h += Row("Files", std::to_string(r.files)) + Row("Blocks", std::to_string(r.blocks)) +
       Row("Bytes",
           std::to_string(r.bytes) + " (" + HumanBytes(static_cast<double>(r.bytes)) + ")") +
       Row("Verified entries or blocks", std::to_string(r.entries_verified)) +
       Row("Verified bytes", std::to_string(r.bytes_verified)) +
       Row("Problems", std::to_string(r.problem_count)) + "</table>\n";
  if (!r.problems.empty()) {
    h += "<pre>";
    for (const auto& p : r.problems) h += HtmlEscape(p) + "\n";
    h += "</pre>\n";
  }
  h += "<h2>Checks</h2>\n";
  if (r.checks.empty()) h += "<p>No checks were named.</p>\n";
  for (const DrillCheckResult& c : r.checks) {
    h += "<h3 class='" + std::string(c.exit_code == 0 ? "pass" : "fail") + "'>" +
         (c.exit_code == 0 ? "passed" : "FAILED") + ": <code>" + HtmlEscape(c.command) +
         "</code></h3>\n";
    h += "<p>exit " + std::to_string(c.exit_code) + (c.timed_out ? " (timed out)" : "") + ", " +
         Seconds(c.seconds) + "</p>\n<pre>" + HtmlEscape(c.output) + "</pre>\n";
  }
  h += "<h2>Drill</h2>\n<table>\n" + Row("Drill id", r.drill_id) +
       Row("Started", FormatRfc3339Utc(r.started_ns)) +
       Row("Finished", FormatRfc3339Utc(r.finished_ns)) + Row("Operator", r.operator_name) +
       Row("Run on", r.host_name) +
       Row("Sandbox", r.sandbox + (r.sandbox_kept ? " (kept)" : " (removed)")) +
       "</table>\n</body></html>\n";
  return h;
}

}  // namespace dr
