#include "replicator/vault/offsite_replicator.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <unordered_set>

#include "catalog/format/index.h"
#include "catalog/format/pack.h"
#include "catalog/format/snapshot.h"
#include "catalog/repo_keys.h"
#include "catalog/repository.h"
#include "catalog/retention_lock.h"
#include "catalog/snapshot_summary.h"
#include "catalog/store/dir_store.h"
#include "catalog/store/object_store.h"
#include "core/crash_point.h"
#include "core/timefmt.h"
#include "replicator/vault/namespace_keys.h"
#include "replicator/vault/offsite_cursor.h"
#include "replicator/vault/offsite_references.h"
#include "replicator/vault/vault_log.h"
#include "replicator/wire/vault_client.h"
#include "replicator/wire/vault_store.h"

namespace dr {

namespace {

// Whether the peer holds `key` already. Write-once objects: one of `size`
// bytes is the one we wrote (the peer verified its content against its id
// when it was put); one of another size is an error.
Result<bool> PeerHas(VaultClient& peer, const std::string& key, uint64_t size) {
  auto have = peer.Call(wire::Get{0, key, 0, 0});
  if (have.status().IsNotFound()) return false;
  if (!have.ok()) return have.status();
  const auto* d = std::get_if<wire::Data>(&*have);
  if (d && d->object_size == size) return true;
  return Status::Corruption(key + " differs at the off-site peer (" +
                            std::to_string(d ? d->object_size : 0) + " bytes there, " +
                            std::to_string(size) + " here)");
}

// Puts `data` as object `key` at the peer, in parts.
Status PutAtPeer(VaultClient& peer, const std::string& key, const std::string& data,
                 uint64_t* sent) {
  std::vector<std::future<Result<wire::Message>>> parts;
  uint64_t offset = 0;
  do {
    const size_t n = std::min<size_t>(wire::kMaxDataBytes, data.size() - offset);
    parts.push_back(peer.Request(wire::Put{0, key, data.size(), offset, data.substr(offset, n)}));
    offset += n;
  } while (offset < data.size());
  for (auto& f : parts) RETURN_IF_ERROR(f.get().status());
  *sent += data.size();
  return Status::OK();
}

// Copies one object to the peer unless it has it already.
Status CopyObject(VaultClient& peer, ObjectStore& local, const std::string& key, uint64_t* sent) {
  ASSIGN_OR_RETURN(uint64_t size, local.Size(key));
  ASSIGN_OR_RETURN(bool there, PeerHas(peer, key, size));
  if (there) return Status::OK();
  ASSIGN_OR_RETURN(std::string data, local.Get(key));
  return PutAtPeer(peer, key, data, sent);
}

}  // namespace

OffsiteReplicator::OffsiteReplicator(VaultConfig config, AgentRegistry* registry,
                                     VaultMetrics* metrics)
    : config_(std::move(config)), registry_(registry), metrics_(metrics) {
  thread_ = std::thread([this] { Loop(); });
}

OffsiteReplicator::~OffsiteReplicator() {
  {
    std::lock_guard l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void OffsiteReplicator::Nudge() {
  std::lock_guard l(mu_);
  nudged_ = true;
  cv_.notify_all();
}

void OffsiteReplicator::Loop() {
  for (;;) {
    Cycle();
    std::unique_lock l(mu_);
    cv_.wait_for(l, std::chrono::seconds(config_.offsite->interval_s),
                 [this] { return stop_ || nudged_; });
    if (stop_) return;
    nudged_ = false;
  }
}

namespace {

// What one namespace still has to send to the peer, as listed at the start
// of a cycle.
struct Plan {
  std::vector<std::pair<int64_t, ObjectInfo>> snapshots;                  // oldest first
  std::map<std::string, Snapshot> decoded;                                // by key
  std::vector<std::pair<ObjectInfo, std::vector<std::string>>> segments;  // with their packs
  std::map<std::string, uint64_t> pack_size;
  bool unreadable = false;  // an index segment could not be read: copy no snapshot this cycle
  // Set for an encrypted namespace (the peer holds no key for it): keys the
  // group digests of the summaries sent beside its snapshots.
  std::optional<KeyedHasher> summary_ids;
  bool sealed() const { return summary_ids.has_value(); }
  int64_t oldest_ns = 0;
  uint64_t bytes = 0;
};

Result<Plan> PlanCopies(ObjectStore& local, const OffsiteCursor& cursor, const std::string& ns,
                        const Keyring* keys) {
  Plan plan;
  if (keys) plan.summary_ids.emplace(keys->id_secret());
  // Snapshots are listed first: a commit landing between the listings then
  // adds a segment we copy too, never a snapshot whose segment we did not list.
  ASSIGN_OR_RETURN(auto snaps, local.List("snapshots/"));
  ASSIGN_OR_RETURN(auto index, local.List("index/"));
  ASSIGN_OR_RETURN(auto packs, local.List("data/"));
  for (const auto& o : packs) plan.pack_size[o.key] = o.size;
  for (const auto& o : snaps) {
    if (cursor.snapshots.count(o.key)) continue;
    auto obj = local.Get(o.key);
    auto s = obj.ok() ? DecodeSnapshotObject(*obj, keys, o.key) : Result<Snapshot>(obj.status());
    if (!s.ok()) {
      // Only this snapshot waits; `check` at this site names it.
      LogEvent("offsite_skipped", {{"namespace", ns}, {"error", s.status().message()}});
      continue;
    }
    plan.snapshots.push_back({s->time_ns, o});
    SnapshotIdFromKey(o.key, &s->id);  // listed under snapshots/: always one
    plan.decoded[o.key] = *s;
    plan.bytes += o.size;
    if (plan.oldest_ns == 0 || s->time_ns < plan.oldest_ns) plan.oldest_ns = s->time_ns;
  }
  std::sort(plan.snapshots.begin(), plan.snapshots.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  // The packs of uncopied segments count as lag even if some are there already.
  for (const auto& o : index) {
    if (cursor.index.count(o.key)) continue;
    auto seg = local.Get(o.key);
    auto decoded =
        seg.ok() ? DecodeIndexSegment(*seg, o.key) : Result<std::vector<IndexPack>>(seg.status());
    if (!decoded.ok()) {
      LogEvent("offsite_error", {{"namespace", ns}, {"error", decoded.status().message()}});
      plan.unreadable = true;
      continue;
    }
    std::vector<std::string> keys;
    for (const auto& p : *decoded) {
      keys.push_back(PackKey(p.pack));
      plan.bytes += plan.pack_size[keys.back()];
    }
    plan.bytes += o.size;
    plan.segments.push_back({o, std::move(keys)});
  }
  return plan;
}

}  // namespace

// One namespace's copy in one cycle: the plan's data in commit order, the
// cursor saved after each step, lag published as it shrinks.
class OffsiteReplicator::NamespaceCopy {
 public:
  NamespaceCopy(OffsiteReplicator& owner, std::string ns, ObjectStore& local, Plan plan)
      : owner_(owner),
        ns_(std::move(ns)),
        local_(local),
        state_(owner.config_.state_dir),
        cursor_key_(OffsiteCursorKey(ns_)),
        plan_(std::move(plan)) {
    lag_ = owner_.metrics_->lags()[ns_];
    sent_before_ = lag_.bytes_sent;
  }

  void set_cursor(OffsiteCursor c) { cursor_ = std::move(c); }
  // Runs once the peer has the config and the segments, before the first
  // snapshot is copied.
  void set_before_snapshots(std::function<Status()> fn) { before_snapshots_ = std::move(fn); }
  bool nothing_to_do() const {
    return plan_.snapshots.empty() && plan_.segments.empty() && cursor_.config;
  }
  OffsiteLag& lag() { return lag_; }
  const Plan& plan() const { return plan_; }

  void Publish() {
    lag_.bytes_sent = sent_before_ + sent_;
    lag_.bytes = plan_.bytes;
    lag_.snapshots = plan_.snapshots.size();
    lag_.oldest_pending_ns = plan_.oldest_ns;
    owner_.metrics_->SetLag(ns_, lag_);
  }

  // Copies everything planned; the first failure is logged and returned.
  Status Run(VaultClient& peer) {
    Status s = Copy(peer);
    if (!s.ok()) {
      lag_.peer_reachable = s.code() != Code::kUnavailable;
      LogEvent("offsite_error", {{"namespace", ns_}, {"error", s.message()}});
    }
    Publish();
    return s;
  }

 private:
  Status Save() {
    Status s = SaveOffsiteCursor(state_, cursor_key_, cursor_);
    // Without a saved cursor the next cycle copies again (idempotent), but a
    // state directory that cannot be written must be seen by the operator.
    return s.WithContext("save off-site cursor " + cursor_key_);
  }

  Status Copy(VaultClient& peer) {
    if (!cursor_.config) {
      RETURN_IF_ERROR(CopyObject(peer, local_, "config", &sent_));
      cursor_.config = true;
      RETURN_IF_ERROR(Save());
    }
    if (plan_.sealed()) RETURN_IF_ERROR(CopyKeys(peer));
    for (const auto& [seg, pack_keys] : plan_.segments) {
      for (const auto& key : pack_keys) {
        RETURN_IF_ERROR(CopyObject(peer, local_, key, &sent_));
        CrashPoint("offsite-pack-copied");
        plan_.bytes -= std::min(plan_.bytes, plan_.pack_size[key]);
        Publish();
      }
      RETURN_IF_ERROR(CopyObject(peer, local_, seg.key, &sent_));
      CrashPoint("offsite-segment-copied");
      plan_.bytes -= std::min(plan_.bytes, seg.size);
      cursor_.index.insert(seg.key);
      RETURN_IF_ERROR(Save());
    }
    if (plan_.unreadable) {
      return Status::Corruption("namespace " + ns_ +
                                ": an index segment is unreadable; no snapshot is copied until "
                                "`check` is clean");
    }
    if (before_snapshots_) RETURN_IF_ERROR(before_snapshots_());
    auto& snaps = plan_.snapshots;
    // A peer holding no key cannot say which blobs it lacks: each sealed
    // snapshot's summary lists its packs instead (CopySummary).
    if (!snaps.empty() && !plan_.sealed()) RETURN_IF_ERROR(SendReferences(peer));
    while (!snaps.empty()) {
      const ObjectInfo o = snaps.front().second;
      // The peer holds no key: what its retention and prune need goes first.
      if (plan_.sealed()) RETURN_IF_ERROR(CopySummary(peer, plan_.decoded.at(o.key)));
      RETURN_IF_ERROR(CopyObject(peer, local_, o.key, &sent_));
      CrashPoint("offsite-snapshot-copied");
      cursor_.snapshots.insert(o.key);
      RETURN_IF_ERROR(Save());
      plan_.bytes -= std::min(plan_.bytes, o.size);
      snaps.erase(snaps.begin());
      plan_.oldest_ns = snaps.empty() ? 0 : snaps.front().first;
      Publish();
      LogEvent("offsite_snapshot_copied", {{"namespace", ns_}, {"key", o.key}});
    }
    return Status::OK();
  }

  // The summary of a sealed snapshot, with its reference list, after every
  // pack on that list is at the peer (its prune may have deleted one this
  // site still deduplicates against). One the peer holds already was
  // accepted with its packs present, and they are kept for it since.
  Status CopySummary(VaultClient& peer, const Snapshot& snapshot) {
    const std::string key = SummaryKey(snapshot.id);
    auto held = peer.Call(wire::Get{0, key, 0, 0});
    if (held.ok()) return Status::OK();
    if (!held.status().IsNotFound()) return held.status();
    if (!sealed_repo_) {
      // Opened after the snapshots were listed, so its index covers them; its
      // marker keeps this site's prune from deleting what is about to be read.
      ASSIGN_OR_RETURN(sealed_repo_,
                       OpenNamespaceRepository(owner_.config_, ns_, "off-site replication"));
    }
    ASSIGN_OR_RETURN(std::vector<Id> packs, ReferencedPacks(*sealed_repo_, snapshot));
    RETURN_IF_ERROR(SendPacksThePeerPruned(peer, packs));
    return PutAtPeer(peer, key, EncodeSnapshotSummary(snapshot, *plan_.summary_ids, packs), &sent_);
  }

  // Sends again, after an index segment naming them, the packs of `packs`
  // the peer does not hold (listed once per cycle, after this cycle's packs
  // went). The peer refuses a summary whose packs it lacks, so a pack it
  // deleted meanwhile costs a retry, never a snapshot it cannot restore.
  Status SendPacksThePeerPruned(VaultClient& peer, const std::vector<Id>& packs) {
    if (!peer_packs_) {
      peer_packs_.emplace();
      std::string after;
      for (;;) {
        ASSIGN_OR_RETURN(wire::Listing page,
                         Expect<wire::Listing>(peer.Call(wire::List{0, "data/", after})));
        for (const auto& e : page.entries) {
          Id id;
          if (PackIdFromKey(e.key, &id)) peer_packs_->insert(id);
        }
        if (!page.more || page.entries.empty()) break;
        after = page.entries.back().key;
      }
    }
    std::unordered_set<Id, IdHash> missing;
    for (const Id& p : packs)
      if (!peer_packs_->count(p)) missing.insert(p);
    if (missing.empty()) return Status::OK();
    const uint64_t before = sent_;
    // The segment first: a pack the peer stores is then always indexed there,
    // even if this stops in between (the peer's listing would show the pack
    // present next cycle, and its segment would never go). A segment naming
    // a pack not there yet only means that pack is sent next.
    auto [segment_key, segment] = PackIndexSegment(*sealed_repo_, missing);
    ASSIGN_OR_RETURN(bool there, PeerHas(peer, segment_key, segment.size()));
    if (!there) RETURN_IF_ERROR(PutAtPeer(peer, segment_key, segment, &sent_));
    for (const Id& p : missing) RETURN_IF_ERROR(CopyObject(peer, local_, PackKey(p), &sent_));
    peer_packs_->insert(missing.begin(), missing.end());
    LogEvent("offsite_packs_resent",
             {{"namespace", ns_}, {"packs", missing.size()}, {"bytes", sent_ - before}});
    return Status::OK();
  }

  // The slots and sealed keyrings of an encrypted namespace, so that the
  // escrowed master key or any slot's key opens the off-site copy on its
  // own. Few and small; the peer answers a copy it holds without storing.
  Status CopyKeys(VaultClient& peer) {
    for (const char* prefix : {kSlotPrefix, kKeyringPrefix}) {
      ASSIGN_OR_RETURN(auto objects, local_.List(prefix));
      for (const auto& o : objects) RETURN_IF_ERROR(CopyObject(peer, local_, o.key, &sent_));
    }
    return Status::OK();
  }

  // Every blob the planned snapshots reference is made present at the peer
  // first (offsite_references.h): its own prune may have deleted what this
  // site still deduplicates against.
  Status SendReferences(VaultClient& peer) {
    // Opened after the snapshots were listed, so its index covers them; its
    // marker keeps this site's prune from deleting what is about to be read.
    ASSIGN_OR_RETURN(auto repo,
                     OpenNamespaceRepository(owner_.config_, ns_, "off-site replication"));
    std::vector<Snapshot> snapshots;
    for (const auto& [time, o] : plan_.snapshots) snapshots.push_back(plan_.decoded.at(o.key));
    ASSIGN_OR_RETURN(ReferencesSent refs, SendMissingReferences(*repo, snapshots, peer));
    sent_ += refs.resent_bytes;
    if (refs.resent > 0) {
      owner_.metrics_->offsite_resent_blobs += refs.resent;
      LogEvent("offsite_blobs_resent", {{"namespace", ns_},
                                        {"blobs", refs.resent},
                                        {"bytes", refs.resent_bytes},
                                        {"referenced", refs.referenced}});
    }
    return Status::OK();
  }

  OffsiteReplicator& owner_;
  const std::string ns_;
  ObjectStore& local_;
  DirStore state_;
  const std::string cursor_key_;
  Plan plan_;
  OffsiteCursor cursor_;
  OffsiteLag lag_;
  uint64_t sent_before_ = 0;
  uint64_t sent_ = 0;
  std::function<Status()> before_snapshots_;
  // For sealed snapshots: this site's repository (opened with the
  // namespace's key) and the packs the peer holds.
  std::unique_ptr<Repository> sealed_repo_;
  std::optional<std::unordered_set<Id, IdHash>> peer_packs_;
};

void OffsiteReplicator::Cycle() {
  auto agents = registry_->All();
  if (!agents.ok()) {
    LogEvent("offsite_error", {{"error", agents.status().message()}});
    return;
  }
  std::set<std::string> namespaces;
  for (const auto& a : *agents)
    if ((a.rights & kRightBackup) && a.nspace != "*") namespaces.insert(a.nspace);
  auto client_keys = ReadKeyFile(config_.offsite_client_key_path());
  if (!client_keys.ok()) {
    LogEvent("offsite_error", {{"error", client_keys.status().message()}});
    return;
  }
  for (const std::string& ns : namespaces) {
    {
      std::lock_guard l(mu_);
      if (stop_) return;
    }
    bool peer_down = false;
    // Each failure is logged inside; the next namespace may do better.
    (void)ReplicateNamespace(ns, *client_keys, &peer_down);
    if (peer_down) return;  // no point asking again for every namespace: next cycle
  }
}

Status OffsiteReplicator::ReplicateNamespace(const std::string& ns, const CurveKeyPair& keys,
                                             bool* peer_down) {
  auto skip = [&](const Status& s) {
    LogEvent("offsite_skipped", {{"namespace", ns}, {"error", s.message()}});
    return s;
  };
  auto url = NamespaceRepositoryUrl(config_.repository, ns);
  if (!url.ok()) return skip(url.status());
  auto store = OpenObjectStore(*url);
  if (!store.ok()) return skip(store.status());
  ObjectStore& local = **store;
  if (auto config = local.Size("config"); !config.ok()) {
    if (config.status().IsNotFound()) return Status::OK();  // enrolled, no backup yet
    return skip(config.status());
  }
  DirStore state(config_.state_dir);
  OffsiteCursor cursor = LoadOffsiteCursor(state, OffsiteCursorKey(ns));
  std::shared_ptr<VaultClient> peer;
  // Connects once. On failure the peer is down for this cycle (the caller
  // stops it; the cursor keeps our place), with the lag when it is known.
  auto connect = [&](NamespaceCopy* copy) -> Status {
    if (peer) return Status::OK();
    auto connected = ConnectPeer(ns, keys);
    if (connected.ok()) {
      peer = std::move(connected).value();
      return Status::OK();
    }
    *peer_down = true;
    nlohmann::json fields = {{"namespace", ns},
                             {"peer", config_.offsite->endpoint},
                             {"error", connected.status().message()}};
    if (copy) {
      copy->lag().peer_reachable = false;
      copy->Publish();
      const int64_t oldest = copy->plan().oldest_ns;
      fields["lag_bytes"] = copy->plan().bytes;
      fields["lag_seconds"] = oldest ? (NowUnixNs() - oldest) / 1e9 : 0.0;
    }
    LogEvent("offsite_unreachable", std::move(fields));
    return Status::Unavailable(connected.status().message());
  };
  if (ReconcileDue(ns)) {
    // Connects even with nothing new to send: the peer may have lost what
    // the cursor says it holds.
    RETURN_IF_ERROR(connect(nullptr));
    VaultStore peer_store(peer);
    auto found = ReconcileCursor(local, peer_store, &cursor, &peer_segments_[ns]);
    if (!found.ok()) return skip(found.status().WithContext("reconcile with the off-site peer"));
    uint64_t sent = 0;
    for (const auto& pack : found->lost_packs) {
      if (Status copied = CopyObject(*peer, local, pack, &sent); !copied.ok())
        return skip(copied.WithContext("send a lost pack to the off-site peer"));
    }
    MarkReconciled(ns);
    // A rebuilt peer lost its locks too: each is offered again (one
    // question per lock, answered from the peer's listing).
    locks_sent_.erase(ns);
    if (found->total() > 0) {
      metrics_->offsite_refilled += found->total();
      LogEvent("offsite_refill", {{"namespace", ns},
                                  {"snapshots", found->snapshots},
                                  {"segments", found->segments},
                                  {"packs", found->packs},
                                  {"config", found->config}});
      if (Status saved = SaveOffsiteCursor(state, OffsiteCursorKey(ns), cursor); !saved.ok())
        return skip(saved);
    }
  }
  auto config_object = local.Get("config");
  if (!config_object.ok()) return skip(config_object.status());
  auto keyring = NamespaceKeyring(config_, ns, &local, *config_object);
  if (!keyring.ok()) return skip(keyring.status());
  auto plan = PlanCopies(local, cursor, ns, keyring->get());
  if (!plan.ok()) return skip(plan.status());
  NamespaceCopy copy(*this, ns, local, std::move(plan).value());
  copy.set_cursor(std::move(cursor));
  copy.Publish();
  // The peer applies its own retention as each snapshot arrives, so the
  // locks go after its config and before the snapshots, and are listed
  // after the snapshots were: a lock reaches the peer before any snapshot
  // committed after it.
  auto send_locks = [&] {
    return CopyLocks(
        ns, local, [&] { return connect(nullptr); }, peer);
  };
  if (copy.nothing_to_do()) return send_locks();  // the peer has the config
  RETURN_IF_ERROR(connect(&copy));
  copy.lag().peer_reachable = true;
  copy.set_before_snapshots(send_locks);
  return copy.Run(*peer);
}

Status OffsiteReplicator::CopyLocks(const std::string& ns, ObjectStore& local,
                                    const std::function<Status()>& connect,
                                    std::shared_ptr<VaultClient>& peer) {
  auto locks = local.List(kRetentionLockPrefix);
  if (!locks.ok()) {
    LogEvent("offsite_skipped", {{"namespace", ns}, {"error", locks.status().message()}});
    return locks.status();
  }
  std::set<std::string>& sent = locks_sent_[ns];
  uint64_t bytes = 0;
  for (const auto& o : *locks) {
    Id id;
    int64_t until = 0;
    // The peer would refuse a name that is not a lock's: never offered.
    if (sent.count(o.key) || !ParseRetentionLockKey(o.key, &id, &until)) continue;
    RETURN_IF_ERROR(connect());
    Status copied = CopyObject(*peer, local, o.key, &bytes);
    if (copied.code() == Code::kUnavailable || copied.code() == Code::kIOError) {
      LogEvent("offsite_skipped", {{"namespace", ns}, {"error", copied.message()}});
      return copied;
    }
    sent.insert(o.key);
    if (!copied.ok()) {
      // Refused there: logged once, and the snapshots still go.
      LogEvent("offsite_lock_refused", {{"namespace", ns}, {"error", copied.message()}});
      continue;
    }
    LogEvent("offsite_lock_sent",
             {{"namespace", ns}, {"snapshot", id.Hex()}, {"until", FormatRfc3339Utc(until)}});
  }
  return Status::OK();
}

Result<std::shared_ptr<VaultClient>> OffsiteReplicator::ConnectPeer(const std::string& ns,
                                                                    const CurveKeyPair& keys) {
  VaultAddress peer_addr{config_.offsite->endpoint, ns, config_.offsite->server_key, keys,
                         "vault-replicator"};
  VaultClientOptions opts;
  opts.first_connect = std::chrono::seconds(3);
  opts.give_up_after = std::chrono::seconds(30);
  ASSIGN_OR_RETURN(auto peer, VaultClient::Connect(peer_addr, opts));
  return std::shared_ptr<VaultClient>(std::move(peer));
}

bool OffsiteReplicator::ReconcileDue(const std::string& ns) const {
  auto it = last_reconcile_.find(ns);
  return it == last_reconcile_.end() ||
         std::chrono::steady_clock::now() - it->second >= ReconcileEvery();
}

void OffsiteReplicator::MarkReconciled(const std::string& ns) {
  last_reconcile_[ns] = std::chrono::steady_clock::now();
}

}  // namespace dr
