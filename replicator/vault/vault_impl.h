// Vault::Impl: the vault server's state and handlers, shared by its .cc files
// (vault.cc: set-up, the event loop and dispatch, acknowledgements and
// housekeeping; vault_sessions.cc: namespaces, hello and rights;
// vault_ingest.cc: dedup questions, blobs and commits; vault_objects.cc:
// object reads, listings, parent trees and replicated puts). Internal to
// replicator/vault/: nothing outside includes it.
//
// Threading: everything runs on the loop thread except ServeGet, which runs
// on the reader threads and hands its answer back through Reply (outbox).
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <zmq.hpp>

#include "catalog/format/blob.h"
#include "catalog/repository.h"
#include "catalog/session_marker.h"
#include "catalog/store/object_store.h"
#include "core/bounded_queue.h"
#include "replicator/vault/agent_registry.h"
#include "replicator/vault/audit_log.h"
#include "replicator/vault/history_log.h"
#include "replicator/vault/metrics_http.h"
#include "replicator/vault/namespace_keys.h"
#include "replicator/vault/offsite_replicator.h"
#include "replicator/vault/snapshot_owners.h"
#include "replicator/vault/stored_pack_set.h"
#include "replicator/vault/vault.h"
#include "replicator/vault/vault_catalog.h"
#include "replicator/vault/vault_change_watch.h"
#include "replicator/vault/vault_config.h"
#include "replicator/vault/vault_metrics.h"
#include "replicator/vault/vault_prune.h"
#include "replicator/vault/vault_retention.h"
#include "replicator/vault/vault_rpo.h"
#include "replicator/vault/zap_handler.h"
#include "replicator/wire/curve_keys.h"
#include "replicator/wire/protocol.h"

namespace dr {

namespace vault_internal {

using Clock = std::chrono::steady_clock;
constexpr auto kSessionIdleExpiry = std::chrono::minutes(30);
// A session silent this long (its agent pings every second) lets go of its
// session marker, so a prune does not wait half an hour for an agent that
// exited without its bye reaching us; it can no longer commit.
constexpr auto kMarkerReleaseAfter = std::chrono::seconds(60);
// An agent that pauses this long gets its open pack written, so its blobs
// are acknowledged instead of waiting for other agents to fill the pack.
constexpr auto kSealAfterIdle = std::chrono::milliseconds(20);
constexpr uint64_t kMaxPutObject = 256u << 20;
constexpr uint64_t kMaxTreeBytes = 64u << 20;
constexpr size_t kMaxSessionsPerKey = 16;
// What one session may hold in memory (a put being assembled, the references
// and readable trees it tracks): a bad or hostile agent is cut off there
// while every other session goes on.
constexpr uint64_t kMaxSessionMemory = kMaxPutObject + (128u << 20);
// What one remembered id costs in an unordered_set (node, hash, bucket).
constexpr uint64_t kIdSetEntryBytes = 64;
// Object reads run on a few threads; at most kReadsQueued wait, so a client
// flooding gets cannot make the vault hold more than a few answers.
constexpr int kReaderThreads = 4;
constexpr size_t kReadsQueued = 16;

class ReaderPool {
 public:
  ReaderPool(int threads, size_t queued) : jobs_(queued) {
    for (int i = 0; i < threads; ++i)
      threads_.emplace_back([this] {
        while (auto job = jobs_.Pop()) (*job)();
      });
  }
  ~ReaderPool() {
    jobs_.Close();
    for (auto& t : threads_) t.join();
  }
  // Blocks while kReadsQueued jobs wait.
  void Submit(std::function<void()> job) { jobs_.Push(std::move(job), 1); }

 private:
  BoundedQueue<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
};
constexpr size_t kListPage = 1000;

}  // namespace vault_internal

class Vault::Impl {
 public:
  explicit Impl(VaultConfig config);
  ~Impl();
  Status Init();
  Status Run(const std::atomic<bool>& stop);

 private:
  using Clock = vault_internal::Clock;
  struct Namespace {
    // For agents that back up; dropped after a write failure. Shared with
    // the change watch, which reads what a commit wrote after the answer.
    std::shared_ptr<Repository> repo;
    // Raw reads (also from the reader threads) and replicated puts. Never
    // reset, so a read in flight never outlives its store.
    std::unique_ptr<ObjectStore> objects_store;
    ObjectStore* objects() { return objects_store.get(); }
    // Who wrote each snapshot; loaded with `repo`, kept current by commits.
    SnapshotOwners owners;
    // At a site fed by a peer: the namespace's hasher, from its config, to
    // check what the peer puts.
    std::optional<KeyedHasher> peer_hasher;
    bool peer_sealed = false;  // the namespace is encrypted: its objects are checked sealed
    // The namespace's sealed history (history_log.h): every snapshot stored
    // here is sealed in it before the sender hears it was stored.
    std::unique_ptr<NamespaceHistory> history;
    // The rotation mark `repo` was opened after (namespace_keys.h).
    KeysRotatedMark rotated_mark;
    // At a keyless site: the packs stored here, for the peer's summaries.
    StoredPackSet stored_packs;
  };
  struct Unacked {
    uint64_t seq;
    Id id;
    uint64_t bytes;
  };
  struct Session {
    uint64_t id = 0;
    std::string routing;
    AgentEntry agent;
    std::string nspace;
    Namespace* ns = nullptr;
    std::deque<Unacked> unacked;
    uint64_t unacked_bytes = 0;
    uint64_t granted = 0, used = 0;  // credit, cumulative bytes
    uint64_t highest_blob_seq = 0, acked_seq = 0, announced_acked_seq = 0;
    uint64_t acked_bytes = 0;
    Clock::time_point last_seen, last_blob;
    // When the session opened, then when its last commit was made: the
    // start of the job its next commit ends (the vault's job log).
    int64_t opened_ns = 0;
    std::string put_key, put_data;
    std::string drill_recorded;      // the one drill record this session stored (no flood)
    bool data_read_audited = false;  // the audit log has this session's first read of data
    uint64_t put_total = 0;
    // A replicating peer's view of which blobs are stored here was read
    // after this session's marker went up, and after its last index put.
    bool replica_view_fresh = false;
    // Its marker was released after a silence (kMarkerReleaseAfter): what it
    // was told is stored may have been pruned since, so it may not commit.
    bool marker_released = false;
    // Chunks and subtrees that trees received in this session reference and
    // that were not stored yet when the tree arrived; all must be by commit.
    std::unordered_set<Id, IdHash> pending_refs;
    // Trees an agent with only the backup right may fetch: the roots of the
    // snapshots it wrote that it has read, and the subtrees of trees it has
    // fetched (it walks its parent from the top).
    std::unordered_set<Id, IdHash> readable_trees;
    // The listing a paged list is reading.
    std::string list_prefix;
    std::vector<ObjectInfo> list_cache;
    uint64_t list_cache_bytes = 0;
    // The tree a paged gettree is reading (see docs/protocol.md).
    Id tree_cache_id;
    std::string tree_cache;
    // Tells a prune of the namespace's repository that this session may
    // rely on what it saw (catalog/session_marker.h); removed with the
    // session. Declared last: it goes first.
    std::unique_ptr<SessionMarker> marker;
  };

  void Reply(const std::string& routing, const wire::Message& m);
  void SendReaderReplies();
  void ReplyError(const std::string& routing, uint64_t seq, const Status& s);
  void Refuse(const std::string& routing, Session* s, const AgentEntry& who, uint64_t seq,
              const std::string& why);
  void HandleFrame(const std::string& routing, zmq::message_t& payload);
  // Hands a session's decoded request to its handler.
  void Dispatch(Session& s, wire::Message& m);
  // Acknowledges, per session, the blobs whose packs are durable, and grants
  // that much credit again.
  void AdvanceAcks();
  void Housekeeping();
  // What a session holds in memory beyond its fixed size; over
  // kMaxSessionMemory the session is ended.
  static uint64_t SessionMemory(const Session& s);
  // Ends `s` when over its memory limit; true if it did.
  bool EndIfOverMemory(Session& s);
  Result<Namespace*> OpenNamespace(const std::string& name, bool for_backup, bool for_replica);
  // Opens `ns.repo` and loads who wrote each snapshot; `adopt` indexes packs
  // an interrupted write of this vault left unindexed.
  Status LoadRepository(const std::string& name, Namespace& ns, bool adopt);
  // Ends the sessions of `ns` with `why` and drops its repository instance:
  // the next hello opens the namespace afresh (or is refused with the error).
  void DropRepository(Namespace& ns, const Status& why);
  // After `drvault key rotate`: opens `ns.repo` again (everything written
  // so far flushed and acknowledged first), so the new data key seals what
  // comes next and is handed to the namespace's next sessions. When that
  // fails (a keyring rolled back below the mark, the store unreachable),
  // the namespace is dropped rather than left sealing with the old key.
  void ReopenIfKeysRotated(const std::string& name, Namespace& ns);
  // Opens the namespace's history once, settling what a crash left journaled.
  Result<std::string> HandedKeyring(Namespace& ns, const std::string& name);
  Status OpenHistory(const std::string& name, Namespace& ns);
  // Journals snapshot `id_hex` (`bytes`) before it is stored; SettleSeal
  // seals it once stored (history_log.h).
  Status BeginSeal(Session& s, const std::string& actor, const std::string& id_hex,
                   const std::string& bytes);
  Status SettleSeal(Session& s);
  // A replicating peer asks which blobs are missing here and sends them
  // (docs/design.md, "Two sites"); false when answered with an error.
  bool PrepareReplicaView(Session& s, uint64_t seq);
  static bool IsReplicaSession(const Session& s) {
    return (s.agent.rights & kRightReplicate) && !(s.agent.rights & kRightBackup);
  }
  void HandleHello(const std::string& routing, const AgentEntry& agent, const wire::Hello& h);
  bool Require(Session& s, unsigned right, uint64_t seq, const char* what);
  // The restore and replicate rights read every object of the namespace;
  // the backup right only what the agent wrote.
  static bool MayReadAll(const Session& s) {
    return s.agent.rights & (kRightRestore | kRightReplicate);
  }
  void EndSession(Session& s, const Status& why);
  // Whether `s` may still commit: its marker was kept and is still valid.
  static Status ReleasedOrValid(Session& s);
  void HandleQuery(Session& s, const wire::Query& q);
  void HandleBlob(Session& s, const wire::Blob& b);
  void HandleCommit(Session& s, const wire::Commit& c);
  void HandleGet(Session& s, const wire::Get& g);
  // A get's answer (or its error), computed on a reader thread.
  static wire::Message ServeGet(ObjectStore* store, const wire::Get& g);
  void HandleList(Session& s, const wire::List& l);
  void HandleGetTree(Session& s, const wire::GetTree& g);
  void HandlePut(Session& s, const wire::Put& p);
  void HandleGetPolicies(Session& s, const wire::GetPolicies& g);
  void HandleCatalogQuery(Session& s, const wire::CatalogQuery& q);
  Status VerifyPut(Session& s, const std::string& key);
  // At a keyless site: every pack a peer's summary lists is stored here.
  Status SummaryPacksStored(Session& s, const std::string& key);

  VaultConfig config_;
  AgentRegistry registry_;
  CurveKeyPair server_keys_;
  zmq::context_t ctx_;
  std::unique_ptr<ZapHandler> zap_;
  std::unique_ptr<zmq::socket_t> router_;
  std::unique_ptr<MetricsHttp> http_;
  VaultMetrics metrics_;
  std::unique_ptr<AuditLog> audit_;  // before the threads that append to it
  NamespaceGate gate_;               // before the pruner that closes it
  std::unique_ptr<OffsiteReplicator> offsite_;
  std::unique_ptr<VaultRetention> retention_;
  std::unique_ptr<VaultChangeWatch> change_watch_;  // nudges retention_ when it is done
  std::unique_ptr<VaultCatalog> catalog_;
  std::unique_ptr<VaultRpoMonitor> rpo_;
  std::unique_ptr<VaultPruner> pruner_;
  std::map<std::string, Namespace> namespaces_;
  std::unordered_map<uint64_t, Session> sessions_;
  std::unordered_map<std::string, uint64_t> by_routing_;
  Clock::time_point last_reannounce_, last_keys_check_;
  std::thread::id loop_thread_;
  int wake_fd_ = -1;  // reader threads wake the loop when answers are ready
  std::mutex outbox_mu_;
  std::deque<std::pair<std::string, std::string>> outbox_;  // GUARDED_BY(outbox_mu_)
  std::unique_ptr<vault_internal::ReaderPool> readers_;
  BlobScratch scratch_;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace dr
