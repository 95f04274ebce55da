#include "policies/snapshot_groups.h"

#include <algorithm>
#include <filesystem>
#include <limits>

#include <nlohmann/json.hpp>

#include "catalog/format/snapshot.h"
#include "catalog/retention_lock.h"
#include "core/timefmt.h"
#include "policies/duration.h"

namespace dr {

namespace {

// Raw path bytes as a quoted, printable JSON string (as drctl prints them).
std::string Printable(const std::string& raw) {
  return nlohmann::json(raw).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// What the backup does to the paths it is given (replicator/capture), so a
// policy's sources find their own snapshots.
std::string NormalizedPath(const std::string& p) {
  std::error_code ec;
  std::string n = std::filesystem::absolute(p, ec).lexically_normal().string();
  if (n.size() > 1 && n.back() == '/') n.pop_back();
  return n;
}

}  // namespace

std::string JoinedPaths(const std::vector<std::string>& paths) {
  std::string s;
  for (const auto& x : paths) s += (s.empty() ? "" : " ") + Printable(x);
  return s;
}

SnapshotGroupKey GroupKeyOf(const Snapshot& s) { return {s.policy, s.host, JoinedPaths(s.paths)}; }

SnapshotGroupKey GroupKeyOf(const Policy& policy, const PolicySource& source,
                            const std::string& host) {
  std::vector<std::string> paths;
  for (const auto& p : source.paths) paths.push_back(NormalizedPath(p));
  if (source.kind == PolicySource::Kind::kFiles) {
    std::sort(paths.begin(), paths.end());
    paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
  }
  return {policy.name, host, JoinedPaths(paths)};
}

SnapshotGroups GroupSnapshots(const std::vector<Snapshot>& all, const std::string& policy,
                              const std::string& host) {
  SnapshotGroups groups;
  for (const auto& s : all) {
    if (!policy.empty() && s.policy != policy) continue;
    if (!host.empty() && s.host != host) continue;
    groups[GroupKeyOf(s)].push_back(&s);
  }
  return groups;
}

std::optional<int64_t> NewestRecoveryPoint(const std::vector<Snapshot>& all,
                                           const SnapshotGroupKey& key) {
  std::optional<int64_t> newest;
  for (const auto& s : all) {
    if (s.partial || GroupKeyOf(s) != key) continue;
    if (!newest || s.time_ns > *newest) newest = s.time_ns;
  }
  return newest;
}

Status ForgetSnapshot(ObjectStore& store, const Id& id, int64_t now_ns,
                      const std::function<Status()>& before_delete) {
  auto refuse_if_locked = [&]() -> Status {
    ASSIGN_OR_RETURN(std::optional<int64_t> locked, RetentionLockOf(store, id));
    if (locked && *locked > now_ns)
      return Status::PermissionDenied("snapshot " + id.Hex().substr(0, 8) + " is locked until " +
                                      FormatRfc3339Utc(*locked) +
                                      "; it cannot be forgotten before");
    return Status::OK();
  };
  RETURN_IF_ERROR(refuse_if_locked());
  const std::string tombstone = nlohmann::json{{"forgotten_ns", now_ns}}.dump() + "\n";
  Status put = store.PutIfAbsent(ForgottenKey(id), tombstone);
  if (!put.ok() && put.code() != Code::kAlreadyExists) return put;
  // A lock written since the first look wins: AddRetentionLock looks for
  // the snapshot after writing, so between the two one sees the other.
  if (Status locked = refuse_if_locked(); !locked.ok()) {
    (void)store.Delete(ForgottenKey(id));
    return locked;
  }
  if (before_delete) {
    if (Status ready = before_delete(); !ready.ok()) {
      (void)store.Delete(ForgottenKey(id));
      return ready;
    }
  }
  return store.Delete(SnapshotKey(id));
}

namespace {
// When a policy's lock-for holds `snapshot` until; nullopt if that is past
// the end of time.
std::optional<int64_t> PolicyLockEnd(const Snapshot& snapshot, int64_t lock_for_s) {
  constexpr int64_t kNsPerS = 1000000000;
  if (lock_for_s <= 0 || lock_for_s > std::numeric_limits<int64_t>::max() / kNsPerS ||
      snapshot.time_ns > std::numeric_limits<int64_t>::max() - lock_for_s * kNsPerS)
    return std::nullopt;
  return snapshot.time_ns + lock_for_s * kNsPerS;
}
}  // namespace

Result<std::optional<int64_t>> LockForPolicy(ObjectStore& store, const Snapshot& snapshot,
                                             int64_t lock_for_s, std::optional<int64_t> current,
                                             int64_t now_ns) {
  const std::optional<int64_t> until = PolicyLockEnd(snapshot, lock_for_s);
  if (!until || *until <= now_ns || (current && *current >= *until)) return current;
  Status locked = AddRetentionLock(
      store, snapshot.id, *until,
      "policy " + snapshot.policy + ": lock-for " + FormatDuration(lock_for_s), now_ns);
  if (locked.IsNotFound()) return current;  // forgotten meanwhile: nothing left to keep
  RETURN_IF_ERROR(locked);
  return until;
}

Result<std::vector<RetentionDecision>> ApplyGroupRetention(
    ObjectStore& store, const std::vector<const Snapshot*>& group, const RetentionRules& rules,
    int64_t now_ns, bool dry_run, const RetentionHooks& hooks) {
  ASSIGN_OR_RETURN(auto locks, ListRetentionLocks(store));
  std::vector<RetentionInput> in;
  for (const Snapshot* s : group) {
    auto found = locks.find(s->id);
    std::optional<int64_t> lock =
        found == locks.end() ? std::nullopt : std::optional<int64_t>(found->second);
    if (rules.lock_for_s != 0 && !dry_run) {
      const std::optional<int64_t> before = lock;
      ASSIGN_OR_RETURN(lock, LockForPolicy(store, *s, rules.lock_for_s, lock, now_ns));
      if (lock != before && hooks.locked) hooks.locked(*s, *lock);
    } else if (auto until = PolicyLockEnd(*s, rules.lock_for_s); until && until > lock) {
      lock = until;  // what the real run would lock, shown by a dry run
    }
    in.push_back({s->id, s->time_ns, s->tags, lock});
  }
  std::vector<RetentionDecision> decisions = ApplyRetention(std::move(in), rules, now_ns);
  if (dry_run) return decisions;
  for (const auto& d : decisions) {
    if (d.keep) continue;
    std::function<Status()> before_delete;
    if (hooks.before_forget) before_delete = [&] { return hooks.before_forget(d); };
    RETURN_IF_ERROR(ForgetSnapshot(store, d.id, now_ns, before_delete));
  }
  return decisions;
}

}  // namespace dr
