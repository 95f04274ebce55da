#include "policies/change_watch.h"

#include <algorithm>

#include "catalog/retention_lock.h"
#include "core/timefmt.h"
#include "policies/snapshot_groups.h"

namespace dr {
namespace {

// The group's snapshots taken before `snapshot`, newest first.
std::vector<Snapshot> EarlierInGroup(const std::vector<Snapshot>& all, const Snapshot& snapshot) {
  const SnapshotGroupKey key = GroupKeyOf(snapshot);
  std::vector<Snapshot> out;
  for (const Snapshot& s : all) {
    if (s.id == snapshot.id || s.block || s.identity != snapshot.identity || GroupKeyOf(s) != key)
      continue;
    if (std::tie(s.time_ns, s.id) < std::tie(snapshot.time_ns, snapshot.id)) out.push_back(s);
  }
  std::sort(out.begin(), out.end(), [](const Snapshot& a, const Snapshot& b) {
    return std::tie(a.time_ns, a.id) > std::tie(b.time_ns, b.id);
  });
  return out;
}

// The record of `id`: NotFound when there is none, Corruption when what is
// there does not parse (a damaged record loses its say in the baseline).
Result<ChangeRecord> RecordOf(ObjectStore& store, const Id& id) {
  ASSIGN_OR_RETURN(std::string bytes, store.Get(ChangeRecordKey(id)));
  auto record = DecodeChangeRecord(bytes, ChangeRecordKey(id));
  if (record.ok() && record->snapshot != id)
    return Status::Corruption(ChangeRecordKey(id) + " is the record of another snapshot");
  return record;
}

// The store's own errors stop the watch; a missing or damaged record does not.
Status StoreError(const Result<ChangeRecord>& r) {
  const Code c = r.status().code();
  return r.ok() || c == Code::kNotFound || c == Code::kCorruption ? Status::OK() : r.status();
}

// Locks the newest of `earlier` that was not flagged itself.
Status LockLastClean(ObjectStore& store, const std::vector<Snapshot>& earlier,
                     const Snapshot& suspect, int64_t until_ns, int64_t now_ns,
                     ChangeRecord* record) {
  for (const Snapshot& s : earlier) {
    auto r = RecordOf(store, s.id);
    RETURN_IF_ERROR(StoreError(r));
    if (r.ok() && r->verdict.suspicious) continue;
    ASSIGN_OR_RETURN(auto current, RetentionLockOf(store, s.id));
    if (!current || *current < until_ns) {
      Status locked = AddRetentionLock(
          store, s.id, until_ns,
          "the last snapshot before " + suspect.id.Hex() + ", whose change looks like ransomware",
          now_ns);
      // Forgotten in between: the next earlier one is the last clean copy.
      if (locked.code() == Code::kNotFound) continue;
      RETURN_IF_ERROR(locked);
      current = until_ns;
    }
    record->locked = s.id;
    record->locked_until_ns = *current;
    return Status::OK();
  }
  return Status::OK();
}

// Weighs `snapshot` (after its base, when the base was never weighed) and
// appends every record it writes to `*made`, the snapshot's last.
Status WatchIn(Repository& repo, const std::vector<Snapshot>& all, const Snapshot& snapshot,
               int64_t now_ns, int64_t lock_for_s, size_t depth, std::vector<ChangeRecord>* made) {
  ObjectStore& store = *repo.store();
  const std::vector<Snapshot> earlier = EarlierInGroup(all, snapshot);
  ChangeRecord record;
  record.snapshot = snapshot.id;
  record.measured_ns = now_ns;
  if (earlier.empty()) {
    ASSIGN_OR_RETURN(record.signals.files_after, CountFiles(repo, snapshot.tree));
  } else {
    const Snapshot& base = earlier.front();
    // A base never weighed (the vault stopped before it could, or it is
    // older than the watch) is weighed first: measured only against the
    // base, an attack in it would pass unseen into the next snapshot's.
    auto base_record = RecordOf(store, base.id);
    RETURN_IF_ERROR(StoreError(base_record));
    if (base_record.status().code() == Code::kNotFound && depth < kChangeHistoryLength)
      RETURN_IF_ERROR(WatchIn(repo, all, base, now_ns, lock_for_s, depth + 1, made));
    record.base = base.id;
    std::vector<ChangeSignals> history;
    std::optional<uint64_t> base_files;
    for (size_t i = 0; i < earlier.size() && history.size() < kChangeHistoryLength; ++i) {
      auto r = RecordOf(store, earlier[i].id);
      RETURN_IF_ERROR(StoreError(r));
      if (!r.ok()) continue;
      if (i == 0) base_files = r->signals.files_after;
      if (r->base && !r->verdict.suspicious) history.push_back(r->signals);
    }
    ASSIGN_OR_RETURN(record.signals, MeasureChange(repo, base.tree, snapshot.tree, base_files));
    record.verdict = JudgeChange(record.signals, history, snapshot.partial);
    if (record.verdict.suspicious) {
      constexpr int64_t kNs = 1'000'000'000;
      const int64_t until_ns =
          lock_for_s > (INT64_MAX - now_ns) / kNs ? INT64_MAX : now_ns + lock_for_s * kNs;
      RETURN_IF_ERROR(LockLastClean(store, earlier, snapshot, until_ns, now_ns, &record));
    }
  }
  Status put = store.PutIfAbsent(ChangeRecordKey(snapshot.id), EncodeChangeRecord(record));
  if (put.code() == Code::kAlreadyExists) {
    // Another watcher's record stands; over a damaged one nothing is
    // written, and this judgement is still the one reported.
    auto first = RecordOf(store, snapshot.id);
    made->push_back(first.ok() ? *first : record);
    return Status::OK();
  }
  RETURN_IF_ERROR(put.WithContext("store " + ChangeRecordKey(snapshot.id)));
  made->push_back(record);
  return Status::OK();
}

}  // namespace

Result<std::vector<ChangeRecord>> WatchSnapshot(Repository& repo, const Snapshot& snapshot,
                                                int64_t now_ns, int64_t lock_for_s) {
  if (snapshot.block) {
    return Status::NotFound("snapshot " + snapshot.id.Hex() +
                            " is a block snapshot; only file snapshots are measured");
  }
  auto existing = RecordOf(*repo.store(), snapshot.id);
  RETURN_IF_ERROR(StoreError(existing));
  if (existing.ok()) return std::vector<ChangeRecord>{*existing};
  ASSIGN_OR_RETURN(auto all, repo.ListSnapshots());
  std::vector<ChangeRecord> made;
  RETURN_IF_ERROR(WatchIn(repo, all, snapshot, now_ns, lock_for_s, 0, &made));
  return made;
}

Result<std::vector<ChangeRecord>> ReadChangeRecords(ObjectStore& store,
                                                    const std::function<bool(const Id&)>& wanted) {
  ASSIGN_OR_RETURN(auto objects, store.List(kChangeSignalsPrefix));
  std::vector<ChangeRecord> out;
  for (const ObjectInfo& o : objects) {
    Id id;
    if (!Id::FromHex(std::string_view(o.key).substr(std::string_view(kChangeSignalsPrefix).size()),
                     &id) ||
        (wanted && !wanted(id)))
      continue;
    auto r = RecordOf(store, id);
    RETURN_IF_ERROR(StoreError(r));
    if (r.ok()) out.push_back(std::move(r).value());
  }
  return out;
}

}  // namespace dr
