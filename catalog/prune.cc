#include "catalog/prune.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "catalog/format/blob.h"
#include "catalog/gc_record.h"
#include "catalog/reachability.h"
#include "catalog/session_marker.h"
#include "catalog/snapshot_summary.h"
#include "core/crash_point.h"
#include "core/timefmt.h"

namespace dr {

namespace {

// Entries per rewritten index segment (29 bytes each: about 3 MiB).
constexpr size_t kEntriesPerSegment = 100000;
// Live blobs of a pack being repacked closer than this are read together,
// in windows of at most kRepackWindow bytes (or one blob, if larger).
constexpr uint64_t kMergeGap = 256 << 10;
constexpr uint64_t kRepackWindow = 4 << 20;

struct PackUse {
  uint64_t referenced_bytes = 0;
  uint64_t blobs = 0;  // indexed at this pack (a duplicate indexed elsewhere is not)
  bool referenced = false;
};

// The bytes of a pack that are not blobs: its header and trailer.
uint64_t PackOverhead(uint64_t blobs) { return kPackTrailerSize + kPackEntrySize * blobs; }

// A fresh look at the repository: its index, every snapshot, and what they
// reference, per pack.
struct Look {
  std::unique_ptr<Repository> repo;
  std::vector<Snapshot> snapshots;
  std::unique_ptr<Reachability> reach;
  std::unordered_map<Id, PackUse, IdHash> use;  // indexed packs only
  std::unordered_set<Id, IdHash> indexed;
  // Packs whose referenced blobs this run copied into new packs.
  std::unordered_set<Id, IdHash> repacked;
};

std::string FirstOf(const std::vector<std::string>& problems, uint64_t count) {
  std::string s = problems.empty() ? "" : problems.front();
  if (count > 1) s += " (and " + std::to_string(count - 1) + " more)";
  return s;
}

// With `since` (a look taken earlier in this run), only the snapshots it did
// not see are walked, and a pack counts as referenced if it was then or is
// by them: snapshots never change, so what they referenced then they still
// do (one forgotten since is counted, which only keeps more). Except a pack
// this run repacked: what the earlier snapshots needed of it now has a copy
// in a new pack, which this look's index prefers.
// The snapshots are listed before the index is read (through `anchor`, an
// already open handle): a snapshot is written only after the segments
// listing its blobs, so each one listed has its blobs in the index read
// next, even while backups commit.
Result<Look> TakeLook(const RepositoryOpener& open, Repository& anchor, PruneReport* report,
                      const Look* since = nullptr) {
  Look look;
  std::vector<std::string> bad;
  ASSIGN_OR_RETURN(look.snapshots,
                   ListSnapshotsIn(anchor.store(), anchor.names(), &bad, anchor.keyring()));
  ASSIGN_OR_RETURN(look.repo, open());
  const std::string url = look.repo->store()->Url();
  const auto& warnings = look.repo->open_warnings();
  if (!warnings.empty()) {
    return Status::Corruption("prune deletes nothing while " + url + " has problems: " +
                              FirstOf(warnings, warnings.size()) + "; run drctl check");
  }
  if (!bad.empty()) {
    return Status::Corruption("prune deletes nothing while a snapshot cannot be read: " +
                              FirstOf(bad, bad.size()) + "; run drctl check");
  }
  look.reach = std::make_unique<Reachability>(look.repo->IndexedBlobCount());
  std::vector<Snapshot> to_walk;
  if (since) {
    std::unordered_set<Id, IdHash> seen;
    for (const auto& s : since->snapshots) seen.insert(s.id);
    for (const auto& s : look.snapshots)
      if (!seen.count(s.id)) to_walk.push_back(s);
  }
  RETURN_IF_ERROR(MarkReachable(*look.repo, since ? to_walk : look.snapshots, look.reach.get()));
  if (look.reach->missing_count > 0) {
    return Status::Corruption(
        "prune deletes nothing while snapshots reference blobs the index "
        "lacks: " +
        FirstOf(look.reach->missing, look.reach->missing_count) + "; run drctl check");
  }
  for (const Id& p : look.repo->IndexedPacks()) look.indexed.insert(p);
  size_t ordinal = 0;
  look.repo->ForEachIndexedBlob([&](const Id&, const BlobLocation& loc) {
    PackUse& u = look.use[loc.pack];
    u.blobs++;
    if (look.reach->set.Test(ordinal)) {
      u.referenced = true;
      u.referenced_bytes += loc.stored_len;
    }
    ++ordinal;
  });
  if (since) {
    for (const auto& [pack, u] : since->use)
      if (u.referenced && !since->repacked.count(pack)) look.use[pack].referenced = true;
    return look;
  }
  report->snapshots = look.snapshots.size();
  report->blobs_indexed = look.repo->IndexedBlobCount();
  report->blobs_referenced = look.reach->set.count();
  report->reachability_bytes =
      std::max<uint64_t>(report->reachability_bytes, look.reach->set.MemoryBytes());
  return look;
}

// The live session markers by key; dead ones are removed (not in a dry run),
// which is what lets their owners notice (SessionMarker::StillValid).
Result<std::map<std::string, MarkerInfo>> LiveSessions(ObjectStore* store, bool dry_run,
                                                       PruneReport* report) {
  const int64_t now = NowUnixNs();
  ASSIGN_OR_RETURN(auto markers, ListSessionMarkers(store, now));
  std::map<std::string, MarkerInfo> live;
  for (auto& m : markers) {
    if (!MarkerIsDead(m, now)) {
      live[m.key] = std::move(m);
    } else if (!dry_run) {
      RETURN_IF_ERROR(store->Delete(m.key));
      report->stale_sessions_removed++;
    }
  }
  return live;
}

Status PutRecord(ObjectStore* store, const GcRecord& r) {
  return store->Put(r.key, EncodeGcRecord(r));
}

class PruneRun {
 public:
  PruneRun(const RepositoryOpener& open, const PruneOptions& opt) : open_(open), opt_(opt) {}

  Result<PruneReport> Run() {
    const auto start = std::chrono::steady_clock::now();
    ASSIGN_OR_RETURN(anchor_, open_());
    store_ = anchor_->store();
    if (!opt_.dry_run) {
      ASSIGN_OR_RETURN(lock_, SessionMarker::Lock(store_, kPruneLockKey, "prune"));
    }
    // An off-site copy of an encrypted namespace is pruned by its vault from
    // the summaries' pack lists (keyless_prune.h): packs repacked here would
    // be listed by no summary, and the keyless prune would delete them.
    ASSIGN_OR_RETURN(auto summaries, store_->List(kSummaryPrefix));
    if (!summaries.empty()) {
      return Status::InvalidArgument(
          store_->Url() +
          " holds snapshot summaries: it is an off-site copy its vault prunes without the key; "
          "prune it there (prune_every), not with drctl");
    }
    ASSIGN_OR_RETURN(auto segments, store_->List("index/"));
    report_.segments_before = report_.segments_after = segments.size();

    RETURN_IF_ERROR(DeleteRipe(nullptr));
    Look condemned_by;
    ASSIGN_OR_RETURN(bool nobody_waiting, Condemn(&condemned_by));
    // The fresh look of this second pass walks only snapshots written since
    // the condemnation's look.
    if (nobody_waiting && !opt_.dry_run) RETURN_IF_ERROR(DeleteRipe(&condemned_by));
    if (!opt_.dry_run && report_.segments_after > kMaxSegmentsBeforeMerge) {
      Log("merging " + std::to_string(report_.segments_after) + " index segments");
      ASSIGN_OR_RETURN(auto replaced, RewriteIndexWithout(store_, anchor_->names(), {}, &report_));
      RETURN_IF_ERROR(DeleteKeys(store_, replaced, "prune-segment-deleted"));
    }
    report_.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return report_;
  }

 private:
  void Log(const std::string& line) {
    if (opt_.log) opt_.log(line);
  }

  // Step 1: delete what armed records condemned, once their sessions ended.
  Status DeleteRipe(const Look* since) {
    ASSIGN_OR_RETURN(auto records, ListGcRecords(store_));
    if (records.empty()) return Status::OK();
    ASSIGN_OR_RETURN(auto live, LiveSessions(store_, opt_.dry_run, &report_));
    std::vector<GcRecord> ripe;
    report_.records_waiting = 0;
    report_.waiting_for.clear();
    for (auto& r : records) {
      if (!r.armed) {
        // A prune stopped between writing and arming it: the record has been
        // visible since, so the sessions alive now cover everyone who may
        // have missed it.
        r.armed = true;
        for (const auto& [key, m] : live) r.sessions.push_back(key);
        if (!opt_.dry_run) RETURN_IF_ERROR(PutRecord(store_, r));
      }
      std::vector<std::string> waiting;
      for (const auto& k : r.sessions)
        if (live.count(k)) waiting.push_back(live.at(k).Describe());
      if (waiting.empty()) {
        ripe.push_back(std::move(r));
      } else {
        report_.records_waiting++;
        for (auto& w : waiting) report_.waiting_for.push_back(std::move(w));
      }
    }
    if (ripe.empty()) return Status::OK();

    // Every session that could have missed the records has ended, so this
    // look sees every snapshot that may use their packs.
    ASSIGN_OR_RETURN(Look look, TakeLook(open_, *anchor_, &report_, since));
    ASSIGN_OR_RETURN(auto stored, StoredPacks(store_));
    std::unordered_set<Id, IdHash> doomed;
    for (const auto& r : ripe) {
      for (const Id& p : r.packs) {
        auto u = look.use.find(p);
        if (u != look.use.end() && u->second.referenced) {
          report_.packs_rescued++;
        } else if (doomed.insert(p).second && stored.count(p)) {
          report_.packs_deleted++;
          report_.bytes_deleted += stored.at(p);
        }
      }
    }
    Log("deleting " + std::to_string(report_.packs_deleted) + " packs (" +
        HumanBytes(static_cast<double>(report_.bytes_deleted)) + ")");
    if (opt_.dry_run) return Status::OK();

    // New segments first, so no reader ever finds a live pack unlisted; the
    // records stay until the end, so writers keep away from the doomed
    // packs even if we stop halfway.
    ASSIGN_OR_RETURN(auto replaced,
                     RewriteIndexWithout(store_, look.repo->names(), doomed, &report_));
    CrashPoint("prune-index-rewritten");
    std::vector<std::string> pack_keys;
    for (const Id& p : doomed)
      if (stored.count(p)) pack_keys.push_back(PackKey(p));
    RETURN_IF_ERROR(DeleteKeys(store_, pack_keys, "prune-pack-deleted"));
    RETURN_IF_ERROR(DeleteKeys(store_, replaced, "prune-segment-deleted"));
    for (const auto& r : ripe) {
      RETURN_IF_ERROR(store_->Delete(r.key));
      report_.records_dropped++;
      CrashPoint("prune-record-dropped");
    }
    return Status::OK();
  }

  // Step 2: condemn; true when no session was alive to wait for.
  // `*look_out` receives the look it condemned by.
  Result<bool> Condemn(Look* look_out) {
    ASSIGN_OR_RETURN(*look_out, TakeLook(open_, *anchor_, &report_));
    Look& look = *look_out;
    ASSIGN_OR_RETURN(auto records, ListGcRecords(store_));
    std::unordered_set<Id, IdHash> already;
    for (const Id& p : CondemnedPacks(records)) already.insert(p);
    ASSIGN_OR_RETURN(auto stored, StoredPacks(store_));

    GcRecord record;
    struct Partial {
      Id pack;
      uint64_t size, unused;
    };
    std::vector<Partial> partial;
    report_.packs = stored.size();
    report_.pack_bytes = report_.referenced_bytes = 0;
    for (const auto& [pack, size] : stored) {
      report_.pack_bytes += size;
      auto u = look.use.find(pack);
      const uint64_t referenced = u == look.use.end() ? 0 : u->second.referenced_bytes;
      report_.referenced_bytes += referenced;
      if (already.count(pack)) continue;
      if (!look.indexed.count(pack)) {
        report_.condemned_unindexed++;
      } else if (u == look.use.end() || !u->second.referenced) {
        report_.condemned_unused++;
      } else {
        // Only what no snapshot needs is waste, not the header listing it: a
        // pack whose every blob is live is never repacked.
        const uint64_t needed = referenced + PackOverhead(u->second.blobs);
        if (needed < size) partial.push_back({pack, size, size - needed});
        continue;
      }
      record.packs.push_back(pack);
      report_.condemned_bytes += size;
    }
    // Most garbage (by share) first, until what is left is within bounds.
    std::sort(partial.begin(), partial.end(), [](const Partial& a, const Partial& b) {
      return static_cast<double>(a.unused) / a.size > static_cast<double>(b.unused) / b.size;
    });
    uint64_t unused_left = 0;
    for (const auto& p : partial) unused_left += p.unused;
    // At most max_unused of what the packs hold afterwards (used + unused)
    // is unused, as restic counts it: unused <= used * p / (1 - p).
    const double allowed = opt_.max_unused >= 1.0
                               ? std::numeric_limits<double>::infinity()
                               : opt_.max_unused / (1.0 - opt_.max_unused) *
                                     static_cast<double>(report_.referenced_bytes);
    std::unordered_set<Id, IdHash> repack;
    for (const auto& p : partial) {
      if (static_cast<double>(unused_left) <= allowed) break;
      repack.insert(p.pack);
      unused_left -= p.unused;
    }
    RETURN_IF_ERROR(Repack(look, stored, repack, &record));
    if (record.packs.empty()) return true;
    Log("condemning " + std::to_string(record.packs.size()) + " packs (" +
        HumanBytes(static_cast<double>(report_.condemned_bytes)) + ")");
    if (opt_.dry_run) return true;

    record.time_ns = NowUnixNs();
    record.key = NewGcRecordKey(record.time_ns);
    RETURN_IF_ERROR(PutRecord(store_, record));
    CrashPoint("prune-condemned");
    // Listed only now that the record is durable: a session not listed here
    // started after it and reads it (Repository::RefreshExclusions).
    ASSIGN_OR_RETURN(auto live, LiveSessions(store_, false, &report_));
    record.armed = true;
    for (const auto& [key, m] : live) {
      record.sessions.push_back(key);
      report_.waiting_for.push_back(m.Describe());
    }
    if (!live.empty()) report_.records_waiting++;
    RETURN_IF_ERROR(PutRecord(store_, record));
    CrashPoint("prune-armed");
    return live.empty();
  }

  // Copies the referenced blobs of `packs` into new packs (verified on the
  // way: a damaged blob is never copied, and its pack is left alone), then
  // adds the packs to `record`.
  Status Repack(Look& look, const std::unordered_map<Id, uint64_t, IdHash>& stored,
                const std::unordered_set<Id, IdHash>& packs, GcRecord* record) {
    if (packs.empty()) return Status::OK();
    // A copy must never be written under the name of a pack this record
    // condemns: the same live blobs in the same order make the same bytes
    // (as its source, or as an unindexed copy a killed prune left), and the
    // record would then condemn the copy too. Earlier records' packs are
    // excluded already (Repository::Open).
    std::vector<Id> condemned(packs.begin(), packs.end());
    condemned.insert(condemned.end(), record->packs.begin(), record->packs.end());
    look.repo->ExcludePacks(condemned);
    std::unordered_map<Id, std::vector<std::pair<Id, BlobLocation>>, IdHash> live;
    size_t ordinal = 0;
    look.repo->ForEachIndexedBlob([&](const Id& id, const BlobLocation& loc) {
      if (packs.count(loc.pack) && look.reach->set.Test(ordinal))
        live[loc.pack].push_back({id, loc});
      ++ordinal;
    });
    Log("repacking " + std::to_string(packs.size()) + " packs");
    std::vector<Id> done;
    // One buffer for every pack read, and one for decoding: packs are tens
    // of MiB, and a fresh allocation per pack costs more in page faults and
    // zero-filling than reading it.
    // The live blobs are read a window at a time (neighbours together, at
    // most kRepackWindow unless one blob is larger) into one reused buffer,
    // verified, and only then copied: memory stays at a window, not a pack.
    std::string window;
    Repository::BlobBuffers buffers;
    for (auto& [pack, blobs] : live) {
      if (opt_.dry_run) {
        for (const auto& [id, loc] : blobs) report_.repacked_bytes += loc.stored_len;
        report_.repacked_blobs += blobs.size();
        done.push_back(pack);
        continue;
      }
      const uint64_t size = stored.at(pack);
      const std::string key = PackKey(pack);
      const std::string what = "pack " + pack.Hex();
      std::sort(blobs.begin(), blobs.end(),
                [](const auto& a, const auto& b) { return a.second.offset < b.second.offset; });
      auto end_of = [](const BlobLocation& l) { return uint64_t{l.offset} + l.stored_len; };
      bool damaged = false;
      for (size_t i = 0; i < blobs.size() && !damaged;) {
        const uint64_t begin = blobs[i].second.offset;
        uint64_t end = end_of(blobs[i].second);
        size_t j = i + 1;
        while (j < blobs.size() && blobs[j].second.offset <= end + kMergeGap &&
               end_of(blobs[j].second) - begin <= kRepackWindow) {
          end = std::max(end, end_of(blobs[j].second));
          ++j;
        }
        if (end > size) {
          report_.warnings.push_back("not repacking " + pack.Hex() + ": a blob lies past its end");
          damaged = true;
          break;
        }
        if (window.size() < end - begin) window.resize(end - begin);
        RETURN_IF_ERROR(store_->ReadRangeInto(key, begin, end - begin, window.data()));
        for (size_t k = i; k < j && !damaged; ++k) {
          const auto& [id, loc] = blobs[k];
          std::string_view blob(window.data() + (loc.offset - begin), loc.stored_len);
          auto check = look.repo->DecodePacked(loc.type, id, loc.raw_len, blob, what, &buffers);
          if (!check.ok()) {
            report_.warnings.push_back("not repacking " + pack.Hex() + ": " +
                                       check.status().message());
            damaged = true;
          }
        }
        // A damaged pack stays whole; what of it was copied before the
        // damage showed is a harmless second copy.
        for (size_t k = i; k < j && !damaged; ++k) {
          const auto& [id, loc] = blobs[k];
          RETURN_IF_ERROR(look.repo->CopyPackedBlob(
              loc.type, id, std::string_view(window.data() + (loc.offset - begin), loc.stored_len),
              loc.raw_len));
          report_.repacked_bytes += loc.stored_len;
          report_.repacked_blobs++;
        }
        i = j;
      }
      if (!damaged) done.push_back(pack);
    }
    if (!opt_.dry_run) {
      RETURN_IF_ERROR(look.repo->Flush());
      CrashPoint("prune-repacked");
    }
    for (const Id& p : done) {
      look.repacked.insert(p);
      record->packs.push_back(p);
      report_.condemned_repacked++;
      report_.condemned_bytes += stored.at(p);
    }
    return Status::OK();
  }

  const RepositoryOpener& open_;
  PruneOptions opt_;
  PruneReport report_;
  std::unique_ptr<Repository> anchor_;  // owns store_
  ObjectStore* store_ = nullptr;
  std::unique_ptr<SessionMarker> lock_;
};

}  // namespace

Result<std::unordered_map<Id, uint64_t, IdHash>> StoredPacks(ObjectStore* store) {
  ASSIGN_OR_RETURN(auto objects, store->List("data/"));
  std::unordered_map<Id, uint64_t, IdHash> out;
  for (const auto& o : objects) {
    Id id;
    if (PackIdFromKey(o.key, &id)) out[id] = o.size;
  }
  return out;
}

Status DeleteKeys(ObjectStore* store, const std::vector<std::string>& keys, const char* point) {
  for (const auto& k : keys) {
    RETURN_IF_ERROR(store->Delete(k));
    CrashPoint(point);
  }
  return Status::OK();
}

Result<std::vector<std::string>> RewriteIndexWithout(ObjectStore* store, const KeyedHasher& hasher,
                                                     const std::unordered_set<Id, IdHash>& drop,
                                                     PruneReport* report) {
  ASSIGN_OR_RETURN(auto segments, store->List("index/"));
  std::unordered_set<Id, IdHash> emitted;
  std::vector<IndexPack> out;
  size_t out_entries = 0;
  std::vector<std::string> replaced;
  std::unordered_set<std::string> written;
  auto write = [&]() -> Status {
    if (out.empty()) return Status::OK();
    std::string seg = EncodeIndexSegment(out);
    std::string key = "index/" + hasher.Hash(seg).Hex();
    RETURN_IF_ERROR(store->Put(key, seg));
    written.insert(key);
    out.clear();
    out_entries = 0;
    return Status::OK();
  };
  for (const auto& s : segments) {
    auto raw = store->Get(s.key);
    if (!raw.ok()) {
      if (raw.status().IsNotFound()) continue;
      return raw.status();
    }
    auto packs = DecodeIndexSegment(*raw, store->Url() + "/" + s.key);
    if (!packs.ok()) {  // kept for check to report; its packs stay listed by it
      report->warnings.push_back(packs.status().message());
      continue;
    }
    replaced.push_back(s.key);
    for (auto& p : *packs) {
      if (drop.count(p.pack) || !emitted.insert(p.pack).second) continue;
      out_entries += p.entries.size();
      out.push_back(std::move(p));
      if (out_entries >= kEntriesPerSegment) RETURN_IF_ERROR(write());
    }
  }
  RETURN_IF_ERROR(write());
  // A rewritten segment can equal an old one byte for byte (same key).
  std::erase_if(replaced, [&](const std::string& k) { return written.count(k) > 0; });
  report->segments_after = segments.size() - replaced.size() + written.size();
  return replaced;
}

Result<PruneReport> Prune(const RepositoryOpener& open, const PruneOptions& options) {
  PruneRun run(open, options);
  return run.Run();
}

}  // namespace dr
