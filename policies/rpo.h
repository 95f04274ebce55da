// RPO evaluation: is a policy source's newest recovery point young enough,
// and is its schedule being kept? Pure functions of the newest good
// snapshot, the objective, the schedule and now; plus the alert tracker
// that runs a policy's alert command once per breach.
//
// States, worst last:
//  - ok: the newest snapshot is at most rpo old and no scheduled run is
//    overdue;
//  - late: a scheduled run is overdue (its slot, plus jitter, plus a grace
//    of 10 % of the interval, passed without a snapshot at least as new as
//    the slot), but the newest snapshot is still within the objective:
//    something is wrong, but no data is at risk yet;
//  - breached: the newest snapshot is older than the objective;
//  - never: there is no snapshot at all.
// Without an objective (rpo 0) a source is never breached, only late.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "policies/schedule.h"

namespace dr {

enum class RpoState { kOk, kLate, kBreached, kNever };
// "ok", "late", "breached", "never".
const char* RpoStateName(RpoState s);

struct RpoStatus {
  RpoState state = RpoState::kNever;
  int64_t age_s = -1;  // of the newest recovery point; -1 when there is none
};

// The newest slot at or before now, the time it was due (slot + jitter)
// and the interval since the slot before it (for the grace).
struct ExpectedSlot {
  int64_t slot_s = 0, due_s = 0, interval_s = 0;
};

// The grace after a slot's due time before it counts as overdue.
int64_t LateGrace(int64_t interval_s);

RpoStatus EvaluateRpo(std::optional<int64_t> newest_ns, int64_t rpo_s,
                      std::optional<ExpectedSlot> expected, int64_t now_s);

// The schedule's newest slot at or before `now_s` (nullopt when it has
// none within the last 800 days). `jitter_key` as the scheduler uses it.
std::optional<ExpectedSlot> LastExpectedSlot(const Schedule& schedule,
                                             const std::string& jitter_key, int64_t now_s);

// What an alert command is told, as environment variables: DR_EVENT
// (rpo-breach, run-failed, drill-failed or suspicious-change), DR_POLICY,
// DR_SOURCE, DR_SITE, DR_RPO_STATE, DR_RPO_AGE_S (empty when there is no
// snapshot), DR_ERROR (what failed, or why the change looks like ransomware),
// and at a vault DR_AGENT and DR_NAMESPACE (empty from drctl run).
struct AlertInfo {
  std::string event = "rpo-breach";
  std::string policy, source, site = "same-city";
  RpoStatus rpo;
  std::string error;
  std::string agent, nspace;
};

// Runs `command` via /bin/sh -c with the AlertInfo variables added to the
// environment, stdin from /dev/null, output to ours. A command still
// running after `timeout_s` is killed, so a hung pager cannot stall the
// backups. An exit status other than 0 is an error naming the command.
Status RunAlertCommand(const std::string& command, const AlertInfo& info, int timeout_s = 60);

// Fires a policy's alert command exactly once per breach: when a source's
// state becomes breached, and again only after it was ok in between.
// Remembered in STATE/alerts.json, so a restart does not alert again.
class AlertTracker {
 public:
  // An empty `state_dir` keeps the memory in this process only.
  explicit AlertTracker(std::string state_dir);
  // A missing file is an empty memory; a corrupt one is an error (and an
  // empty memory: at worst one alert is repeated).
  Status Load();
  // Records `info.rpo.state` for `key` and runs `command` (when not empty)
  // if that starts a breach. `*fired` tells whether it ran. A failing
  // command still counts as the alert for this breach (it is reported, not
  // repeated every minute).
  Status Update(const std::string& key, const std::string& command, const AlertInfo& info,
                bool* fired = nullptr);
  // Forgets keys not in `keys` (policies removed).
  Status Retain(const std::vector<std::string>& keys);
  bool Alerted(const std::string& key) const { return alerted_.count(key) > 0; }

 private:
  Status Save() const;
  std::string state_dir_;
  std::map<std::string, int64_t> alerted_;  // key -> when the breach was alerted
};

}  // namespace dr
