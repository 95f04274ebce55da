// RPO at the vault: how old the newest recovery point of every policy
// source of every agent is, at each site, against the policy's objective
// (policies/rpo.h gives the states: ok, late, breached, never).
//
// Which rows: for every policy applied at this vault (STATE/policies), for
// each source of it, for each agent it lists, one row per site this vault
// can see:
//  - a same-city vault: a "same-city" row from the namespace's repository
//    and, when it feeds an off-site peer, an "off-site" row from the same
//    snapshots, counting only those the replicator's cursor
//    (STATE/offsite/NS.json) says are at the peer;
//  - an off-site vault: one "off-site" row from its own repository.
// A policy that lists no agents gives one row per agent that has snapshots
// of that source, or one "never" row for agent "*" when none has.
//
// A snapshot counts for an agent when the vault stamped it with that agent's
// identity (which no agent can forge; the host an agent claims can be
// anything), names the policy, and covers the source's paths as the backup
// records them; partial snapshots do not count. The slot a run was due is
// found as drctl run finds it: LastExpectedSlot with the job's jitter key on
// that agent.
//
// VaultRpoMonitor evaluates this every minute on its own thread, publishes
// it as metrics, logs each change of state, runs the policy's alert command
// once per breach (AlertTracker: STATE/alerts.json, so a restart does not
// alert again) and writes the rows to STATE/rpo.json for `drvault status`.
// The alert command learns the policy, source, site and state (AlertInfo
// has no agent); the `rpo_alert` log event names the whole row.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/status.h"
#include "policies/rpo.h"
#include "replicator/vault/vault_config.h"
#include "replicator/vault/vault_metrics.h"

namespace dr {

inline constexpr char kSiteSameCity[] = "same-city";
inline constexpr char kSiteOffsite[] = "off-site";
// The agent of the row of a policy without agents that no agent backed up.
inline constexpr char kAnyAgent[] = "*";

struct RpoRow {
  std::string ns, policy;
  std::string source;  // PolicySource::Label()
  std::string agent;   // as the policy spells it (matched without case), or kAnyAgent
  std::string site;    // kSiteSameCity or kSiteOffsite
  RpoStatus status;
  std::optional<int64_t> newest_ns;  // of the newest recovery point
  int64_t rpo_s = 0;                 // the objective; 0: none
  std::string alert_command;         // the policy's (not written to rpo.json)

  // Names the row in STATE/alerts.json and in logs:
  // "NS/POLICY/SOURCE@AGENT site".
  std::string Key() const;
  // Breached, or never with an objective: data is at risk.
  bool AtRisk() const;
};

// What kept rows out of an evaluation.
struct VaultRpoIssues {
  // Applied policy files that no longer parse ("FILE:LINE:COL: ..."): skipped.
  std::vector<std::string> policy_errors;
  // Namespaces whose snapshots could not be read, and why: no rows for them.
  std::map<std::string, std::string> namespaces;
};

// Every row: by namespace and policy name, then the policy's sources and
// agents in its order, same-city before off-site. A missing policies
// directory is no policies; a namespace without a repository yet has no
// snapshots. Fails only when the policies directory cannot be read.
Result<std::vector<RpoRow>> EvaluateVaultRpo(const VaultConfig& config, int64_t now_ns,
                                             VaultRpoIssues* issues = nullptr);

// STATE/rpo.json: the rows and when they were evaluated.
std::string RpoStatePath(const VaultConfig& config);
std::string EncodeRpoRows(const std::vector<RpoRow>& rows, int64_t evaluated_ns);
Result<std::vector<RpoRow>> DecodeRpoRows(std::string_view text, int64_t* evaluated_ns);

class VaultRpoMonitor {
 public:
  // Evaluates `first` after starting, then every `period`. `metrics` must
  // outlive the monitor.
  VaultRpoMonitor(VaultConfig config, VaultMetrics* metrics, std::chrono::milliseconds period,
                  std::chrono::milliseconds first = std::chrono::seconds(2));
  // Waits for a pass in progress (an alert command runs at most 60 s).
  ~VaultRpoMonitor();

  // One evaluation, as the thread makes it (tests may call it too).
  void RunOnce(int64_t now_ns);

 private:
  void Loop();

  const VaultConfig config_;
  VaultMetrics* const metrics_;
  const std::chrono::milliseconds period_, first_;
  AlertTracker alerts_;
  std::map<std::string, RpoState> shown_;  // row key -> state last logged
  std::string last_issues_;                // logged once until they change
  std::mutex pass_mu_;                     // one RunOnce at a time
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace dr
