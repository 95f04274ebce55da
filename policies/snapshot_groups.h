// Retention applied to a repository, shared by `drctl forget`, the
// policy runner (`drctl run`) and the vaults: snapshots are grouped by policy, host and
// source paths, and each group is weighed on its own, so retention never
// weighs one machine's (or one source's) snapshots against another's.
#pragma once

#include <functional>

#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "catalog/format/snapshot.h"
#include "catalog/repository.h"
#include "core/status.h"
#include "policies/policy.h"
#include "policies/retention.h"

namespace dr {

// policy, host, paths (space-joined, printable).
using SnapshotGroupKey = std::tuple<std::string, std::string, std::string>;
using SnapshotGroups = std::map<SnapshotGroupKey, std::vector<const Snapshot*>>;

// Space-joined printable paths: the third part of a group key.
std::string JoinedPaths(const std::vector<std::string>& paths);
// The group key of a snapshot.
SnapshotGroupKey GroupKeyOf(const Snapshot& s);
// The group key a policy source's snapshots taken on `host` have: the
// paths as the backup records them (absolute, normalized, sorted).
SnapshotGroupKey GroupKeyOf(const Policy& policy, const PolicySource& source,
                            const std::string& host);

// Groups `all`, keeping only snapshots of `policy` and `host` when given.
SnapshotGroups GroupSnapshots(const std::vector<Snapshot>& all, const std::string& policy,
                              const std::string& host);

// The time of the newest complete (not partial) snapshot of `key`'s group:
// a policy source's newest recovery point. nullopt when there is none.
std::optional<int64_t> NewestRecoveryPoint(const std::vector<Snapshot>& all,
                                           const SnapshotGroupKey& key);

// Deletes snapshot object `id`, first leaving its tombstone
// (ForgottenKey): the data goes with the next prune. PermissionDenied while
// a retention lock holds it (catalog/retention_lock.h).
// `before_delete` runs after the last lock check, just before the delete
// (the vault seals the forget in the history there); its error stops it.
Status ForgetSnapshot(ObjectStore& store, const Id& id, int64_t now_ns,
                      const std::function<Status()>& before_delete = {});

// The lock a policy's `lock-for` asks for: `snapshot` locked until its time
// plus `lock_for_s`, with the policy named as the reason. Nothing to do when
// that time has passed or a lock at least as long is there (`current`, the
// snapshot's latest lock, as ListRetentionLocks gives it); nor when the
// snapshot is gone. Returns the snapshot's lock afterwards.
Result<std::optional<int64_t>> LockForPolicy(ObjectStore& store, const Snapshot& snapshot,
                                             int64_t lock_for_s, std::optional<int64_t> current,
                                             int64_t now_ns);

// What a caller such as a vault records as retention acts: each snapshot
// just before it is forgotten (so a pass that fails halfway leaves none
// unrecorded), and each lock a policy's lock-for wrote.
struct RetentionHooks {
  // Just before each snapshot is deleted, after its last lock check; an
  // error stops the pass with it not deleted.
  std::function<Status(const RetentionDecision&)> before_forget;
  std::function<void(const Snapshot&, int64_t until_ns)> locked;
};

// Decides with `rules` over one group and, unless `dry_run`, deletes the
// snapshot objects of the forgotten ones (their data goes with the next
// prune). With `rules.lock_for_s` (and not `dry_run`) it first locks each
// snapshot still within it (LockForPolicy). A snapshot under a retention
// lock is kept ("locked until ..."). Decisions newest first. Stops at the
// first failed lock or delete.
Result<std::vector<RetentionDecision>> ApplyGroupRetention(
    ObjectStore& store, const std::vector<const Snapshot*>& group, const RetentionRules& rules,
    int64_t now_ns, bool dry_run, const RetentionHooks& hooks = {});

}  // namespace dr
