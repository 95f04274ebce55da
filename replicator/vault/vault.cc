#include "replicator/vault/vault_impl.h"

#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "core/crash_point.h"
#include "replicator/vault/object_keys.h"
#include "replicator/vault/vault_log.h"
#include "replicator/wire/zmq_poll.h"

namespace dr {

using namespace vault_internal;

Vault::Impl::Impl(VaultConfig config)
    : config_(std::move(config)), registry_(config_.registry_path()), ctx_(1) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  readers_ = std::make_unique<ReaderPool>(kReaderThreads, kReadsQueued);
}

Vault::Impl::~Impl() {
  pruner_.reset();
  rpo_.reset();
  offsite_.reset();
  change_watch_.reset();  // nudges retention_
  retention_.reset();
  catalog_.reset();
  readers_.reset();
  ::close(wake_fd_);
}

Status Vault::Impl::Init() {
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
  // Every administrative action here is recorded; a vault whose audit key
  // is damaged does not start rather than act unrecorded.
  auto audit = AuditLog::Open(config_);
  if (!audit.ok()) return audit.status().WithContext("audit log");
  audit_ = std::move(audit).value();
  retention_ = std::make_unique<VaultRetention>(config_, audit_.get());
  change_watch_ = std::make_unique<VaultChangeWatch>(
      config_, &metrics_, audit_.get(), [this](const std::string& ns) { retention_->Nudge(ns); });
  catalog_ = std::make_unique<VaultCatalog>(config_);
  // Catch up with what arrived while the vault was down.
  if (auto agents = registry_.All(); agents.ok()) {
    for (const auto& a : *agents)
      if (a.nspace != "*") catalog_->Nudge(a.nspace);
  }
  // The RPO is evaluated every minute. DRVAULT_RPO_INTERVAL_S (whole
  // seconds, at least 1) is a knob for tests, not for production: a minute
  // is plenty against objectives of minutes to days.
  auto rpo_period = std::chrono::milliseconds(std::chrono::seconds(60));
  if (const char* v = std::getenv("DRVAULT_RPO_INTERVAL_S"); v && *v) {
    char* end = nullptr;
    const long secs = std::strtol(v, &end, 10);
    if (*end == '\0' && secs >= 1 && secs <= 86400) {
      rpo_period = std::chrono::seconds(secs);
    } else {
      LogEvent("bad_setting", {{"DRVAULT_RPO_INTERVAL_S", v}, {"using", 60}});
    }
  }
  rpo_ = std::make_unique<VaultRpoMonitor>(config_, &metrics_, rpo_period);
  pruner_ = std::make_unique<VaultPruner>(config_, &registry_, &metrics_, audit_.get(), &gate_);
  LogEvent("vault_listening", {{"listen", config_.listen},
                               {"repository", config_.repository},
                               {"server_key", server_keys_.public_key},
                               {"metrics", config_.metrics},
                               {"offsite", config_.offsite ? config_.offsite->endpoint : ""}});
  return Status::OK();
}

Status Vault::Impl::Run(const std::atomic<bool>& stop) {
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
      try {
        HandleFrame(routing.to_string(), payload);
      } catch (const std::bad_alloc&) {  // decoding, before any session is involved
        metrics_.bad_frames++;
        LogEvent("bad_frame", {{"bytes", payload.size()}, {"error", "out of memory decoding"}});
        ReplyError(routing.to_string(), 0,
                   Status::NoSpace("the vault ran out of memory decoding this message"));
      }
    }
    if (http_ && (items[2].revents & ZMQ_POLLIN)) http_->Serve(metrics_);
    Housekeeping();
  }
  readers_.reset();  // finishes the reads in flight
  SendReaderReplies();
  for (auto& [name, ns] : namespaces_)
    if (ns.repo) {
      if (Status s = ns.repo->Flush(); !s.ok())
        LogEvent("namespace_write_failed", {{"namespace", name}, {"error", s.message()}});
    }
  LogEvent("vault_stopped");
  return Status::OK();
}

void Vault::Impl::Reply(const std::string& routing, const wire::Message& m) {
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

void Vault::Impl::SendReaderReplies() {
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

void Vault::Impl::ReplyError(const std::string& routing, uint64_t seq, const Status& s) {
  Reply(routing, wire::Error{seq, static_cast<uint16_t>(s.code()), s.message()});
}

void Vault::Impl::Refuse(const std::string& routing, Session* s, const AgentEntry& who,
                         uint64_t seq, const std::string& why) {
  metrics_.requests_refused++;
  LogEvent("request_refused",
           {{"agent", who.name}, {"namespace", s ? s->nspace : ""}, {"why", why}});
  ReplyError(routing, seq, Status::PermissionDenied(why));
}

void Vault::Impl::HandleFrame(const std::string& routing, zmq::message_t& payload) {
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
    LogEvent(
        "bad_frame",
        {{"agent", agent->name}, {"bytes", payload.size()}, {"error", decoded.status().message()}});
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
  const uint64_t session_id = s.id;
  try {
    Dispatch(s, m);
  } catch (const std::bad_alloc&) {
    // One session's request must not take the vault down: end that session
    // (dropping what it holds) and keep serving the others.
    if (auto left = sessions_.find(session_id); left != sessions_.end())
      EndSession(left->second, Status::NoSpace("the vault ran out of memory serving this session"));
    return;
  } catch (const std::exception& e) {
    if (auto left = sessions_.find(session_id); left != sessions_.end())
      EndSession(left->second,
                 Status::IOError(std::string("internal error serving this session: ") + e.what()));
    return;
  }
  if (auto left = sessions_.find(session_id); left != sessions_.end())
    EndIfOverMemory(left->second);
}

void Vault::Impl::Dispatch(Session& s, wire::Message& m) {
  const std::string& routing = s.routing;
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
        else if constexpr (std::is_same_v<T, wire::GetPolicies>)
          HandleGetPolicies(s, v);
        else if constexpr (std::is_same_v<T, wire::CatalogQuery>)
          HandleCatalogQuery(s, v);
        else {
          metrics_.bad_frames++;
          ReplyError(routing, 0,
                     Status::InvalidArgument(std::string("a vault does not accept '") +
                                             wire::TypeName(wire::TypeOf(m)) + "' messages"));
        }
      },
      m);
}

// Acknowledges, per session, the blobs whose packs are durable, and grants
// that much credit again.
void Vault::Impl::AdvanceAcks() {
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
    CrashPoint("vault-blobs-acked");
  }
}

void Vault::Impl::DropRepository(Namespace& ns, const Status& why) {
  std::vector<uint64_t> ids;
  for (auto& [id, s] : sessions_)
    if (s.ns == &ns) ids.push_back(id);
  for (uint64_t id : ids) EndSession(sessions_[id], why);
  ns.repo.reset();
}

void Vault::Impl::Housekeeping() {
  const auto now = Clock::now();
  // A pack write that failed (disk full, cluster down) poisons the
  // repository instance: end its sessions with the error (their agents
  // reconnect and resend) and open the namespace afresh on the next hello.
  for (auto& [name, ns] : namespaces_) {
    if (!ns.repo) continue;
    Status broken = ns.repo->write_error();
    if (broken.ok()) continue;
    LogEvent("namespace_write_failed", {{"namespace", name}, {"error", broken.message()}});
    DropRepository(ns, broken.WithContext("vault storage"));
  }
  // A stat per encrypted namespace held open, once a second.
  if (now - last_keys_check_ > std::chrono::seconds(1)) {
    last_keys_check_ = now;
    for (auto& [name, ns] : namespaces_) ReopenIfKeysRotated(name, ns);
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
  for (auto& [id, s] : sessions_) {
    if (!s.marker || now - s.last_seen <= kMarkerReleaseAfter) continue;
    s.marker.reset();
    s.marker_released = true;
    LogEvent("session_marker_released", {{"agent", s.agent.name},
                                         {"namespace", s.nspace},
                                         {"session", id},
                                         {"why", "silent for over a minute"}});
  }
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
