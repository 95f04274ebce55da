#include "replicator/vault/vault.h"

#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <zmq.hpp>

#include "catalog/format/blob.h"
#include "catalog/format/metadata_refs.h"
#include "catalog/store/object_store.h"
#include "catalog/repository.h"
#include "catalog/format/snapshot.h"
#include "catalog/format/tree.h"
#include "core/bounded_queue.h"
#include "replicator/vault/agent_registry.h"
#include "replicator/wire/curve_keys.h"
#include "replicator/vault/metrics_http.h"
#include "replicator/vault/offsite_replicator.h"
#include "replicator/wire/protocol.h"
#include "replicator/vault/vault_log.h"
#include "replicator/vault/vault_metrics.h"
#include "replicator/vault/zap_handler.h"
#include "replicator/wire/zmq_poll.h"

namespace dr {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kSessionIdleExpiry = std::chrono::minutes(30);
// An agent that pauses this long gets its open pack written, so its blobs
// are acknowledged instead of waiting for other agents to fill the pack.
constexpr auto kSealAfterIdle = std::chrono::milliseconds(20);
constexpr uint64_t kMaxPutObject = 256u << 20;
constexpr uint64_t kMaxTreeBytes = 64u << 20;
constexpr size_t kMaxSessionsPerKey = 16;
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

// Object keys a client may name: the repository layout only, never a path
// that could leave the namespace ("..", absolute, empty components).
bool IsValidKey(const std::string& key, bool prefix) {
  if (key.empty()) return prefix;
  if (key.front() == '/' || key.find("//") != std::string::npos) return false;
  for (char c : key) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' || c == '-' ||
              c == '_' || c == '.';
    if (!ok) return false;
  }
  for (size_t pos = 0; pos <= key.size();) {
    size_t end = key.find('/', pos);
    if (end == std::string::npos) end = key.size();
    std::string part = key.substr(pos, end - pos);
    if (part == "." || part == ".." || (part.empty() && end != key.size()) ||
        (!part.empty() && part[0] == '.'))
      return false;
    pos = end + 1;
  }
  return true;
}

// Keys a replicating peer may write: the immutable parts of a repository.
bool IsReplicableKey(const std::string& key) {
  return key == "config" || key.rfind("data/", 0) == 0 || key.rfind("index/", 0) == 0 ||
         key.rfind("snapshots/", 0) == 0;
}

bool BackupMayRead(const std::string& key) {
  return key == "config" || key.rfind("snapshots/", 0) == 0;
}

}  // namespace

class Vault::Impl {
 public:
  explicit Impl(VaultConfig config)
      : config_(std::move(config)), registry_(config_.registry_path()), ctx_(1) {
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    readers_ = std::make_unique<ReaderPool>(kReaderThreads, kReadsQueued);
  }

  Status Init() {
    ASSIGN_OR_RETURN(server_keys_, ReadKeyFile(config_.server_key_path()));
    if (server_keys_.secret_key.empty())
      return Status::InvalidArgument("server key " + config_.server_key_path() +
                                     " has no secret key");
    RETURN_IF_ERROR(registry_.All().status());
    zap_ = std::make_unique<ZapHandler>(ctx_, &registry_,
                                        [](const std::string& ev, const std::string& d) {
                                          LogEvent(ev, {{"detail", d}});
                                        });
    router_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::router);
    router_->set(zmq::sockopt::curve_server, 1);
    router_->set(zmq::sockopt::curve_secretkey, server_keys_.secret_key);
    router_->set(zmq::sockopt::zap_domain, "drvault");
    router_->set(zmq::sockopt::router_mandatory, 1);
    router_->set(zmq::sockopt::linger, 0);
    router_->set(zmq::sockopt::sndhwm, 10000);
    router_->set(zmq::sockopt::rcvhwm, 10000);
    // Bigger frames are cut off by ZeroMQ before they are buffered whole.
    router_->set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(wire::kMaxFrameBytes + 64));
    try {
      router_->bind(config_.listen);
    } catch (const zmq::error_t& e) {
      return Status::Unavailable("cannot listen on " + config_.listen + ": " + e.what());
    }
    if (!config_.metrics.empty()) {
      ASSIGN_OR_RETURN(http_, MetricsHttp::Bind(ctx_, config_.metrics));
    }
    if (config_.offsite)
      offsite_ = std::make_unique<OffsiteReplicator>(config_, &registry_, &metrics_);
    LogEvent("vault_listening", {{"listen", config_.listen},
                                 {"repository", config_.repository},
                                 {"server_key", server_keys_.public_key},
                                 {"metrics", config_.metrics},
                                 {"offsite", config_.offsite ? config_.offsite->endpoint : ""}});
    return Status::OK();
  }

  Status Run(const std::atomic<bool>& stop) {
    loop_thread_ = std::this_thread::get_id();
    while (!stop) {
      zmq::pollitem_t items[] = {{router_->handle(), 0, ZMQ_POLLIN, 0},
                                 {nullptr, wake_fd_, ZMQ_POLLIN, 0},
                                 {http_ ? http_->handle() : nullptr, 0, ZMQ_POLLIN, 0}};
      PollQuietly(items, http_ ? 3 : 2, std::chrono::milliseconds(10));
      if (items[1].revents & ZMQ_POLLIN) {
        uint64_t n;
        (void)!::read(wake_fd_, &n, sizeof n);
      }
      SendReaderReplies();
      for (int i = 0; i < 512 && (items[0].revents & ZMQ_POLLIN); ++i) {
        zmq::message_t routing, payload;
        if (!router_->recv(routing, zmq::recv_flags::dontwait)) break;
        if (!routing.more() || !router_->recv(payload, zmq::recv_flags::dontwait)) continue;
        if (payload.more()) {  // one message is one frame: drop multi-frame messages whole
          zmq::message_t extra;
          do {
            if (!router_->recv(extra, zmq::recv_flags::dontwait)) break;
          } while (extra.more());
          metrics_.bad_frames++;
          LogEvent("bad_frame", {{"error", "multi-frame message dropped"}});
          ReplyError(routing.to_string(), 0,
                     Status::InvalidArgument("a message must be a single frame"));
          continue;
        }
        HandleFrame(routing.to_string(), payload);
      }
      if (http_ && (items[2].revents & ZMQ_POLLIN)) http_->Serve(metrics_);
      Housekeeping();
    }
    readers_.reset();  // finishes the reads in flight
    SendReaderReplies();
    for (auto& [name, ns] : namespaces_)
      if (ns.repo) (void)ns.repo->Flush();
    LogEvent("vault_stopped");
    return Status::OK();
  }

  ~Impl() {
    offsite_.reset();
    readers_.reset();
    ::close(wake_fd_);
  }

 private:
  struct Namespace {
    std::unique_ptr<Repository> repo;  // for agents that back up; dropped after a write failure
    // Raw reads (also from the reader threads) and replicated puts. Never
    // reset, so a read in flight never outlives its store.
    std::unique_ptr<ObjectStore> objects_store;
    ObjectStore* objects() { return objects_store.get(); }
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
    std::string put_key, put_data;
    uint64_t put_total = 0;
    // Chunks and subtrees that trees received in this session reference and
    // that were not stored yet when the tree arrived; all must be by commit.
    std::unordered_set<Id, IdHash> pending_refs;
  };

  void Reply(const std::string& routing, const wire::Message& m) {
    auto frame = wire::EncodeMessage(m);
    if (!frame.ok()) {
      // Never leave a request unanswered: the client would wait forever.
      LogEvent("encode_failed", {{"error", frame.status().message()}});
      const uint64_t seq = wire::SeqOf(m).value_or(0);
      frame = wire::EncodeMessage(
          wire::Error{seq, static_cast<uint16_t>(Code::kInvalidArgument),
                      "answer too large for one frame: " + frame.status().message()});
      if (!frame.ok()) return;
    }
    if (std::this_thread::get_id() != loop_thread_) {
      // The socket belongs to the loop thread: hand the frame over.
      {
        std::lock_guard l(outbox_mu_);
        outbox_.emplace_back(routing, std::move(frame).value());
      }
      uint64_t one = 1;
      (void)!::write(wake_fd_, &one, sizeof one);
      return;
    }
    zmq::message_t r(routing.data(), routing.size()), p(frame->data(), frame->size());
    try {
      if (router_->send(r, zmq::send_flags::sndmore | zmq::send_flags::dontwait))
        (void)router_->send(p, zmq::send_flags::dontwait);
    } catch (const zmq::error_t&) {
      // The peer is gone (router_mandatory): it will resend after reconnecting.
    }
  }

  void SendReaderReplies() {
    std::deque<std::pair<std::string, std::string>> ready;
    {
      std::lock_guard l(outbox_mu_);
      ready.swap(outbox_);
    }
    for (auto& [routing, frame] : ready) {
      zmq::message_t r(routing.data(), routing.size()), p(frame.data(), frame.size());
      try {
        if (router_->send(r, zmq::send_flags::sndmore | zmq::send_flags::dontwait))
          (void)router_->send(p, zmq::send_flags::dontwait);
      } catch (const zmq::error_t&) {
      }
    }
  }

  void ReplyError(const std::string& routing, uint64_t seq, const Status& s) {
    Reply(routing, wire::Error{seq, static_cast<uint16_t>(s.code()), s.message()});
  }

  void Refuse(const std::string& routing, Session* s, const AgentEntry& who, uint64_t seq,
              const std::string& why) {
    metrics_.requests_refused++;
    LogEvent("request_refused",
             {{"agent", who.name}, {"namespace", s ? s->nspace : ""}, {"why", why}});
    ReplyError(routing, seq, Status::PermissionDenied(why));
  }

  void HandleFrame(const std::string& routing, zmq::message_t& payload) {
    const char* user = zmq_msg_gets(payload.handle(), "User-Id");
    auto agent = user ? registry_.Find(user) : std::nullopt;
    if (!agent || agent->revoked) {
      // Revoked while connected: refuse everything from now on.
      metrics_.requests_refused++;
      LogEvent("request_refused",
               {{"agent", agent ? agent->name : "?"}, {"why", "key not admitted"}});
      ReplyError(routing, 0, Status::PermissionDenied("agent key not enrolled or revoked"));
      return;
    }
    auto decoded = wire::DecodeMessage(payload.to_string_view());
    if (!decoded.ok()) {
      metrics_.bad_frames++;
      LogEvent("bad_frame", {{"agent", agent->name},
                             {"bytes", payload.size()},
                             {"error", decoded.status().message()}});
      ReplyError(routing, 0, decoded.status());
      return;
    }
    wire::Message& m = *decoded;
    if (auto* h = std::get_if<wire::Hello>(&m)) return HandleHello(routing, *agent, *h);
    if (auto* p = std::get_if<wire::Ping>(&m)) {
      if (auto it = by_routing_.find(routing); it != by_routing_.end())
        sessions_[it->second].last_seen = Clock::now();
      return Reply(routing, wire::Pong{p->nonce});
    }
    if (std::holds_alternative<wire::Pong>(m)) return;
    if (std::holds_alternative<wire::Bye>(m)) {
      if (auto it = by_routing_.find(routing); it != by_routing_.end()) {
        sessions_.erase(it->second);
        by_routing_.erase(it);
        metrics_.sessions_open = sessions_.size();
      }
      return;
    }
    auto it = by_routing_.find(routing);
    if (it == by_routing_.end() || !sessions_.count(it->second)) {
      ReplyError(routing, 0, Status::InvalidArgument("no session: send hello first"));
      return;
    }
    Session& s = sessions_[it->second];
    s.last_seen = Clock::now();
    s.agent = *agent;  // rights as of now
    std::visit(
        [&](auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, wire::Query>)
            HandleQuery(s, v);
          else if constexpr (std::is_same_v<T, wire::Blob>)
            HandleBlob(s, v);
          else if constexpr (std::is_same_v<T, wire::Commit>)
            HandleCommit(s, v);
          else if constexpr (std::is_same_v<T, wire::Get>)
            HandleGet(s, v);
          else if constexpr (std::is_same_v<T, wire::List>)
            HandleList(s, v);
          else if constexpr (std::is_same_v<T, wire::GetTree>)
            HandleGetTree(s, v);
          else if constexpr (std::is_same_v<T, wire::Put>)
            HandlePut(s, v);
          else {
            metrics_.bad_frames++;
            ReplyError(routing, 0,
                       Status::InvalidArgument(std::string("a vault does not accept '") +
                                               wire::TypeName(wire::TypeOf(m)) + "' messages"));
          }
        },
        m);
  }

  Result<Namespace*> OpenNamespace(const std::string& name, bool for_backup, bool for_replica) {
    Namespace& ns = namespaces_[name];
    if (for_backup && !ns.repo) {
      ASSIGN_OR_RETURN(std::string url, NamespaceRepositoryUrl(config_.repository, name));
      ASSIGN_OR_RETURN(auto store, OpenObjectStore(url));
      auto repo = Repository::Open(std::move(store));
      if (!repo.ok()) {
        if (repo.status().IsNotFound())
          return Status::NotFound("namespace '" + name +
                                  "' has no repository at this vault (drvault enrol creates it)");
        return repo.status();
      }
      // Packs written before a crash of this vault become usable again.
      ASSIGN_OR_RETURN(int adopted, (*repo)->AdoptUnindexedPacks());
      if (adopted > 0) LogEvent("packs_adopted", {{"namespace", name}, {"packs", adopted}});
      ns.repo = std::move(repo).value();
    }
    if (!ns.objects_store) {
      ASSIGN_OR_RETURN(std::string url, NamespaceRepositoryUrl(config_.repository, name));
      if (for_replica && url.rfind("dir://", 0) == 0) {
        // A namespace arriving from the same-city site starts here empty.
        std::error_code ec;
        std::filesystem::create_directories(url.substr(6), ec);
        if (ec) return Status::FromErrno(ec.value(), "create directory " + url.substr(6));
      }
      ASSIGN_OR_RETURN(ns.objects_store, OpenObjectStore(url));
    }
    return &ns;
  }

  void HandleHello(const std::string& routing, const AgentEntry& agent, const wire::Hello& h) {
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
      metrics_.sessions_total++;
      metrics_.sessions_open = sessions_.size();
    }
    s->routing = routing;
    s->agent = agent;
    s->nspace = h.nspace;
    // Announce the acknowledged seq again: a credit sent before the cut may be lost.
    s->announced_acked_seq = ~0ull;
    s->ns = *ns;
    s->last_seen = Clock::now();
    by_routing_[routing] = s->id;
    wire::Welcome w;
    w.session = s->id;
    w.credit_bytes = s->granted - s->used;
    w.resume_from_seq = s->highest_blob_seq;
    if (Repository* repo = s->ns->repo.get()) {
      w.chunk_min = repo->config().chunker.min_size;
      w.chunk_avg = repo->config().chunker.avg_size;
      w.chunk_max = repo->config().chunker.max_size;
      w.secret = repo->hasher().secret();
      w.compression_level = repo->config().compression_level;
    }
    LogEvent(resumed ? "session_resumed" : "session_open",
             {{"agent", agent.name},
              {"namespace", h.nspace},
              {"session", s->id},
              {"rights", RightsToString(agent.rights)},
              {"resume_from_seq", w.resume_from_seq}});
    Reply(routing, w);
  }

  bool Require(Session& s, unsigned right, uint64_t seq, const char* what) {
    if ((s.agent.rights & right) && (right != kRightBackup || s.ns->repo)) return true;
    if (s.agent.rights & right) {  // granted after this session opened without it
      EndSession(s, Status::PermissionDenied("rights changed; open a new session"));
      return false;
    }
    Refuse(s.routing, &s, s.agent, seq,
           "agent '" + s.agent.name + "' lacks the " + RightsToString(right) + " right to " + what);
    return false;
  }

  void HandleQuery(Session& s, const wire::Query& q) {
    if (!Require(s, kRightBackup, q.seq, "ask for missing chunks")) return;
    wire::Missing answer{q.seq, {}};
    for (const Id& id : q.ids)
      if (!s.ns->repo->HasBlob(id)) answer.ids.push_back(id);
    metrics_.chunks_queried += q.ids.size();
    metrics_.chunks_missing += answer.ids.size();
    Reply(s.routing, answer);
  }

  void EndSession(Session& s, const Status& why) {
    LogEvent("session_ended",
             {{"agent", s.agent.name}, {"namespace", s.nspace}, {"error", why.message()}});
    ReplyError(s.routing, 0, why);
    by_routing_.erase(s.routing);
    sessions_.erase(s.id);
    metrics_.sessions_open = sessions_.size();
  }

  void HandleBlob(Session& s, const wire::Blob& b) {
    if (!(s.agent.rights & kRightBackup) || !s.ns->repo) {
      // A refused blob would stay pending at the agent: end the session instead.
      metrics_.requests_refused++;
      return EndSession(s, Status::PermissionDenied("agent '" + s.agent.name +
                                                    "' lacks the backup right to store blobs"));
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
    if (b.type == BlobType::kTree) {
      auto refs =
          MetadataReferences(*raw, "metadata blob " + b.id.Hex() + " from agent " + s.agent.name);
      if (!refs.ok()) return EndSession(s, refs.status());
      for (const Id& ref : *refs)
        if (!repo.HasBlob(ref)) s.pending_refs.insert(ref);
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

  void HandleCommit(Session& s, const wire::Commit& c) {
    if (!Require(s, kRightBackup, c.seq, "commit snapshots")) return;
    Repository& repo = *s.ns->repo;
    auto snap = DecodeSnapshot(c.snapshot, "snapshot from agent " + s.agent.name);
    if (!snap.ok()) return ReplyError(s.routing, c.seq, snap.status());
    // A commit resent after a lost answer finds its snapshot already there.
    const Id expected = repo.hasher().Hash(EncodeSnapshot(*snap));
    if (repo.store()->Size(SnapshotKey(expected)).ok()) {
      return Reply(s.routing, wire::Committed{c.seq, expected});
    }
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
    auto id = repo.CommitSnapshot(*snap);
    if (!id.ok()) {
      LogEvent(
          "commit_failed",
          {{"agent", s.agent.name}, {"namespace", s.nspace}, {"error", id.status().message()}});
      return ReplyError(s.routing, c.seq, id.status());
    }
    metrics_.snapshots_committed++;
    LogEvent("snapshot_committed",
             {{"agent", s.agent.name}, {"namespace", s.nspace}, {"snapshot", id->Hex()}});
    AdvanceAcks();  // the flush made every session's blobs durable
    Reply(s.routing, wire::Committed{c.seq, *id});
    if (offsite_) offsite_->Nudge();
  }

  void HandleGet(Session& s, const wire::Get& g) {
    if (!IsValidKey(g.key, false)) return Refuse(s.routing, &s, s.agent, g.seq, "invalid key");
    if (!(s.agent.rights & (kRightRestore | kRightReplicate)) && !BackupMayRead(g.key)) {
      return Refuse(s.routing, &s, s.agent, g.seq,
                    "agent '" + s.agent.name + "' lacks the restore right to read " + g.key);
    }
    // Reads go to the reader threads, so one restore's disk or RADOS latency
    // does not stall every other session behind this loop.
    ObjectStore* store = s.ns->objects();
    readers_->Submit([this, store, g, routing = s.routing] {
      Reply(routing, ServeGet(store, g));  // queued for the loop thread, see SendReplies
    });
  }

  // A get's answer (or its error), computed on a reader thread.
  static wire::Message ServeGet(ObjectStore* store, const wire::Get& g) {
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

  void HandleList(Session& s, const wire::List& l) {
    if (!IsValidKey(l.prefix, true)) return Refuse(s.routing, &s, s.agent, l.seq, "invalid prefix");
    if (!(s.agent.rights & (kRightRestore | kRightReplicate)) &&
        l.prefix.rfind("snapshots/", 0) != 0) {
      return Refuse(s.routing, &s, s.agent, l.seq,
                    "agent '" + s.agent.name + "' lacks the restore right to list " + l.prefix);
    }
    auto all = s.ns->objects()->List(l.prefix);
    if (!all.ok()) return ReplyError(s.routing, l.seq, all.status());
    std::sort(all->begin(), all->end(), [](const auto& a, const auto& b) { return a.key < b.key; });
    wire::Listing page{l.seq, {}, false};
    for (const auto& o : *all) {
      if (!l.start_after.empty() && o.key <= l.start_after) continue;
      if (page.entries.size() == kListPage) {
        page.more = true;
        break;
      }
      page.entries.push_back({o.key, o.size});
    }
    Reply(s.routing, page);
  }

  void HandleGetTree(Session& s, const wire::GetTree& g) {
    if (!Require(s, kRightBackup, g.seq, "read trees")) return;
    Repository& repo = *s.ns->repo;
    auto loc = repo.FindBlob(g.id);
    if (!loc || loc->type != BlobType::kTree)
      return ReplyError(s.routing, g.seq,
                        Status::NotFound("tree " + g.id.Hex() + " is not stored"));
    auto raw = repo.LoadBlob(g.id);
    if (!raw.ok()) return ReplyError(s.routing, g.seq, raw.status());
    const uint64_t size = raw->size();
    Reply(s.routing, wire::Data{g.seq, size, std::move(raw).value()});
  }

  void HandlePut(Session& s, const wire::Put& p) {
    if (!Require(s, kRightReplicate, p.seq, "write objects")) return;
    if (!IsValidKey(p.key, false) || !IsReplicableKey(p.key))
      return Refuse(s.routing, &s, s.agent, p.seq, "key " + p.key + " may not be written");
    if (p.total_size > kMaxPutObject)
      return ReplyError(s.routing, p.seq, Status::InvalidArgument("object larger than 256 MiB"));
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
    Status st = store->PutIfAbsent(p.key, s.put_data);
    if (st.code() == Code::kAlreadyExists) {
      auto have = store->Get(p.key);
      st = have.ok() && *have == s.put_data
               ? Status::OK()
               : Status::AlreadyExists(p.key + " exists here with other content");
    }
    s.put_key.clear();
    std::string().swap(s.put_data);
    if (!st.ok()) {
      LogEvent("put_failed", {{"agent", s.agent.name},
                              {"namespace", s.nspace},
                              {"key", p.key},
                              {"error", st.message()}});
      return ReplyError(s.routing, p.seq, st);
    }
    Reply(s.routing, wire::Ack{p.seq});
  }

  // Acknowledges, per session, the blobs whose packs are durable, and grants
  // that much credit again.
  void AdvanceAcks() {
    for (auto& [id, s] : sessions_) {
      if (!s.ns || !s.ns->repo) continue;
      while (!s.unacked.empty() && s.ns->repo->HasBlob(s.unacked.front().id)) {
        s.acked_seq = s.unacked.front().seq;
        s.acked_bytes += s.unacked.front().bytes;
        s.unacked_bytes -= s.unacked.front().bytes;
        s.unacked.pop_front();
      }
      if (s.unacked.empty()) s.acked_seq = s.highest_blob_seq;
      if (s.acked_seq == s.announced_acked_seq) continue;
      const uint64_t new_granted = s.acked_bytes + config_.credit_bytes;
      const uint64_t more = new_granted > s.granted ? new_granted - s.granted : 0;
      s.granted += more;
      s.announced_acked_seq = s.acked_seq;
      Reply(s.routing, wire::Credit{more, s.acked_seq});
    }
  }

  void Housekeeping() {
    const auto now = Clock::now();
    // A pack write that failed (disk full, cluster down) poisons the
    // repository instance: end its sessions with the error (their agents
    // reconnect and resend) and open the namespace afresh on the next hello.
    for (auto& [name, ns] : namespaces_) {
      if (!ns.repo) continue;
      Status broken = ns.repo->write_error();
      if (broken.ok()) continue;
      LogEvent("namespace_write_failed", {{"namespace", name}, {"error", broken.message()}});
      std::vector<uint64_t> ids;
      for (auto& [id, s] : sessions_)
        if (s.ns == &ns) ids.push_back(id);
      for (uint64_t id : ids) EndSession(sessions_[id], broken.WithContext("vault storage"));
      ns.repo.reset();
    }
    // Repeat each session's acknowledgement now and then: a credit message
    // lost in a network cut must not leave an agent waiting forever.
    if (now - last_reannounce_ > std::chrono::seconds(1)) {
      last_reannounce_ = now;
      for (auto& [id, s] : sessions_)
        if (now - s.last_seen < std::chrono::seconds(60)) s.announced_acked_seq = ~0ull;
    }
    for (auto& [id, s] : sessions_) {
      if (s.unacked.empty() || !s.ns || !s.ns->repo) continue;
      if (now - s.last_blob > kSealAfterIdle || s.unacked_bytes >= config_.credit_bytes / 2)
        s.ns->repo->SealOpenPack();
    }
    AdvanceAcks();
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      if (now - it->second.last_seen > kSessionIdleExpiry) {
        LogEvent("session_expired", {{"agent", it->second.agent.name}, {"session", it->first}});
        by_routing_.erase(it->second.routing);
        it = sessions_.erase(it);
      } else {
        ++it;
      }
    }
    metrics_.sessions_open = sessions_.size();
  }

  VaultConfig config_;
  AgentRegistry registry_;
  CurveKeyPair server_keys_;
  zmq::context_t ctx_;
  std::unique_ptr<ZapHandler> zap_;
  std::unique_ptr<zmq::socket_t> router_;
  std::unique_ptr<MetricsHttp> http_;
  VaultMetrics metrics_;
  std::unique_ptr<OffsiteReplicator> offsite_;
  std::map<std::string, Namespace> namespaces_;
  std::unordered_map<uint64_t, Session> sessions_;
  std::unordered_map<std::string, uint64_t> by_routing_;
  Clock::time_point last_reannounce_;
  std::thread::id loop_thread_;
  int wake_fd_ = -1;  // reader threads wake the loop when answers are ready
  std::mutex outbox_mu_;
  std::deque<std::pair<std::string, std::string>> outbox_;  // GUARDED_BY(outbox_mu_)
  std::unique_ptr<ReaderPool> readers_;
  BlobScratch scratch_;
  std::mt19937_64 rng_{std::random_device{}()};
};

Result<std::unique_ptr<Vault>> Vault::Start(const VaultConfig& config) {
  auto impl = std::make_unique<Impl>(config);
  RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<Vault>(new Vault(std::move(impl)));
}

Vault::Vault(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Vault::~Vault() = default;
Status Vault::Run(const std::atomic<bool>& stop) { return impl_->Run(stop); }

Status InitVaultState(const VaultConfig& config) {
  std::error_code ec;
  std::filesystem::create_directories(config.state_dir, ec);
  if (ec) return Status::FromErrno(ec.value(), "create state directory " + config.state_dir);
  ::chmod(config.state_dir.c_str(), 0700);
  ASSIGN_OR_RETURN(CurveKeyPair server, GenerateCurveKeyPair());
  RETURN_IF_ERROR(WriteKeyFile(config.server_key_path(), server, "vault server", true));
  ASSIGN_OR_RETURN(CurveKeyPair client, GenerateCurveKeyPair());
  Status s = WriteKeyFile(config.offsite_client_key_path(), client, "vault to off-site peer", true);
  if (!s.ok() && s.code() != Code::kAlreadyExists) return s;
  return Status::OK();
}

}  // namespace dr
