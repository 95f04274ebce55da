// Scheduler: decides which policy job runs next, from the policies, a clock
// and what happened before. It runs nothing itself: the caller (drctl run)
// asks for the next due job, runs it, and reports the outcome. Every
// decision is a function of the clock and the persisted state, so the
// semantics below are tested with a fake clock:
//
//  - one job at a time: a policy never overlaps itself nor another policy
//    on the same source; slots that pass while a job runs collapse into one
//    run right after it;
//  - after downtime that missed one or many slots, each job runs once (a
//    catch-up, not a storm), then follows its schedule;
//  - a failed run is retried after 1 min, 2, 4, ... (at most 1 h), but never
//    later than the next regular slot, which then runs instead;
//  - each slot is delayed by JitterFor (stable per job and host);
//  - SetPolicies keeps the state of jobs that still exist, drops removed
//    ones, and schedules new ones from now (they run at their next slot).
//
// A job is one PolicySource of one policy, key "<policy>/<source label>",
// or one of its drills, key "<policy>/drill:<name>". A drill new to the
// scheduler waits for its first slot even at service start (a drill
// restores a whole recovery point: not something to start unasked). The state of every job is kept
// in STATE/scheduler.json, replaced atomically after every run, so a restart resumes where the last
// run left off. A run interrupted by a crash is not recorded, so its slot is still due after the
// restart.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "policies/policy.h"

namespace dr {

// Time as the scheduler sees it, injected so tests can move it.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowS() = 0;
  // Returns at `s`, or earlier once Wake() was called (and clears that).
  virtual void SleepUntil(int64_t s) = 0;
  // Async-signal-safe: ends the current or next SleepUntil early.
  virtual void Wake() = 0;
};

// The system clock; sleeps in slices of at most a second so a Wake() from
// a signal handler is seen promptly even if the signal landed just before
// the sleep started.
class RealClock : public Clock {
 public:
  int64_t NowS() override;
  void SleepUntil(int64_t s) override;
  void Wake() override { woken_.store(true); }

 private:
  std::atomic<bool> woken_{false};
};

inline constexpr int64_t kFirstRetryDelayS = 60;
inline constexpr int64_t kMaxRetryDelayS = 3600;

// The delay before retry number `failures` (1 after the first failure):
// 1 min doubling per failure, capped at 1 h.
int64_t RetryDelay(int failures);

std::string JobKey(const Policy& policy, const PolicySource& source);
std::string DrillJobKey(const Policy& policy, const DrillSpec& drill);
// What JitterFor hashes for a job on a host: the host is part of it, so
// many hosts running one policy do not all start at the same second.
std::string JitterKey(const std::string& job_key, const std::string& host);

// What the scheduler remembers of one job.
struct JobState {
  // Every slot at or before this instant is handled (run, or collapsed
  // into a run): the start of the last regular run.
  int64_t handled_until_s = 0;
  int64_t last_start_s = 0, last_end_s = 0;  // 0: never ran
  bool last_ok = false;
  int consecutive_failures = 0;
  int64_t retry_at_s = 0;  // 0: no retry pending
};

// A job the caller should run now.
struct DueJob {
  std::string key;
  Policy policy;
  PolicySource source;             // for a backup
  std::optional<DrillSpec> drill;  // set for a drill (then `source` is empty)
  int64_t due_s = 0;               // when it became due (slot + jitter, or the retry time)
  bool retry = false;
  int attempt = 1;  // 1 + the failures before it
};

class Scheduler {
 public:
  // `host` makes the jitter differ between hosts running the same policy.
  // An empty `state_dir` keeps the state in memory only.
  Scheduler(Clock* clock, std::string state_dir, std::string host);

  // Reads STATE/scheduler.json. A missing file is an empty state; an
  // unreadable or corrupt one is an error and leaves the state empty (the
  // caller warns and carries on: a bad state file must not stop backups).
  Status Load();

  // The jobs to schedule (the caller has filtered by host). Jobs that
  // already have state keep it; state of jobs not listed is dropped. Jobs
  // without state start "from now" (their next slot), unless
  // `run_new_now`, where they are due at once: at service start and for
  // --once, a job that never ran has missed everything before.
  Status SetPolicies(const std::vector<Policy>& policies, bool run_new_now);

  // Every job due now, earliest due first (ties by key). When `next_s` is
  // given, sets it to when the next job not yet due will be (INT64_MAX when
  // none will).
  std::vector<DueJob> AllDue(int64_t* next_s = nullptr) const;
  // Every job as if due now, in key order (drctl run --once --all: run
  // everything now, due or not; each counts as a regular run).
  std::vector<DueJob> AllJobs() const;
  // The job due now with the earliest due time (ties by key), if any.
  // Otherwise, when `next_s` is given, sets it to when the next one will be
  // due (INT64_MAX when none will).
  std::optional<DueJob> NextDue(int64_t* next_s = nullptr) const;
  // When job `key` becomes due next (nullopt: never, or unknown key).
  std::optional<int64_t> DueAt(const std::string& key) const;

  // Records that `job` started at the clock's now. Nothing is written: a
  // run cut short by a crash must run again.
  void Started(const DueJob& job);
  // Records the outcome (at the clock's now) and persists the state.
  Status Finished(const DueJob& job, bool ok);

  const std::map<std::string, JobState>& states() const { return states_; }

 private:
  struct Entry {
    Policy policy;
    PolicySource source;
    std::optional<DrillSpec> drill;
    const Schedule& schedule() const { return drill ? drill->schedule : policy.schedule; }
  };
  // The next regular slot of `key` after `state` (with jitter).
  std::optional<int64_t> NextSlotDue(const std::string& key, const Entry& e,
                                     const JobState& state) const;
  Status Save() const;

  Clock* clock_;
  std::string state_dir_, host_;
  std::map<std::string, Entry> jobs_;
  std::map<std::string, JobState> states_;
  std::map<std::string, int64_t> started_;  // key -> start of the running job
};

// Where `drctl run` keeps the scheduler state, the job log and the alert
// memory by default: $STATE_DIRECTORY (set by systemd's StateDirectory=,
// the first if several), /var/lib/drbackup for root, else
// $XDG_STATE_HOME/drbackup or ~/.local/state/drbackup.
std::string DefaultStateDir();

// The policy directory as the service sees it: every good policy, and one
// message per bad file ("FILE:LINE:COL: field: ...") instead of failing
// the whole load, so one broken file never stops the other policies. Two
// files naming the same policy: the later file is the bad one.
struct PolicyDirLoad {
  std::vector<Policy> policies;
  std::vector<std::string> errors;
};
// Fails only when `path` itself cannot be read (a missing directory).
Result<PolicyDirLoad> LoadPolicyDir(const std::string& path);
// A digest of the names and contents of the policy files under `path`, to
// notice edits cheaply; an unreadable directory gives a fixed value.
std::string PolicyDirFingerprint(const std::string& path);

}  // namespace dr
