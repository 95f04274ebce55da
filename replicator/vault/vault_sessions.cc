#include "replicator/vault/vault_impl.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "catalog/format/snapshot.h"
#include "catalog/history.h"
#include "core/timefmt.h"
#include "replicator/vault/enrolment.h"
#include "replicator/vault/namespace_keys.h"
#include "replicator/vault/vault_log.h"

namespace dr {

using namespace vault_internal;

Status Vault::Impl::LoadRepository(const std::string& name, Namespace& ns, bool adopt) {
  // Read before the keyring: a rotation in between reopens once more,
  // never not at all.
  const KeysRotatedMark mark = ReadKeysRotatedMark(config_, name);
  auto repo = OpenNamespaceRepository(config_, name);
  if (!repo.ok()) {
    if (repo.status().IsNotFound())
      return Status::NotFound("namespace '" + name +
                              "' has no repository at this vault (drvault enrol creates it)");
    return repo.status();
  }
  RETURN_IF_ERROR(CheckNotRolledBack(config_, name, mark, (*repo)->keyring()));
  if (adopt) {
    // Packs written before a crash of this vault become usable again.
    ASSIGN_OR_RETURN(int adopted, (*repo)->AdoptUnindexedPacks());
    if (adopted > 0) LogEvent("packs_adopted", {{"namespace", name}, {"packs", adopted}});
  }
  std::vector<std::string> bad;
  ASSIGN_OR_RETURN(auto snapshots, (*repo)->ListSnapshots(&bad));
  for (const auto& b : bad) LogEvent("snapshot_unreadable", {{"namespace", name}, {"error", b}});
  if (adopt) RETURN_IF_ERROR(OpenHistory(name, ns));
  ns.owners = SnapshotOwners();
  for (const auto& snap : snapshots) ns.owners.Add(snap);
  ns.repo = std::move(repo).value();
  ns.rotated_mark = mark;
  return Status::OK();
}

void Vault::Impl::ReopenIfKeysRotated(const std::string& name, Namespace& ns) {
  if (!ns.repo || !ns.repo->keyring()) return;
  const KeysRotatedMark mark = ReadKeysRotatedMark(config_, name);
  if (mark == ns.rotated_mark) return;
  // The old instance's open pack and pending index entries are written
  // before it goes, and its sessions' blobs acknowledged: the new instance
  // reads them back from the index. A failed flush poisons the instance,
  // which the next housekeeping drops; the mark is looked at again then.
  if (Status flushed = ns.repo->Flush(); !flushed.ok()) return;
  AdvanceAcks();
  const uint32_t before = ns.repo->keyring()->current();
  Status reopened = LoadRepository(name, ns, /*adopt=*/false);
  if (!reopened.ok()) {
    // Going on with the old instance would seal new data with the key the
    // admin retired (and hide a rolled-back keyring): the namespace takes
    // no backup until a hello opens it again, or is refused with this.
    LogEvent("namespace_reopen_failed",
             {{"namespace", name}, {"data_key", before}, {"error", reopened.message()}});
    DropRepository(ns, reopened.WithContext("namespace " + name + " after a key rotation"));
    return;
  }
  for (auto& [id, s] : sessions_)
    if (s.ns == &ns) s.replica_view_fresh = false;
  LogEvent("namespace_keys_reloaded",
           {{"namespace", name}, {"data_key", ns.repo->keyring()->current()}});
}

Result<Vault::Impl::Namespace*> Vault::Impl::OpenNamespace(const std::string& name, bool for_backup,
                                                           bool for_replica) {
  Namespace& ns = namespaces_[name];
  if (for_backup && !ns.repo) RETURN_IF_ERROR(LoadRepository(name, ns, /*adopt=*/true));
  if (!ns.objects_store) {
    ASSIGN_OR_RETURN(std::string url, NamespaceRepositoryUrl(config_.repository, name));
    // A namespace arriving from the same-city site starts here empty.
    if (for_replica) RETURN_IF_ERROR(CreateRepositoryDirectory(url));
    ASSIGN_OR_RETURN(ns.objects_store, OpenObjectStore(url));
  }
  return &ns;
}

// What an encrypted namespace's own agents get in `welcome`: the keyring's
// plaintext, with which they read and write its data (never the master key).
// "" for a plaintext namespace.
Result<std::string> Vault::Impl::HandedKeyring(Namespace& ns, const std::string& name) {
  if (ns.repo) return ns.repo->keyring() ? ns.repo->keyring()->Encode() : std::string();
  // Off-site there is no key to hand: a reader brings its own (the escrow).
  if (!NamespaceKeySource(config_, name).given()) return std::string();
  auto config = ns.objects()->Get("config");
  if (config.status().IsNotFound()) return std::string();
  if (!config.ok()) return config.status();
  ASSIGN_OR_RETURN(auto keyring, NamespaceKeyring(config_, name, ns.objects(), *config));
  return keyring ? keyring->Encode() : std::string();
}

Status Vault::Impl::OpenHistory(const std::string& name, Namespace& ns) {
  if (ns.history) return Status::OK();
  auto history = NamespaceHistory::Open(config_, name);
  if (!history.ok()) return history.status().WithContext("history of namespace " + name);
  // A snapshot stored just before a crash cut its seal off is sealed now.
  RETURN_IF_ERROR((*history)->Settle());
  ns.history = std::move(history).value();
  return Status::OK();
}

Status Vault::Impl::BeginSeal(Session& s, const std::string& actor, const std::string& id_hex,
                              const std::string& bytes) {
  Status st = OpenHistory(s.nspace, *s.ns);
  if (st.ok()) st = s.ns->history->Begin(actor, id_hex, bytes);
  if (!st.ok()) {
    LogEvent("seal_failed",
             {{"namespace", s.nspace}, {"snapshot", id_hex}, {"error", st.message()}});
  }
  return st;
}

Status Vault::Impl::SettleSeal(Session& s) {
  Status st = OpenHistory(s.nspace, *s.ns);
  if (st.ok()) st = s.ns->history->Settle();
  if (!st.ok()) LogEvent("seal_failed", {{"namespace", s.nspace}, {"error", st.message()}});
  return st;
}

bool Vault::Impl::PrepareReplicaView(Session& s, uint64_t seq) {
  if (!Require(s, kRightReplicate, seq, "ask for missing chunks")) return false;
  if (s.replica_view_fresh && s.ns->repo) return true;
  // The session marker is up (hello), so what is read now stays true for
  // this session: a prune condemning later waits for it. Packs copied from
  // the peer adopt nothing here: their index segments follow them.
  Status st = s.ns->repo ? Status::OK() : LoadRepository(s.nspace, *s.ns, /*adopt=*/false);
  if (st.ok()) st = s.ns->repo->RefreshExclusions();
  // What this site's prune deleted, or lost behind the vault's back, is
  // missing whatever an index segment still says.
  if (st.ok()) st = s.ns->repo->ExcludeMissingPacks();
  if (!st.ok()) {
    ReplyError(s.routing, seq, st.WithContext("namespace " + s.nspace));
    return false;
  }
  s.replica_view_fresh = true;
  return true;
}

void Vault::Impl::HandleHello(const std::string& routing, const AgentEntry& agent,
                              const wire::Hello& h) {
  if (!IsValidNamespace(h.nspace)) {
    return Refuse(routing, nullptr, agent, 0, "'" + h.nspace + "' is not a valid namespace name");
  }
  if (agent.nspace != "*" && agent.nspace != h.nspace) {
    return Refuse(routing, nullptr, agent, 0,
                  "agent '" + agent.name + "' may not use namespace '" + h.nspace + "'");
  }
  if (agent.nspace == "*" && !(agent.rights & kRightReplicate)) {
    return Refuse(routing, nullptr, agent, 0, "agent '" + agent.name + "' has no namespace");
  }
  auto ns = OpenNamespace(h.nspace, agent.rights & kRightBackup, agent.rights & kRightReplicate);
  if (!ns.ok()) {
    LogEvent("session_refused",
             {{"agent", agent.name}, {"namespace", h.nspace}, {"error", ns.status().message()}});
    return ReplyError(routing, 0, ns.status());
  }
  // Before any session exists: a namespace whose key fails opens none.
  std::string keyring;
  if (agent.nspace == h.nspace && (agent.rights & (kRightBackup | kRightRestore))) {
    auto handed = HandedKeyring(**ns, h.nspace);
    if (!handed.ok()) {
      LogEvent(
          "session_refused",
          {{"agent", agent.name}, {"namespace", h.nspace}, {"error", handed.status().message()}});
      return ReplyError(routing, 0, handed.status());
    }
    keyring = std::move(handed).value();
  }
  Session* s = nullptr;
  bool resumed = false;
  if (h.resume_session) {
    auto it = sessions_.find(h.resume_session);
    if (it != sessions_.end() && it->second.agent.public_key == agent.public_key &&
        it->second.nspace == h.nspace) {
      s = &it->second;
      by_routing_.erase(s->routing);
      resumed = true;
    }
  }
  if (!s) {
    // One key cannot pile up sessions (each may hold a put being assembled):
    // past the limit its longest-silent session is forgotten.
    std::vector<std::pair<Clock::time_point, uint64_t>> mine;
    for (auto& [id, other] : sessions_)
      if (other.agent.public_key == agent.public_key) mine.push_back({other.last_seen, id});
    if (mine.size() >= kMaxSessionsPerKey) {
      auto oldest = std::min_element(mine.begin(), mine.end());
      by_routing_.erase(sessions_[oldest->second].routing);
      sessions_.erase(oldest->second);
      LogEvent("session_evicted", {{"agent", agent.name}, {"session", oldest->second}});
    }
    uint64_t id = 0;
    while (id == 0 || sessions_.count(id)) id = rng_();
    s = &sessions_[id];
    s->id = id;
    s->granted = config_.credit_bytes;
    s->highest_blob_seq = s->acked_seq = s->announced_acked_seq = h.last_acked_seq;
    s->opened_ns = NowUnixNs();
    metrics_.sessions_total++;
    metrics_.sessions_open = sessions_.size();
  }
  s->routing = routing;
  s->agent = agent;
  s->nspace = h.nspace;
  // Announce the acknowledged seq again: a credit sent before the cut may be lost.
  s->announced_acked_seq = ~0ull;
  s->ns = *ns;
  if (!s->marker) {
    // The marker goes up before the condemnation records are read again,
    // so a concurrent prune either waits for this session or this session
    // stops relying on what it condemned (docs/design.md).
    auto marker = SessionMarker::Begin(s->ns->objects(), "vault session of " + agent.name);
    Status excluded = marker.ok() && s->ns->repo ? s->ns->repo->RefreshExclusions() : Status::OK();
    if (!marker.ok() || !excluded.ok()) {
      const Status& why = marker.ok() ? excluded : marker.status();
      by_routing_.erase(routing);
      sessions_.erase(s->id);
      metrics_.sessions_open = sessions_.size();
      LogEvent("session_refused",
               {{"agent", agent.name}, {"namespace", h.nspace}, {"error", why.message()}});
      return ReplyError(routing, 0, why);
    }
    s->marker = std::move(marker).value();
  }
  s->last_seen = Clock::now();
  by_routing_[routing] = s->id;
  wire::Welcome w;
  w.session = s->id;
  w.credit_bytes = s->granted - s->used;
  w.resume_from_seq = s->highest_blob_seq;
  w.identity = agent.name;
  Repository* repo = s->ns->repo.get();
  // A replicating peer needs no repository parameters; of an encrypted
  // namespace it gets nothing of its keyring, not even the id secret.
  if (repo && !(repo->keyring() && agent.nspace == "*")) {
    w.chunk_min = repo->config().chunker.min_size;
    w.chunk_avg = repo->config().chunker.avg_size;
    w.chunk_max = repo->config().chunker.max_size;
    w.secret = repo->hasher().secret();
    w.compression_level = repo->config().compression_level;
  }
  w.keyring = std::move(keyring);
  LogEvent(resumed ? "session_resumed" : "session_open", {{"agent", agent.name},
                                                          {"namespace", h.nspace},
                                                          {"session", s->id},
                                                          {"rights", RightsToString(agent.rights)},
                                                          {"resume_from_seq", w.resume_from_seq}});
  Reply(routing, w);
}

bool Vault::Impl::Require(Session& s, unsigned right, uint64_t seq, const char* what) {
  if ((s.agent.rights & right) && (right != kRightBackup || s.ns->repo)) return true;
  if (s.agent.rights & right) {  // granted after this session opened without it
    EndSession(s, Status::PermissionDenied("rights changed; open a new session"));
    return false;
  }
  Refuse(s.routing, &s, s.agent, seq,
         "agent '" + s.agent.name + "' lacks the " + RightsToString(right) + " right to " + what);
  return false;
}

Status Vault::Impl::ReleasedOrValid(Session& s) {
  if (s.marker_released) {
    return Status::Unavailable(
        "this vault session was silent for over a minute and let go of its hold on the "
        "repository (a prune may have removed what it relied on); nothing is committed: run "
        "the backup again");
  }
  return s.marker ? s.marker->StillValid() : Status::OK();
}

uint64_t Vault::Impl::SessionMemory(const Session& s) {
  return s.put_data.capacity() + s.tree_cache.capacity() + s.list_cache_bytes +
         (s.pending_refs.size() + s.readable_trees.size()) * kIdSetEntryBytes +
         s.unacked.size() * sizeof(Unacked);
}

bool Vault::Impl::EndIfOverMemory(Session& s) {
  const uint64_t used = SessionMemory(s);
  if (used <= kMaxSessionMemory) return false;
  metrics_.bad_frames++;
  EndSession(s, Status::InvalidArgument("session holds " + std::to_string(used >> 20) +
                                        " MiB of vault memory, over the limit of " +
                                        std::to_string(kMaxSessionMemory >> 20) + " MiB"));
  return true;
}

void Vault::Impl::EndSession(Session& s, const Status& why) {
  LogEvent("session_ended",
           {{"agent", s.agent.name}, {"namespace", s.nspace}, {"error", why.message()}});
  ReplyError(s.routing, 0, why);
  by_routing_.erase(s.routing);
  sessions_.erase(s.id);
  metrics_.sessions_open = sessions_.size();
}

}  // namespace dr
