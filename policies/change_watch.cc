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

// The record of `id`. NotFound when there is none or it does not parse (a
// damaged record only loses its say in the baseline); other errors are the
// store's.
Result<ChangeRecord> RecordOf(ObjectStore& store, const Id& id) {
  ASSIGN_OR_RETURN(std::string bytes, store.Get(ChangeRecordKey(id)));
  auto record = DecodeChangeRecord(bytes, ChangeRecordKey(id));
  if (!record.ok() || record->snapshot != id)
    return Status::NotFound(ChangeRecordKey(id) + " is not a record of that snapshot");
  return record;
}

// A record that is there, or NotFound; the store's other errors stop the watch.
bool Found(const Result<ChangeRecord>& r, Status* error) {
  if (!r.ok() && r.status().code() != Code::kNotFound) *error = r.status();
  return r.ok();
}

// Locks the newest of `earlier` that was not flagged itself.
Status LockLastClean(ObjectStore& store, const std::vector<Snapshot>& earlier,
                     const Snapshot& suspect, int64_t until_ns, int64_t now_ns,
                     ChangeRecord* record) {
  for (const Snapshot& s : earlier) {
    Status error;
    auto r = RecordOf(store, s.id);
    if (Found(r, &error) && r->verdict.suspicious) continue;
    RETURN_IF_ERROR(error);
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

Result<ChangeRecord> WatchIn(Repository& repo, const std::vector<Snapshot>& all,
                             const Snapshot& snapshot, int64_t now_ns, int64_t lock_for_s,
                             size_t depth) {
  ObjectStore& store = *repo.store();
  Status error;
  if (auto existing = RecordOf(store, snapshot.id); Found(existing, &error)) return existing;
  RETURN_IF_ERROR(error);
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
    const bool base_weighed = Found(RecordOf(store, base.id), &error);
    RETURN_IF_ERROR(error);
    if (!base_weighed && depth < kChangeHistoryLength)
      RETURN_IF_ERROR(WatchIn(repo, all, base, now_ns, lock_for_s, depth + 1).status());
    record.base = base.id;
    std::vector<ChangeSignals> history;
    std::optional<uint64_t> base_files;
    for (size_t i = 0; i < earlier.size() && history.size() < kChangeHistoryLength; ++i) {
      auto r = RecordOf(store, earlier[i].id);
      if (!Found(r, &error)) {
        RETURN_IF_ERROR(error);
        continue;
      }
      if (i == 0) base_files = r->signals.files_after;
      if (r->base && !r->verdict.suspicious) history.push_back(r->signals);
    }
    ASSIGN_OR_RETURN(record.signals, MeasureChange(repo, base.tree, snapshot.tree, base_files));
    record.verdict = JudgeChange(record.signals, history);
    if (record.verdict.suspicious) {
      RETURN_IF_ERROR(LockLastClean(store, earlier, snapshot, now_ns + lock_for_s * 1'000'000'000,
                                    now_ns, &record));
    }
  }
  Status put = store.PutIfAbsent(ChangeRecordKey(snapshot.id), EncodeChangeRecord(record));
  // Two watchers of one snapshot: the first record stands.
  if (put.code() == Code::kAlreadyExists) {
    if (auto first = RecordOf(store, snapshot.id); first.ok()) return first;
  }
  RETURN_IF_ERROR(put.WithContext("store " + ChangeRecordKey(snapshot.id)));
  return record;
}

}  // namespace

Result<ChangeRecord> WatchSnapshot(Repository& repo, const Snapshot& snapshot, int64_t now_ns,
                                   int64_t lock_for_s) {
  if (snapshot.block) {
    return Status::NotFound("snapshot " + snapshot.id.Hex() +
                            " is a block snapshot; only file snapshots are measured");
  }
  Status error;
  if (auto existing = RecordOf(*repo.store(), snapshot.id); Found(existing, &error))
    return existing;
  RETURN_IF_ERROR(error);
  ASSIGN_OR_RETURN(auto all, repo.ListSnapshots());
  return WatchIn(repo, all, snapshot, now_ns, lock_for_s, 0);
}

Result<std::vector<ChangeRecord>> ReadChangeRecords(ObjectStore& store) {
  ASSIGN_OR_RETURN(auto objects, store.List(kChangeSignalsPrefix));
  std::vector<ChangeRecord> out;
  for (const ObjectInfo& o : objects) {
    Id id;
    if (!Id::FromHex(std::string_view(o.key).substr(std::string_view(kChangeSignalsPrefix).size()),
                     &id))
      continue;
    Status error;
    auto r = RecordOf(store, id);
    if (Found(r, &error)) out.push_back(std::move(r).value());
    RETURN_IF_ERROR(error);
  }
  return out;
}

}  // namespace dr
