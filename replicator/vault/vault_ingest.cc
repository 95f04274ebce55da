#include "replicator/vault/vault_impl.h"

#include <algorithm>

#include "catalog/format/metadata_refs.h"
#include "catalog/format/snapshot.h"
#include "core/crash_point.h"
#include "core/timefmt.h"
#include "policies/job_log.h"
#include "replicator/vault/vault_log.h"

namespace dr {

using namespace vault_internal;

namespace {

// The snapshot's source as a policy names it (PolicySource::Label): "files",
// or "image:PATH" / "device:PATH" for a block snapshot.
std::string SourceLabel(const Snapshot& s) {
  if (!s.block) return "files";
  return s.block->source_kind + ":" + (s.paths.empty() ? std::string() : s.paths.front());
}

// The vault's record of a committed snapshot, for its job log
// (STATE/jobs.jsonl, `drvault jobs`). Only commits are recorded: a session
// that ends without one is the agent's failure to report (it keeps its own
// job log).
JobRecord CommittedJob(const Snapshot& snap, const std::string& agent, int64_t start_ns,
                       int64_t end_ns) {
  JobRecord rec;
  rec.policy = snap.policy;
  rec.source = SourceLabel(snap);
  rec.agent = agent;
  rec.start_ns = start_ns;
  rec.end_ns = end_ns;
  rec.result = snap.partial ? JobResult::kPartial : JobResult::kOk;
  rec.bytes_read = snap.stats.bytes_read;
  rec.bytes_new = snap.stats.bytes_added;
  rec.snapshot = snap.id.Hex();
  if (snap.partial && !snap.warnings.empty()) {
    const uint64_t n = std::max<uint64_t>(snap.stats.errors, snap.warnings.size());
    rec.error = std::to_string(n) + " warnings, first: " + snap.warnings.front();
  }
  return rec;
}

}  // namespace

void Vault::Impl::HandleQuery(Session& s, const wire::Query& q) {
  if (IsReplicaSession(s) ? !PrepareReplicaView(s, q.seq)
                          : !Require(s, kRightBackup, q.seq, "ask for missing chunks"))
    return;
  wire::Missing answer{q.seq, {}};
  for (const Id& id : q.ids)
    if (!s.ns->repo->HasBlob(id)) answer.ids.push_back(id);
  metrics_.chunks_queried += q.ids.size();
  metrics_.chunks_missing += answer.ids.size();
  Reply(s.routing, answer);
}

void Vault::Impl::HandleBlob(Session& s, const wire::Blob& b) {
  const bool replica = IsReplicaSession(s);
  if (!(s.agent.rights & (replica ? kRightReplicate : kRightBackup)) || !s.ns->repo) {
    // A refused blob would stay pending at the agent: end the session instead.
    metrics_.requests_refused++;
    return EndSession(
        s, Status::PermissionDenied("agent '" + s.agent.name +
                                    (replica ? "' sent a blob before asking which are missing"
                                             : "' lacks the backup right to store blobs")));
  }
  if (b.seq <= s.highest_blob_seq) return;  // a resend of what we have
  const uint64_t raw_limit =
      b.type == BlobType::kData ? s.ns->repo->config().chunker.max_size : kMaxTreeBytes;
  if (b.raw_len > raw_limit) {
    metrics_.bad_frames++;
    return EndSession(
        s, Status::InvalidArgument("blob of " + std::to_string(b.raw_len) +
                                   " bytes exceeds the limit of " + std::to_string(raw_limit)));
  }
  if (s.used + b.stored.size() > s.granted) {
    metrics_.bad_frames++;
    return EndSession(s, Status::InvalidArgument("blob sent beyond the granted credit"));
  }
  Repository& repo = *s.ns->repo;
  auto raw = DecodeBlobInto(b.stored, b.raw_len, b.id, repo.hasher(),
                            "blob " + b.id.Hex() + " from agent " + s.agent.name, &scratch_);
  if (!raw.ok()) return EndSession(s, raw.status());
  // A replicating peer never commits: it checks a snapshot's references
  // itself before it puts the snapshot.
  if (b.type == BlobType::kTree && !replica) {
    auto refs =
        MetadataReferences(*raw, "metadata blob " + b.id.Hex() + " from agent " + s.agent.name);
    if (!refs.ok()) return EndSession(s, refs.status());
    for (const Id& ref : *refs)
      if (!repo.HasBlob(ref)) s.pending_refs.insert(ref);
    if (EndIfOverMemory(s)) return;
  }
  s.used += b.stored.size();
  s.highest_blob_seq = b.seq;
  s.last_blob = Clock::now();
  if (repo.Claim(b.id)) {
    Status st = repo.AddBlob(b.type, b.id, b.stored, b.raw_len);
    if (!st.ok()) return EndSession(s, st.WithContext("vault storage"));
  }
  s.unacked.push_back({b.seq, b.id, b.stored.size()});
  s.unacked_bytes += b.stored.size();
  metrics_.blobs_received++;
  metrics_.bytes_received += b.stored.size();
  metrics_.raw_bytes_received += b.raw_len;
}

void Vault::Impl::HandleCommit(Session& s, const wire::Commit& c) {
  if (!Require(s, kRightBackup, c.seq, "commit snapshots")) return;
  Repository& repo = *s.ns->repo;
  auto sent = DecodeSnapshot(c.snapshot, "snapshot from agent " + s.agent.name);
  if (!sent.ok()) return ReplyError(s.routing, c.seq, sent.status());
  // A commit resent after a lost answer finds its snapshot already there.
  if (auto done = s.ns->owners.FindResend(*sent, s.agent.name)) {
    // Its seal may be what the lost answer was waiting for.
    if (Status sealed = SettleSeal(s); !sealed.ok()) return ReplyError(s.routing, c.seq, sealed);
    return Reply(s.routing, wire::Committed{c.seq, *done});
  }
  const int64_t now_ns = NowUnixNs();
  if (Status allowed = s.ns->owners.CheckCommit(*sent, s.agent.name, now_ns); !allowed.ok()) {
    metrics_.requests_refused++;
    LogEvent("commit_refused",
             {{"agent", s.agent.name}, {"namespace", s.nspace}, {"why", allowed.message()}});
    return ReplyError(s.routing, c.seq, allowed);
  }
  const Snapshot snap = SnapshotOwners::Stamp(std::move(sent).value(), s.agent.name, now_ns);
  // Agents reuse an unchanged file's chunks without asking; the vault makes
  // sure here that everything the new trees reference is really stored.
  Status flushed = repo.Flush();
  if (!flushed.ok()) return ReplyError(s.routing, c.seq, flushed);
  for (const Id& ref : s.pending_refs) {
    if (!repo.HasBlob(ref)) {
      LogEvent("commit_refused",
               {{"agent", s.agent.name}, {"namespace", s.nspace}, {"missing", ref.Hex()}});
      return ReplyError(s.routing, c.seq,
                        Status::Corruption("the snapshot references chunk " + ref.Hex() +
                                           ", which this vault does not hold; back up again "
                                           "with --force to re-read every file"));
    }
  }
  s.pending_refs.clear();
  if (Status valid = ReleasedOrValid(s); !valid.ok()) {
    return ReplyError(s.routing, c.seq, valid);
  }
  // Journaled before it is written, with the bytes the repository will
  // write: only what this vault wrote is ever sealed (history_log.h).
  const std::string encoded = EncodeSnapshotObject(snap, repo.keyring());
  const Id expected = repo.names().Hash(encoded);
  if (Status begun = BeginSeal(s, "agent " + s.agent.name, expected.Hex(), encoded); !begun.ok())
    return ReplyError(s.routing, c.seq, begun);
  CrashPoint("vault-commit-next");
  auto id = repo.CommitSnapshotObject(encoded);
  if (!id.ok()) {
    LogEvent("commit_failed",
             {{"agent", s.agent.name}, {"namespace", s.nspace}, {"error", id.status().message()}});
    return ReplyError(s.routing, c.seq, id.status());
  }
  if (*id != expected) {
    return ReplyError(s.routing, c.seq,
                      Status::Corruption("snapshot " + id->Hex() +
                                         " was written under another id "
                                         "than the vault journaled (" +
                                         expected.Hex() + ")"));
  }
  Snapshot stored = snap;
  stored.id = *id;
  s.ns->owners.Add(stored);
  // Sealed before the answer: a crash in between leaves the agent without
  // one, and the journal is settled when the vault is back.
  CrashPoint("vault-seal-next");
  if (Status sealed = SettleSeal(s); !sealed.ok()) return ReplyError(s.routing, c.seq, sealed);
  metrics_.snapshots_committed++;
  LogEvent("snapshot_committed",
           {{"agent", s.agent.name}, {"namespace", s.nspace}, {"snapshot", id->Hex()}});
  AdvanceAcks();  // the flush made every session's blobs durable
  Reply(s.routing, wire::Committed{c.seq, *id});
  // One fsync'd append per commit, on the loop thread: small beside the
  // commit's own flush. A next backup in this session starts now.
  const int64_t end_ns = NowUnixNs();
  const JobRecord job =
      CommittedJob(stored, s.agent.name, s.opened_ns ? s.opened_ns : now_ns, end_ns);
  s.opened_ns = end_ns;
  if (Status logged = AppendJobRecord(config_.state_dir, job); !logged.ok())
    LogEvent("job_log_failed", {{"agent", s.agent.name}, {"error", logged.message()}});
  if (offsite_) offsite_->Nudge();
  change_watch_->Nudge(s.nspace, s.ns->repo, stored);  // then retention
  catalog_->Nudge(s.nspace);
}

}  // namespace dr
