#include "catalog/keyless_prune.h"

#include <chrono>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "catalog/format/pack.h"
#include "catalog/format/repo_config.h"
#include "catalog/format/snapshot.h"
#include "catalog/gc_record.h"
#include "catalog/session_marker.h"
#include "catalog/snapshot_summary.h"
#include "core/crash_point.h"
#include "core/timefmt.h"

namespace dr {

namespace {

Result<std::set<Id>> IdsUnder(ObjectStore* store, const std::string& prefix) {
  ASSIGN_OR_RETURN(auto objects, store->List(prefix));
  std::set<Id> out;
  for (const auto& o : objects) {
    Id id;
    if (Id::FromHex(std::string_view(o.key).substr(prefix.size()), &id)) out.insert(id);
  }
  return out;
}

// What the summaries say is live, and which summaries are of forgotten snapshots.
struct Live {
  std::unordered_set<Id, IdHash> packs;
  std::vector<Id> forgotten_summaries;
};

Result<Live> LivePacks(ObjectStore* store, PruneReport* report) {
  // Snapshots are listed before the summaries: the peer puts a summary
  // before its snapshot, so each snapshot listed has its summary listed.
  ASSIGN_OR_RETURN(std::set<Id> snapshots, IdsUnder(store, "snapshots/"));
  ASSIGN_OR_RETURN(std::set<Id> forgotten, IdsUnder(store, "forgotten/"));
  ASSIGN_OR_RETURN(std::set<Id> summaries, IdsUnder(store, kSummaryPrefix));
  report->snapshots = snapshots.size();
  for (const Id& s : snapshots) {
    if (!summaries.count(s)) {
      return Status::Corruption("prune deletes nothing while snapshot " + s.Hex() + " in " +
                                store->Url() + " has no summary (its packs are not known here)");
    }
  }
  Live live;
  for (const Id& id : summaries) {
    if (!snapshots.count(id) && forgotten.count(id)) {
      live.forgotten_summaries.push_back(id);
      continue;
    }
    const std::string key = SummaryKey(id);
    auto bytes = store->Get(key);
    if (bytes.status().IsNotFound()) {
      // Forgotten since the listing, or taken away under a kept snapshot.
      if (!snapshots.count(id)) continue;
      return Status::Corruption("prune deletes nothing while snapshot " + id.Hex() + " in " +
                                store->Url() + " has no summary (its packs are not known here)");
    }
    if (!bytes.ok()) return bytes.status();
    std::vector<Id> packs;
    auto summary = DecodeSnapshotSummary(*bytes, store->Url() + "/" + key, &packs);
    if (!summary.ok()) {
      return Status::Corruption("prune deletes nothing while a summary cannot be read: " +
                                summary.status().message());
    }
    live.packs.insert(packs.begin(), packs.end());
  }
  return live;
}

}  // namespace

Result<PruneReport> PruneWithoutKey(ObjectStore* store, const KeylessPruneOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  auto log = [&](const std::string& line) {
    if (options.log) options.log(line);
  };
  PruneReport report;
  ASSIGN_OR_RETURN(std::string config_object, store->Get("config"));
  ASSIGN_OR_RETURN(RepoConfig config, RepoConfig::Decode(config_object, store->Url() + "/config"));
  if (!config.encrypted()) {
    return Status::InvalidArgument(store->Url() +
                                   " is not encrypted: prune it by its snapshots (drctl prune)");
  }
  ASSIGN_OR_RETURN(auto lock, SessionMarker::Lock(store, kPruneLockKey, "prune"));
  ASSIGN_OR_RETURN(auto segments, store->List("index/"));
  report.segments_before = report.segments_after = segments.size();

  ASSIGN_OR_RETURN(Live live, LivePacks(store, &report));
  ASSIGN_OR_RETURN(auto stored, StoredPacks(store));
  report.packs = stored.size();
  for (const auto& [pack, size] : stored) {
    report.pack_bytes += size;
    if (live.packs.count(pack)) report.referenced_bytes += size;
  }
  for (const Id& p : live.packs) {
    if (!stored.count(p)) {
      report.warnings.push_back("pack " + p.Hex() + " is listed by a summary but not stored in " +
                                store->Url() + "; run drctl check --without-key");
    }
  }

  // Readers of this store (a restore with the escrowed key, say) hold
  // session markers; a record waits for those alive when it was written, as
  // a keyed prune's does: one of them may have read an index listing a
  // condemned pack.
  const int64_t now = NowUnixNs();
  ASSIGN_OR_RETURN(auto markers, ListSessionMarkers(store, now));
  std::set<std::string> sessions;
  for (const auto& m : markers)
    if (!MarkerIsDead(m, now) && m.key != lock->key()) sessions.insert(m.key);

  // 1. Condemn what no live summary lists and no record holds yet.
  ASSIGN_OR_RETURN(auto records, ListGcRecords(store));
  std::unordered_set<Id, IdHash> condemned;
  for (const Id& p : CondemnedPacks(records)) condemned.insert(p);
  GcRecord fresh;
  for (const auto& [pack, size] : stored) {
    if (live.packs.count(pack) || condemned.count(pack)) continue;
    fresh.packs.push_back(pack);
    report.condemned_unused++;
    report.condemned_bytes += size;
  }
  if (!fresh.packs.empty()) {
    log("condemning " + std::to_string(fresh.packs.size()) + " packs (" +
        HumanBytes(static_cast<double>(report.condemned_bytes)) + ")");
    fresh.time_ns = now;
    fresh.key = NewGcRecordKey(now);
    fresh.armed = true;
    fresh.sessions.assign(sessions.begin(), sessions.end());
    RETURN_IF_ERROR(store->Put(fresh.key, EncodeGcRecord(fresh)));
    CrashPoint("keyless-prune-condemned");
    records.push_back(fresh);
  }

  // 2. Delete what records old enough hold and is still not live.
  std::vector<GcRecord> ripe;
  std::unordered_set<Id, IdHash> doomed;
  for (auto& r : records) {
    std::vector<std::string> waiting;
    for (const auto& k : r.sessions)
      if (sessions.count(k)) waiting.push_back(k);
    if (now - r.time_ns < options.grace_ns || !waiting.empty()) {
      report.records_waiting++;
      for (auto& k : waiting) report.waiting_for.push_back(std::move(k));
      continue;
    }
    for (const Id& p : r.packs) {
      if (live.packs.count(p)) {
        report.packs_rescued++;
      } else if (doomed.insert(p).second && stored.count(p)) {
        // One a stopped run deleted already is still dropped from the
        // index: its old segments may be left.
        report.packs_deleted++;
        report.bytes_deleted += stored.at(p);
      }
    }
    ripe.push_back(std::move(r));
  }
  if (!ripe.empty()) {
    log("deleting " + std::to_string(report.packs_deleted) + " packs (" +
        HumanBytes(static_cast<double>(report.bytes_deleted)) + ")");
    const KeyedHasher names(config.naming_secret());
    // New segments first, so no reader finds a live pack unlisted; the
    // records go last, so a run stopped halfway is finished by the next.
    ASSIGN_OR_RETURN(auto replaced, RewriteIndexWithout(store, names, doomed, &report));
    CrashPoint("keyless-prune-index-rewritten");
    std::vector<std::string> pack_keys;
    for (const Id& p : doomed)
      if (stored.count(p)) pack_keys.push_back(PackKey(p));
    RETURN_IF_ERROR(DeleteKeys(store, pack_keys, "keyless-prune-pack-deleted"));
    RETURN_IF_ERROR(DeleteKeys(store, replaced, "keyless-prune-segment-deleted"));
    for (const auto& r : ripe) {
      RETURN_IF_ERROR(store->Delete(r.key));
      report.records_dropped++;
    }
  }

  // 3. A forgotten snapshot's summary keeps nothing alive; its tombstone
  // stays, so the peer never sends the snapshot again.
  std::vector<std::string> forgotten;
  for (const Id& id : live.forgotten_summaries) forgotten.push_back(SummaryKey(id));
  RETURN_IF_ERROR(DeleteKeys(store, forgotten, "keyless-prune-summary-deleted"));
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace dr
