// VaultMetrics: the counters a vault exposes in the Prometheus text format
// (GET /metrics on the `metrics:` endpoint). Updated from the vault's loop,
// the off-site replicator and the RPO monitor; read by the HTTP responder.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace dr {

struct OffsiteLag {
  int64_t oldest_pending_ns = 0;  // time of the oldest snapshot not yet off-site; 0: none
  uint64_t bytes = 0;             // bytes of objects not yet off-site
  uint64_t snapshots = 0;         // snapshots not yet off-site
  uint64_t bytes_sent = 0;        // copied so far by this process
  bool peer_reachable = true;
};

// One policy source of one agent at one site, as the RPO monitor last saw it
// (vault_rpo.h).
struct RpoGauge {
  std::string ns, policy, source, agent, site;
  std::string state;      // "ok", "late", "breached" or "never"
  int64_t age_s = -1;     // of the newest recovery point; -1: none
  bool breached = false;  // breached, or never with an objective
};

struct VaultMetrics {
  std::atomic<uint64_t> bytes_received{0};  // blob bytes (stored form)
  std::atomic<uint64_t> raw_bytes_received{0};
  std::atomic<uint64_t> blobs_received{0};
  std::atomic<uint64_t> chunks_queried{0};
  std::atomic<uint64_t> chunks_missing{0};
  std::atomic<uint64_t> snapshots_committed{0};
  std::atomic<uint64_t> sessions_open{0};
  std::atomic<uint64_t> sessions_total{0};
  std::atomic<uint64_t> requests_refused{0};  // rights or namespace violations
  std::atomic<uint64_t> bad_frames{0};
  std::atomic<uint64_t> objects_quarantined{0};  // peer objects that failed verification
  std::atomic<uint64_t> offsite_refilled{0};     // objects found missing at the peer
  std::atomic<uint64_t> offsite_resent_blobs{0};
  std::atomic<uint64_t> prune_runs{0};  // scheduled prunes, one per namespace (vault_prune.h)
  std::atomic<uint64_t> prune_failures{0};
  std::atomic<uint64_t> prune_bytes_deleted{0};  // blobs a snapshot needed that the peer lacked

  std::atomic<uint64_t> snapshots_measured{0};  // change signals weighed (change_watch.h)
  std::atomic<uint64_t> change_watch_failures{0};

  // A snapshot of `policy` in `nspace` whose change looked like ransomware.
  void CountSuspicious(const std::string& nspace, const std::string& policy);
  void SetLag(const std::string& nspace, const OffsiteLag& lag);
  std::map<std::string, OffsiteLag> lags() const;
  // Replaces every RPO row (rows of removed policies disappear).
  void SetRpo(std::vector<RpoGauge> rows);
  // The Prometheus text exposition of everything above.
  std::string Render() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, OffsiteLag> lag_;                               // GUARDED_BY(mu_)
  std::vector<RpoGauge> rpo_;                                           // GUARDED_BY(mu_)
  std::map<std::pair<std::string, std::string>, uint64_t> suspicious_;  // GUARDED_BY(mu_)
};

}  // namespace dr
