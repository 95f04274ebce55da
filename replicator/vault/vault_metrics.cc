#include "replicator/vault/vault_metrics.h"

#include <sstream>

#include "core/timefmt.h"

namespace dr {

namespace {

// A label value as the text format wants it: backslash, double quote and
// newline escaped (source labels hold paths, which may hold anything).
std::string LabelValue(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string RpoLabels(const RpoGauge& g) {
  return "namespace=\"" + LabelValue(g.ns) + "\",policy=\"" + LabelValue(g.policy) +
         "\",source=\"" + LabelValue(g.source) + "\",agent=\"" + LabelValue(g.agent) +
         "\",site=\"" + LabelValue(g.site) + "\"";
}

}  // namespace

void VaultMetrics::SetLag(const std::string& nspace, const OffsiteLag& lag) {
  std::lock_guard l(mu_);
  lag_[nspace] = lag;
}

void VaultMetrics::CountSuspicious(const std::string& nspace, const std::string& policy) {
  std::lock_guard l(mu_);
  suspicious_[{nspace, policy}]++;
}

void VaultMetrics::SetRpo(std::vector<RpoGauge> rows) {
  std::lock_guard l(mu_);
  rpo_ = std::move(rows);
}

std::map<std::string, OffsiteLag> VaultMetrics::lags() const {
  std::lock_guard l(mu_);
  return lag_;
}

std::string VaultMetrics::Render() const {
  std::ostringstream o;
  auto metric = [&](const char* name, const char* type, const char* help, auto value) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n"
      << name << " " << value << "\n";
  };
  metric("drvault_received_bytes_total", "counter", "Blob bytes received from agents (compressed).",
         bytes_received.load());
  metric("drvault_received_raw_bytes_total", "counter",
         "Uncompressed size of the blobs received from agents.", raw_bytes_received.load());
  metric("drvault_received_blobs_total", "counter", "Blobs received from agents.",
         blobs_received.load());
  metric("drvault_dedup_queried_chunks_total", "counter", "Chunk ids agents asked about.",
         chunks_queried.load());
  metric("drvault_dedup_missing_chunks_total", "counter",
         "Chunk ids the vault lacked (the rest were deduplicated).", chunks_missing.load());
  const uint64_t q = chunks_queried.load();
  metric("drvault_dedup_ratio", "gauge", "Share of queried chunks the vault already had.",
         q ? 1.0 - static_cast<double>(chunks_missing.load()) / static_cast<double>(q) : 0.0);
  metric("drvault_snapshots_committed_total", "counter", "Snapshots committed durably.",
         snapshots_committed.load());
  metric("drvault_sessions", "gauge", "Agent sessions open now.", sessions_open.load());
  metric("drvault_sessions_total", "counter", "Agent sessions opened.", sessions_total.load());
  metric("drvault_refused_requests_total", "counter", "Requests refused for rights or namespace.",
         requests_refused.load());
  metric("drvault_bad_frames_total", "counter", "Malformed frames dropped.", bad_frames.load());
  metric("drvault_quarantined_objects_total", "counter",
         "Objects from the peer that failed verification and were kept aside.",
         objects_quarantined.load());
  metric("drvault_offsite_refilled_objects_total", "counter",
         "Objects the cursor counted as copied but the peer's listing lacked.",
         offsite_refilled.load());
  metric("drvault_offsite_resent_blobs_total", "counter",
         "Blobs a snapshot being replicated referenced that the peer no longer held.",
         offsite_resent_blobs.load());
  metric("drvault_prune_runs_total", "counter",
         "Scheduled prunes of a namespace's repository that finished.", prune_runs.load());
  metric("drvault_prune_failures_total", "counter", "Scheduled prunes that failed (logged).",
         prune_failures.load());
  metric("drvault_prune_deleted_bytes_total", "counter", "Pack bytes deleted by scheduled prunes.",
         prune_bytes_deleted.load());
  metric("drvault_change_measured_snapshots_total", "counter",
         "File snapshots whose change was weighed for ransomware's marks.",
         snapshots_measured.load());
  metric("drvault_change_watch_failures_total", "counter",
         "Snapshots whose change could not be weighed (logged).", change_watch_failures.load());
  std::lock_guard l(mu_);
  o << "# HELP drvault_suspicious_snapshots_total Snapshots whose change looked like ransomware "
       "(the last clean one was locked).\n# TYPE drvault_suspicious_snapshots_total counter\n";
  for (const auto& [key, n] : suspicious_) {
    o << "drvault_suspicious_snapshots_total{namespace=\"" << LabelValue(key.first)
      << "\",policy=\"" << LabelValue(key.second) << "\"} " << n << "\n";
  }
  if (!rpo_.empty()) {
    auto rpo = [&](const char* name, const char* help, auto get) {
      o << "# HELP " << name << " " << help << "\n# TYPE " << name << " gauge\n";
      for (const RpoGauge& g : rpo_) o << name << "{" << RpoLabels(g) << "} " << get(g) << "\n";
    };
    rpo("drvault_rpo_age_seconds",
        "Age of the newest recovery point of a policy source of an agent at a site (-1: none).",
        [](const RpoGauge& g) { return g.age_s; });
    rpo("drvault_rpo_breached",
        "1 when the newest recovery point is older than the objective, or there is none and "
        "an objective is set.",
        [](const RpoGauge& g) { return g.breached ? 1 : 0; });
    o << "# HELP drvault_rpo_state The RPO state (ok, late, breached, never) of each row.\n"
      << "# TYPE drvault_rpo_state gauge\n";
    for (const RpoGauge& g : rpo_)
      o << "drvault_rpo_state{" << RpoLabels(g) << ",state=\"" << g.state << "\"} 1\n";
  }
  if (lag_.empty()) return o.str();
  auto labelled = [&](const char* name, const char* type, const char* help, auto get) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
    for (const auto& [ns, lag] : lag_)
      o << name << "{namespace=\"" << ns << "\"} " << get(lag) << "\n";
  };
  labelled("drvault_offsite_lag_seconds", "gauge",
           "Age of the oldest snapshot not yet at the off-site vault.",
           [now = NowUnixNs()](const OffsiteLag& l) {
             return l.oldest_pending_ns ? static_cast<double>(now - l.oldest_pending_ns) / 1e9
                                        : 0.0;
           });
  labelled("drvault_offsite_lag_bytes", "gauge", "Bytes not yet at the off-site vault.",
           [](const OffsiteLag& l) { return l.bytes; });
  labelled("drvault_offsite_lag_snapshots", "gauge", "Snapshots not yet at the off-site vault.",
           [](const OffsiteLag& l) { return l.snapshots; });
  labelled("drvault_offsite_sent_bytes_total", "counter", "Bytes copied to the off-site vault.",
           [](const OffsiteLag& l) { return l.bytes_sent; });
  labelled("drvault_offsite_peer_up", "gauge", "1 when the off-site vault answered last time.",
           [](const OffsiteLag& l) { return l.peer_reachable ? 1 : 0; });
  return o.str();
}

}  // namespace dr
