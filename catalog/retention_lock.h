// Retention locks (WORM, docs/format/retention-lock.md): a snapshot kept
// until a time, whatever any retention rule, forget or prune says. A lock is
// an object "retention-locks/<snapshot id>/<until, 20 digits>" that is only
// ever created, never replaced: extending a lock adds a later one, and the
// snapshot is locked until the latest. No command removes one; a forged one
// can only keep more.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "catalog/store/object_store.h"
#include "core/hash.h"
#include "core/status.h"

namespace dr {

inline constexpr char kRetentionLockPrefix[] = "retention-locks/";

std::string RetentionLockKey(const Id& snapshot, int64_t until_ns);
// The snapshot and time a lock's key names; false for any other key.
bool ParseRetentionLockKey(std::string_view key, Id* snapshot, int64_t* until_ns);
// What a site accepts as a lock object from a replicating peer: a key that
// parses and a body of at most 4 KiB (only the key means anything).
Status VerifyRetentionLockObject(const std::string& key, std::string_view bytes);

inline constexpr size_t kMaxRetentionLockReasonBytes = 1024;

// Locks `snapshot` until `until_ns` (which must be later than now and than
// any lock it already has: a lock is only ever extended). `reason` (at most
// kMaxRetentionLockReasonBytes) and `now_ns` are recorded for the operator.
// NotFound when the snapshot is not there, also when a concurrent forget
// removed it while the lock was written.
Status AddRetentionLock(ObjectStore& store, const Id& snapshot, int64_t until_ns,
                        const std::string& reason, int64_t now_ns);

// The latest lock of every locked snapshot (expired ones too). Objects under
// the prefix whose names do not parse are skipped: a lock can only keep.
Result<std::map<Id, int64_t>> ListRetentionLocks(ObjectStore& store);
// The latest lock of `snapshot`, or nullopt.
Result<std::optional<int64_t>> RetentionLockOf(ObjectStore& store, const Id& snapshot);

}  // namespace dr
