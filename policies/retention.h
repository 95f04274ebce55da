// Retention: which snapshots to keep. A pure function of (snapshots, rules,
// now) that gives each snapshot keep/forget and, for each kept one, why.
// Retention decides; prune (catalog/prune.h) deletes data later. Nothing
// here touches a repository.
//
// Rules (the same as restic's and Borg's, with one safety rule added):
//  - keep-last N: the N newest;
//  - keep-hourly/daily/weekly/monthly/yearly N: walking from newest to
//    oldest, the newest snapshot of each of the N most recent local hours /
//    days / ISO weeks / months / years that have a snapshot (buckets are
//    read in the rules' time zone, so DST and the zone move the boundaries);
//    N = -1 means every such bucket;
//  - keep-within D: every snapshot taken less than D before `now`;
//  - keep-tag T: every snapshot carrying tag T;
//  - a snapshot locked until after `now` is kept ("locked until ...");
//  - the newest snapshot is always kept ("newest"), so no rule set can
//    forget everything;
//  - empty rules keep every snapshot ("no rules").
// Equal timestamps are ordered by id, so the decision is deterministic.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/hash.h"
#include "policies/time_zone.h"

namespace dr {

struct RetentionRules {
  int last = 0, hourly = 0, daily = 0, weekly = 0, monthly = 0, yearly = 0;  // -1: all
  int64_t within_s = 0;                                                      // 0: not set
  std::vector<std::string> tags;
  TimeZone zone;  // UTC unless the policy names one
  // Not a keep rule: every snapshot of the group gets a retention lock
  // until its time plus this ("lock-for"; LockForPolicy in
  // snapshot_groups.h writes it), which then keeps it. 0: not set.
  int64_t lock_for_s = 0;
  // No keep rule (lock_for_s is not one): such rules keep every snapshot.
  bool empty() const;
  // "last 3, daily 7, within 2d, tag legal-hold, lock-for 30d" (for
  // messages and tables).
  std::string Describe() const;
};

struct RetentionInput {
  Id id;
  int64_t time_ns = 0;
  std::vector<std::string> tags;
  std::optional<int64_t> locked_until_ns;  // a retention lock (WORM)
};

struct RetentionDecision {
  Id id;
  int64_t time_ns = 0;
  bool keep = false;
  // Why it is kept, one entry per rule that keeps it, e.g. "last 1",
  // "daily 2026-11-29", "hourly 2026-11-29 14h", "weekly 2026-W48",
  // "monthly 2026-11", "yearly 2026", "within 2d", "tag legal-hold",
  // "locked until 2027-01-01T00:00:00Z", "newest", "no rules". Empty when
  // forgotten.
  std::vector<std::string> reasons;
};

// One decision per input, newest first.
std::vector<RetentionDecision> ApplyRetention(std::vector<RetentionInput> snapshots,
                                              const RetentionRules& rules, int64_t now_ns);

}  // namespace dr
