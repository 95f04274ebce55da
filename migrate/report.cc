#include "migrate/report.h"

#include <cstdio>

#include "core/html.h"
#include "core/timefmt.h"

namespace dr {

namespace {

std::string TimeOrEmpty(int64_t ns) { return ns ? FormatRfc3339Utc(ns) : ""; }

std::string Text(const nlohmann::json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_null()) return "";
  return j.dump();
}

std::string Seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", s);
  return buf;
}

}  // namespace

nlohmann::json MigrationReportJson(const MigrationPlan& plan,
                                   const std::vector<SystemReport>& systems, int64_t generated_ns) {
  nlohmann::json out = {{"migration", plan.name},
                        {"plan", plan.file},
                        {"repository", plan.repository},
                        {"generated", FormatRfc3339Utc(generated_ns)},
                        {"systems", nlohmann::json::array()}};
  for (const auto& [sys, st] : systems) {
    uint64_t added = 0, written = 0, read = 0;
    for (const auto& s : st.syncs)
      added += s.bytes_added, written += s.bytes_written, read += s.bytes_read;
    nlohmann::json j = {
        {"system", sys->name},
        {"department", sys->department},
        {"kind", sys->kind},
        {"cloud", sys->cloud},
        {"wave", sys->wave},
        {"phase", PhaseName(st.phase)},
        {"error", st.error},
        {"syncs", st.syncs.size()},
        {"bytes_read", read},
        {"bytes_moved", added},
        {"bytes_written", written},
        {"last_sync", st.syncs.empty() ? "" : TimeOrEmpty(st.syncs.back().finished_ns)},
        {"snapshot", st.applied_snapshot},
        {"block_snapshot", st.applied_block_snapshot}};
    if (st.cutover) {
      const CutoverRecord& c = *st.cutover;
      nlohmann::json steps = nlohmann::json::object();
      for (const auto& [step, s] : c.steps) steps[step] = s;
      j["cutover"] = {{"started", TimeOrEmpty(c.started_ns)},
                      {"finished", TimeOrEmpty(c.finished_ns)},
                      {"downtime_s", c.downtime_s},
                      {"verified", c.verified},
                      {"differences", c.differences},
                      {"failed_step", c.failed_step},
                      {"error", c.error},
                      {"rolled_back", c.rolled_back},
                      {"steps_s", steps}};
    }
    out["systems"].push_back(j);
  }
  return out;
}

std::string MigrationReportHtml(const nlohmann::json& r) {
  std::string h =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>Migration " +
      HtmlEscape(Text(r["migration"])) +
      "</title>\n<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
      "td,th{border:1px solid #999;padding:4px 8px;text-align:left}th{background:#eee}"
      ".ok{color:#070}.bad{color:#b00;font-weight:bold}</style></head><body>\n<h1>Migration " +
      HtmlEscape(Text(r["migration"])) + "</h1>\n<p>Plan " + HtmlEscape(Text(r["plan"])) +
      ", repository " + HtmlEscape(Text(r["repository"])) + ", report generated " +
      HtmlEscape(Text(r["generated"])) +
      ".</p>\n<table>\n<tr><th>System</th><th>Department</th><th>Cloud</th><th>Wave</th>"
      "<th>Phase</th><th>Syncs</th><th>Data moved</th><th>Written at target</th>"
      "<th>Downtime</th><th>Verification</th><th>Failed step</th></tr>\n";
  for (const auto& s : r["systems"]) {
    std::string downtime, verified, failed;
    if (s.contains("cutover")) {
      const auto& c = s["cutover"];
      downtime = Seconds(c["downtime_s"].get<double>());
      if (c["verified"].get<bool>()) {
        verified = "<span class=\"ok\">identical</span>";
      } else if (c["steps_s"].contains("verify")) {
        verified =
            "<span class=\"bad\">" + HtmlEscape(Text(c["differences"])) + " differences</span>";
      } else {
        verified = "not reached";
      }
      if (!c["failed_step"].get<std::string>().empty())
        failed = "<span class=\"bad\">" + HtmlEscape(Text(c["failed_step"])) +
                 "</span>: " + HtmlEscape(Text(c["error"])) +
                 (c["rolled_back"].get<bool>() ? " (rolled back)" : "");
    }
    h += "<tr><td>" + HtmlEscape(Text(s["system"])) + "</td><td>" +
         HtmlEscape(Text(s["department"])) + "</td><td>" + HtmlEscape(Text(s["cloud"])) +
         "</td><td>" + HtmlEscape(Text(s["wave"])) + "</td><td>" + HtmlEscape(Text(s["phase"])) +
         "</td><td>" + HtmlEscape(Text(s["syncs"])) + "</td><td>" +
         HtmlEscape(HumanBytes(s["bytes_moved"].get<double>())) + "</td><td>" +
         HtmlEscape(HumanBytes(s["bytes_written"].get<double>())) + "</td><td>" + downtime +
         "</td><td>" + verified + "</td><td>" + failed + "</td></tr>\n";
  }
  h += "</table>\n</body></html>\n";
  return h;
}

}  // namespace dr
