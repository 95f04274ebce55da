#include "replicator/vault/vault_impl.h"

#include <algorithm>
#include <filesystem>
#include <unordered_set>

#include "catalog/drill_record.h"
#include "catalog/format/metadata_refs.h"
#include "catalog/format/repo_config.h"
#include "catalog/format/snapshot.h"
#include "catalog/object_verify.h"
#include "catalog/snapshot_summary.h"
#include "core/env/file_io.h"
#include "core/timefmt.h"
#include "replicator/vault/object_keys.h"
#include "replicator/vault/vault_log.h"

namespace dr {

using namespace vault_internal;

void Vault::Impl::HandleGet(Session& s, const wire::Get& g) {
  if (!IsValidKey(g.key, false)) return Refuse(s.routing, &s, s.agent, g.seq, "invalid key");
  if (!MayReadAll(s)) {
    // The backup right reads only the snapshots it wrote, to find its parent.
    Id id;
    auto tree =
        SnapshotIdFromKey(g.key, &id) ? s.ns->owners.TreeIfOwnedBy(id, s.agent.name) : std::nullopt;
    if (!tree) {
      return Refuse(s.routing, &s, s.agent, g.seq,
                    "agent '" + s.agent.name + "' lacks the restore right to read " + g.key +
                        " (the backup right reads only the snapshots it wrote)");
    }
    s.readable_trees.insert(*tree);
  } else if (!s.data_read_audited && !IsReplicaSession(s) && g.key.rfind("data/", 0) == 0) {
    // What a restore, a drill, a mount or a verify does first with the
    // restore right: read stored data. Once per session, not per read.
    s.data_read_audited = true;
    AuditOrLog(audit_.get(), "agent " + s.agent.name, "read-data", s.nspace,
               {{"session", s.id}, {"first_object", g.key}});
  }
  // Reads go to the reader threads, so one restore's disk or RADOS latency
  // does not stall every other session behind this loop.
  ObjectStore* store = s.ns->objects();
  readers_->Submit([this, store, g, routing = s.routing] {
    Reply(routing, ServeGet(store, g));  // queued for the loop thread, see SendReplies
  });
}

// A get's answer (or its error), computed on a reader thread.
wire::Message Vault::Impl::ServeGet(ObjectStore* store, const wire::Get& g) {
  auto error = [&](const Status& st) {
    return wire::Error{g.seq, static_cast<uint16_t>(st.code()), st.message()};
  };
  // `length` is a maximum: the answer stops at the end of the object.
  auto size = store->Size(g.key);
  if (!size.ok()) return error(size.status());
  if (g.length == 0 || *size == 0) return wire::Data{g.seq, *size, {}};
  if (g.offset >= *size) return error(Status::InvalidArgument("offset past the end of " + g.key));
  auto bytes = store->GetRange(g.key, g.offset, std::min(g.length, *size - g.offset));
  if (!bytes.ok()) return error(bytes.status());
  return wire::Data{g.seq, *size, std::move(bytes).value()};
}

void Vault::Impl::HandleList(Session& s, const wire::List& l) {
  if (!IsValidKey(l.prefix, true)) return Refuse(s.routing, &s, s.agent, l.seq, "invalid prefix");
  const bool own_only = !MayReadAll(s);
  if (own_only && l.prefix.rfind("snapshots/", 0) != 0) {
    return Refuse(s.routing, &s, s.agent, l.seq,
                  "agent '" + s.agent.name + "' lacks the restore right to list " + l.prefix);
  }
  // The first page lists and sorts the prefix once; the session keeps that
  // listing for the next pages (start_after continues in it), so paging
  // through n objects costs one listing, not one per page.
  if (l.start_after.empty() || s.list_prefix != l.prefix) {
    auto listed = s.ns->objects()->List(l.prefix);
    if (!listed.ok()) return ReplyError(s.routing, l.seq, listed.status());
    std::sort(listed->begin(), listed->end(),
              [](const auto& a, const auto& b) { return a.key < b.key; });
    s.list_prefix = l.prefix;
    s.list_cache = std::move(listed).value();
    s.list_cache_bytes = 0;
    for (const auto& o : s.list_cache) s.list_cache_bytes += sizeof o + o.key.capacity();
  }
  const auto& all = s.list_cache;
  auto from = std::upper_bound(all.begin(), all.end(), l.start_after,
                               [](const std::string& k, const ObjectInfo& o) { return k < o.key; });
  wire::Listing page{l.seq, {}, false};
  for (auto it = from; it != all.end(); ++it) {
    const ObjectInfo& o = *it;
    if (own_only) {
      Id id;
      if (!SnapshotIdFromKey(o.key, &id) || !s.ns->owners.TreeIfOwnedBy(id, s.agent.name)) continue;
    }
    if (page.entries.size() == kListPage) {
      page.more = true;
      break;
    }
    page.entries.push_back({o.key, o.size});
  }
  if (!page.more) {  // the last page: the listing is not needed any more
    s.list_prefix.clear();
    std::vector<ObjectInfo>().swap(s.list_cache);
    s.list_cache_bytes = 0;
  }
  Reply(s.routing, page);
}

void Vault::Impl::HandleGetTree(Session& s, const wire::GetTree& g) {
  if (!Require(s, kRightBackup, g.seq, "read trees")) return;
  const bool own_only = !MayReadAll(s);
  if (own_only && !s.readable_trees.count(g.id)) {
    return Refuse(s.routing, &s, s.agent, g.seq,
                  "tree " + g.id.Hex() + " is not part of a snapshot agent '" + s.agent.name +
                      "' wrote and has read");
  }
  Repository& repo = *s.ns->repo;
  if (g.offset == 0 || s.tree_cache_id != g.id) {
    auto loc = repo.FindBlob(g.id);
    if (!loc || loc->type != BlobType::kTree)
      return ReplyError(s.routing, g.seq,
                        Status::NotFound("tree " + g.id.Hex() + " is not stored"));
    auto raw = repo.LoadBlob(g.id);
    if (!raw.ok()) return ReplyError(s.routing, g.seq, raw.status());
    if (own_only) {
      // Its subtrees (or block map parts) become readable: the agent walks
      // its parent from the root down.
      auto refs = MetadataReferences(*raw, "tree " + g.id.Hex());
      if (!refs.ok()) return ReplyError(s.routing, g.seq, refs.status());
      for (const Id& ref : *refs) {
        auto sub = repo.FindBlob(ref);
        if (sub && sub->type == BlobType::kTree) s.readable_trees.insert(ref);
      }
    }
    s.tree_cache = std::move(raw).value();
    s.tree_cache_id = g.id;
  }
  const uint64_t size = s.tree_cache.size();
  if (g.offset > size)
    return ReplyError(s.routing, g.seq,
                      Status::InvalidArgument("offset past the end of tree " + g.id.Hex()));
  const size_t n = std::min<uint64_t>(wire::kMaxDataBytes, size - g.offset);
  Reply(s.routing, wire::Data{g.seq, size, s.tree_cache.substr(g.offset, n)});
  if (g.offset + n == size) {  // the last page: the cache is not needed any more
    s.tree_cache_id = Id{};
    std::string().swap(s.tree_cache);
  }
}

// A peer's object is stored only if it is what its key says (content against
// id under the namespace secret, and decodable); what fails is kept aside in
// the state directory for the operator, never in the repository.
Status Vault::Impl::VerifyPut(Session& s, const std::string& key) {
  Namespace& ns = *s.ns;
  if (key != "config" && !ns.peer_hasher) {
    auto config = ns.objects()->Get("config");
    if (!config.ok())
      return Status::InvalidArgument("namespace '" + s.nspace +
                                     "' has no config yet: send it first");
    auto decoded = RepoConfig::Decode(*config, "config of namespace " + s.nspace);
    if (!decoded.ok()) return decoded.status();
    // An encrypted namespace's objects are named under the config's clear
    // naming secret; this site holds no key to open them (namespace_keys.h).
    ns.peer_hasher.emplace(decoded->naming_secret());
    ns.peer_sealed = decoded->encrypted();
  }
  Status verified =
      ns.peer_sealed && key != "config"
          ? VerifySealedRepositoryObject(key, s.put_data, *ns.peer_hasher)
          : VerifyRepositoryObject(key, s.put_data, ns.peer_hasher ? &*ns.peer_hasher : nullptr);
  if (verified.ok()) return verified;
  std::string name = key;
  std::replace(name.begin(), name.end(), '/', '_');
  const std::string dir = config_.state_dir + "/quarantine/" + s.nspace;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::string path = dir + "/" + name + "." + std::to_string(NowUnixNs());
  Status kept = ec ? Status::FromErrno(ec.value(), "create " + dir)
                   : WriteFileAtomically(path, s.put_data, ReplaceMode::kReplace);
  metrics_.objects_quarantined++;
  LogEvent("put_quarantined", {{"agent", s.agent.name},
                               {"namespace", s.nspace},
                               {"key", key},
                               {"error", verified.message()},
                               {"kept_at", kept.ok() ? path : kept.message()}});
  return verified;
}

Status Vault::Impl::SummaryPacksStored(Session& s, const std::string& key) {
  std::vector<Id> packs;
  RETURN_IF_ERROR(DecodeSnapshotSummary(s.put_data, key, &packs).status());
  if (packs.empty()) return Status::OK();
  Id first;
  ASSIGN_OR_RETURN(size_t missing, s.ns->stored_packs.Missing(
                                       s.ns->objects(), gate_.Closings(s.nspace), packs, &first));
  if (missing == 0) return Status::OK();
  // Not damage: pruned here since the peer looked. It sends them again.
  return Status::NotFound(key + " lists " + std::to_string(missing) +
                          " packs this site does not hold (" + first.Hex() +
                          (missing > 1 ? " and others" : "") + "); send them first");
}

void Vault::Impl::HandlePut(Session& s, const wire::Put& p) {
  // Besides a replicating peer's objects, the one thing an agent may write:
  // the record of a drill it ran (restore right), which only extends this
  // site's drill history (catalog/drill_record.h).
  const bool drill = p.key.rfind("drills/", 0) == 0;
  if (!Require(s, drill ? kRightRestore : kRightReplicate, p.seq,
               drill ? "record drills" : "write objects"))
    return;
  if (!IsValidKey(p.key, false) || !(drill || IsReplicableKey(p.key)))
    return Refuse(s.routing, &s, s.agent, p.seq, "key " + p.key + " may not be written");
  // A drill run opens its own session; more records on one session are a
  // flood, not drills.
  // (A client that reconnected resends its own record: that one may come
  // again, and is answered as stored when the bytes are the same.)
  if (drill && !s.drill_recorded.empty() && s.drill_recorded != p.key && p.offset == 0) {
    return ReplyError(s.routing, p.seq, Status::PermissionDenied("one drill record per session"));
  }
  if (p.total_size > (drill ? kMaxDrillRecordBytes : kMaxPutObject)) {
    return ReplyError(s.routing, p.seq,
                      Status::InvalidArgument(drill ? "drill record larger than 1 MiB"
                                                    : "object larger than 256 MiB"));
  }
  if (p.offset == 0) {
    s.put_key = p.key;
    s.put_total = p.total_size;
    s.put_data.clear();
  } else if (p.key == s.put_key && p.offset + p.bytes.size() <= s.put_data.size()) {
    return Reply(s.routing, wire::Ack{p.seq});  // a part resent after a lost ack
  } else if (p.key != s.put_key || p.offset != s.put_data.size() || p.total_size != s.put_total) {
    return ReplyError(s.routing, p.seq,
                      Status::InvalidArgument("put part out of order for " + p.key));
  }
  s.put_data.append(p.bytes);
  if (s.put_data.size() < s.put_total) return Reply(s.routing, wire::Ack{p.seq});
  ObjectStore* store = s.ns->objects();
  // A keyless prune of this namespace is running: the peer tries again.
  std::unique_lock<std::mutex> pass;
  if (!drill) pass = gate_.TryPass(s.nspace);
  Status st = drill               ? CheckNextDrillRecord(store, p.key, s.put_data)
              : !pass.owns_lock() ? Status::Unavailable("namespace '" + s.nspace +
                                                        "' is being pruned here; send again later")
                                  : VerifyPut(s, p.key);
  if (st.ok() && p.key.rfind(kSummaryPrefix, 0) == 0) st = SummaryPacksStored(s, p.key);
  // Like a commit: the blobs a replicating peer sent are indexed first, and
  // the snapshot relies on what this session found stored, which holds only
  // while its marker kept a prune waiting.
  if (st.ok() && p.key.rfind("snapshots/", 0) == 0) {
    if (s.ns->repo) st = s.ns->repo->Flush();
    if (st.ok()) st = ReleasedOrValid(s);
  }
  const bool snapshot = p.key.rfind("snapshots/", 0) == 0;
  // The copy is this site's to seal (history_log.h): journaled first.
  // A resend of one stored here needs no new journal: settling is enough.
  if (st.ok() && snapshot && store->Size(p.key).status().IsNotFound())
    st = BeginSeal(s, "peer " + s.agent.name, p.key.substr(sizeof "snapshots/" - 1), s.put_data);
  if (st.ok()) st = store->PutIfAbsent(p.key, s.put_data);
  const bool created = st.ok();  // a resend of what is stored is answered, not recorded again
  if (st.code() == Code::kAlreadyExists) {
    auto have = store->Get(p.key);
    st = have.ok() && *have == s.put_data
             ? Status::OK()
             : Status::AlreadyExists(p.key + " exists here with other content");
  }
  if (st.ok() && snapshot) st = SettleSeal(s);
  s.put_key.clear();
  std::string().swap(s.put_data);
  if (!st.ok()) {
    LogEvent("put_failed", {{"agent", s.agent.name},
                            {"namespace", s.nspace},
                            {"key", p.key},
                            {"error", st.message()}});
    return ReplyError(s.routing, p.seq, st);
  }
  // New segments (and packs) change which blobs are stored here: the next
  // query reads them again.
  if (p.key.rfind("index/", 0) == 0 || p.key.rfind("data/", 0) == 0) s.replica_view_fresh = false;
  if (!drill) s.ns->stored_packs.Stored(p.key);  // still passing the gate: no prune since
  if (drill) {
    s.drill_recorded = p.key;
    LogEvent("drill_recorded", {{"agent", s.agent.name}, {"namespace", s.nspace}, {"key", p.key}});
    if (created)
      AuditOrLog(audit_.get(), "agent " + s.agent.name, "drill", s.nspace, {{"record", p.key}});
  }
  Reply(s.routing, wire::Ack{p.seq});
  if (p.key.rfind("snapshots/", 0) == 0) {
    retention_->Nudge(s.nspace);
    catalog_->Nudge(s.nspace);
  }
}

}  // namespace dr
