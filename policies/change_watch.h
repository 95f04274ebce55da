// Ransomware watch: every new file snapshot is measured against the one
// before it in its group (catalog/change_signals.h) where it is stored, and
// when its change looks like ransomware at work, the newest earlier snapshot
// of the group that did not is locked (catalog/retention_lock.h), so the
// copy to recover from outlives every retention rule, forget and prune until
// someone has looked. Used by the vault after each commit and by drctl after
// a backup into its own repository.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "catalog/change_record.h"
#include "catalog/format/snapshot.h"
#include "catalog/repository.h"
#include "core/status.h"

namespace dr {

// How long the last clean snapshot is locked when a later one is flagged.
inline constexpr int64_t kSuspectLockSeconds = 30 * 86400;
// How many of the group's earlier records set its baseline.
inline constexpr size_t kChangeHistoryLength = 10;

// Measures `snapshot` (committed to `repo`) against the newest earlier
// snapshot of its group: same policy, host and paths, written by the same
// identity. Judges it against the records of the group's last
// kChangeHistoryLength unflagged snapshots, stores its record, and when it is
// suspicious locks the newest earlier snapshot of the group that was not
// flagged, until `now_ns` + `lock_for_s` (a longer lock it has is kept).
// A base that was never weighed is weighed first (up to
// kChangeHistoryLength deep), so an attack in it is not hidden by measuring
// the next snapshot against it. Returns every record written, the
// snapshot's last: each suspicious one is to be reported. The first
// snapshot of a group is recorded with its file count only (no base, never
// flagged). A snapshot already recorded returns its record alone. Block
// snapshots are not measured: NotFound.
Result<std::vector<ChangeRecord>> WatchSnapshot(Repository& repo, const Snapshot& snapshot,
                                                int64_t now_ns,
                                                int64_t lock_for_s = kSuspectLockSeconds);

// The records in `store` that parse, of the snapshots `wanted` accepts
// (all when it is empty): one listing, then a read per wanted record, so a
// listing of a few snapshots does not read the records of every snapshot
// ever weighed.
Result<std::vector<ChangeRecord>> ReadChangeRecords(
    ObjectStore& store, const std::function<bool(const Id&)>& wanted = {});

}  // namespace dr
