#include "catalog/retention_lock.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "catalog/format/snapshot.h"
#include "core/timefmt.h"

namespace dr {

namespace {

// "<32 hex>/<20 digits>" after the prefix: the snapshot and the time.
bool ParseLockName(std::string_view name, Id* snapshot, int64_t* until_ns) {
  if (name.size() != 32 + 1 + 20 || name[32] != '/') return false;
  Id id;
  if (!Id::FromHex(name.substr(0, 32), &id)) return false;
  int64_t v = 0;
  for (char c : name.substr(33)) {
    if (c < '0' || c > '9') return false;
    if (v > (INT64_MAX - (c - '0')) / 10) return false;
    v = v * 10 + (c - '0');
  }
  *snapshot = id;
  *until_ns = v;
  return true;
}

Result<std::map<Id, int64_t>> ListUnder(ObjectStore& store, const std::string& prefix) {
  ASSIGN_OR_RETURN(auto objects, store.List(prefix));
  std::map<Id, int64_t> out;
  for (const auto& o : objects) {
    Id id;
    int64_t until = 0;
    if (!ParseRetentionLockKey(o.key, &id, &until)) continue;
    auto [it, fresh] = out.emplace(id, until);
    if (!fresh && until > it->second) it->second = until;
  }
  return out;
}

}  // namespace

bool ParseRetentionLockKey(std::string_view key, Id* snapshot, int64_t* until_ns) {
  const std::string_view prefix = kRetentionLockPrefix;
  return key.substr(0, prefix.size()) == prefix &&
         ParseLockName(key.substr(prefix.size()), snapshot, until_ns);
}

Status VerifyRetentionLockObject(const std::string& key, std::string_view bytes) {
  Id id;
  int64_t until = 0;
  if (!ParseRetentionLockKey(key, &id, &until))
    return Status::InvalidArgument(key + " is not a retention lock's name");
  if (bytes.size() > 4096)
    return Status::InvalidArgument(key + ": a retention lock of more than 4 KiB");
  return Status::OK();
}

std::string RetentionLockKey(const Id& snapshot, int64_t until_ns) {
  char digits[24];
  std::snprintf(digits, sizeof digits, "%020lld", static_cast<long long>(until_ns));
  return std::string(kRetentionLockPrefix) + snapshot.Hex() + "/" + digits;
}

Status AddRetentionLock(ObjectStore& store, const Id& snapshot, int64_t until_ns,
                        const std::string& reason, int64_t now_ns) {
  if (until_ns <= now_ns)
    return Status::InvalidArgument("a lock until " + FormatRfc3339Utc(until_ns) +
                                   " would already have expired");
  // The whole record must stay under what a replicating peer accepts.
  if (reason.size() > kMaxRetentionLockReasonBytes)
    return Status::InvalidArgument("the reason is " + std::to_string(reason.size()) +
                                   " bytes; at most " +
                                   std::to_string(kMaxRetentionLockReasonBytes) + " are kept");
  if (auto snap = store.Size(SnapshotKey(snapshot)); !snap.ok())
    return snap.status().WithContext("lock snapshot " + snapshot.Hex().substr(0, 8));
  ASSIGN_OR_RETURN(std::optional<int64_t> held, RetentionLockOf(store, snapshot));
  if (held && *held >= until_ns)
    return Status::InvalidArgument("snapshot " + snapshot.Hex().substr(0, 8) +
                                   " is already locked until " + FormatRfc3339Utc(*held) +
                                   "; a lock can only be extended");
  const std::string record = nlohmann::json{{"snapshot", snapshot.Hex()},
                                            {"until", FormatRfc3339Utc(until_ns)},
                                            {"set", FormatRfc3339Utc(now_ns)},
                                            {"reason", reason}}
                                 .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
                             "\n";
  Status put = store.PutIfAbsent(RetentionLockKey(snapshot, until_ns), record);
  if (!put.ok() && put.code() != Code::kAlreadyExists)  // AlreadyExists: the same lock, set twice
    return put.WithContext("lock snapshot " + snapshot.Hex().substr(0, 8));
  // A forget that looked for locks just before this one was written may
  // have deleted the snapshot meanwhile (ForgetSnapshot looks again after
  // its tombstone, so one of the two sees the other).
  if (auto snap = store.Size(SnapshotKey(snapshot)); !snap.ok())
    return Status::NotFound("snapshot " + snapshot.Hex().substr(0, 8) +
                            " was forgotten while it was being locked; its data goes with the "
                            "next prune");
  return Status::OK();
}

Result<std::map<Id, int64_t>> ListRetentionLocks(ObjectStore& store) {
  return ListUnder(store, kRetentionLockPrefix);
}

Result<std::optional<int64_t>> RetentionLockOf(ObjectStore& store, const Id& snapshot) {
  ASSIGN_OR_RETURN(auto locks, ListUnder(store, kRetentionLockPrefix + snapshot.Hex() + "/"));
  auto it = locks.find(snapshot);
  if (it == locks.end()) return std::optional<int64_t>();
  return std::optional<int64_t>(it->second);
}

}  // namespace dr
