#include "replicator/wire/vault_client.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <zmq.hpp>

#include "replicator/wire/zmq_poll.h"

namespace dr {

bool IsVaultUrl(const std::string& url) { return url.rfind("vault://", 0) == 0; }

Result<VaultAddress> ParseVaultUrl(const std::string& url) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("vault URL " + url + ": " + why +
                                   " (expected vault://HOST:PORT/NAMESPACE?key=KEYFILE&"
                                   "server-key=KEYFILE)");
  };
  if (!IsVaultUrl(url)) return bad("not a vault:// URL");
  std::string rest = url.substr(8);
  const size_t q = rest.find('?');
  const std::string query = q == std::string::npos ? "" : rest.substr(q + 1);
  rest = rest.substr(0, q);
  const size_t slash = rest.find('/');
  if (slash == std::string::npos || slash + 1 >= rest.size()) return bad("no namespace");
  VaultAddress a;
  a.endpoint = "tcp://" + rest.substr(0, slash);
  a.nspace = rest.substr(slash + 1);
  if (rest.substr(0, slash).find(':') == std::string::npos) return bad("no port");
  std::string key_file, server_key;
  size_t pos = 0;
  while (pos < query.size()) {
    size_t amp = query.find('&', pos);
    std::string kv = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    pos = amp == std::string::npos ? query.size() : amp + 1;
    const size_t eq = kv.find('=');
    if (eq == std::string::npos) return bad("parameter '" + kv + "' has no value");
    const std::string k = kv.substr(0, eq), v = kv.substr(eq + 1);
    if (k == "key")
      key_file = v;
    else if (k == "server-key")
      server_key = v;
    else if (k == "name")
      a.agent_name = v;
    else
      return bad("unknown parameter '" + k + "'");
  }
  if (key_file.empty()) return bad("no key= (this agent's key file)");
  if (server_key.empty()) return bad("no server-key= (the vault's public key)");
  ASSIGN_OR_RETURN(a.client_keys, ReadKeyFile(key_file));
  if (a.client_keys.secret_key.empty())
    return Status::InvalidArgument("key file " + key_file + " has no secret key");
  ASSIGN_OR_RETURN(a.server_key, PublicKeyFromArg(server_key));
  if (a.agent_name.empty()) {
    char h[256] = {};
    ::gethostname(h, sizeof h - 1);
    a.agent_name = h;
  }
  return a;
}

namespace {

using Clock = std::chrono::steady_clock;

template <typename M>
void SetSeq(M& m, uint64_t seq) {
  if constexpr (requires { m.seq; }) m.seq = seq;
}

Status ErrorToStatus(const wire::Error& e, const std::string& prefix) {
  return Status::FromCode(e.code, prefix + e.message);
}

}  // namespace

class VaultClient::Impl {
 public:
  Impl(VaultAddress address, VaultClientOptions options)
      : address_(std::move(address)), options_(options), ctx_(1) {
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  }
  ~Impl() {
    stop_ = true;
    Wake();
    if (thread_.joinable()) thread_.join();
    FailAll(Status::Unavailable("vault session closed"));
    ::close(wake_fd_);
  }

  // Runs the first connection on the caller's thread, then starts the loop.
  Result<wire::Welcome> Start() {
    auto deadline = Clock::now() + options_.first_connect;
    Status last = Status::Unavailable("vault " + address_.endpoint + " did not answer");
    int closed_in_handshake = 0;
    while (Clock::now() < deadline) {
      Status s = Handshake(deadline);
      if (s.ok()) {
        first_credit_ = welcome_.credit_bytes;
        thread_ = std::thread([this] { Loop(); });
        return welcome_;
      }
      if (!s.IsRetryable()) return s;
      // A CurveZMQ server that cannot open the client's hello (it was
      // sealed for another server key) closes the connection without a
      // word: a connection that keeps closing before the welcome is that.
      if (tcp_connected_ && ++closed_in_handshake >= kHandshakeClosesBeforeGivingUp) {
        return Status::PermissionDenied(
            "the CurveZMQ handshake with vault " + address_.endpoint +
            " failed: it closed the connection " + std::to_string(closed_in_handshake) +
            " times before a session; the server key given is not that vault's key, or what "
            "answers there is not a vault");
      }
      last = s;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    if (closed_in_handshake == 0 && !tcp_connected_) {
      return Status::Unavailable("nothing answered at " + address_.endpoint + " within " +
                                 std::to_string(options_.first_connect.count()) +
                                 " s (is the vault running, and is the address right?)");
    }
    return last.WithContext("no session within " + std::to_string(options_.first_connect.count()) +
                            " s");
  }

  std::future<Result<wire::Message>> Request(wire::Message m) {
    std::promise<Result<wire::Message>> p;
    auto f = p.get_future();
    std::lock_guard l(mu_);
    if (!fatal_.ok()) {
      p.set_value(fatal_);
      return f;
    }
    const uint64_t seq = ++next_seq_;
    std::visit([&](auto& v) { SetSeq(v, seq); }, m);
    auto frame = wire::EncodeMessage(m);
    if (!frame.ok()) {
      p.set_value(frame.status());
      return f;
    }
    Pending& pe = pending_[seq];
    pe.frame = std::move(frame).value();
    pe.promise = std::move(p);
    outbox_.push_back(seq);
    Wake();
    return f;
  }

  Status SendBlob(wire::Blob blob) {
    const uint64_t cost = blob.stored.size();
    if (cost + 64 > wire::kMaxFrameBytes || cost > first_credit_) {
      return Status::InvalidArgument("a blob of " + std::to_string(cost) +
                                     " bytes is larger than the vault accepts in one message");
    }
    std::unique_lock l(mu_);
    credit_cv_.wait(l, [&] { return !fatal_.ok() || credit_ >= static_cast<int64_t>(cost); });
    if (!fatal_.ok()) return fatal_;
    credit_ -= static_cast<int64_t>(cost);
    const uint64_t seq = ++next_seq_;
    blob.seq = seq;
    auto frame = wire::EncodeMessage(blob);
    if (!frame.ok()) return frame.status();
    Pending& pe = pending_[seq];
    pe.frame = std::move(frame).value();
    pe.blob_bytes = cost;
    pe.is_blob = true;
    unacked_blob_bytes_ += cost;
    stats_.blobs_sent++;
    stats_.blob_bytes_sent += cost;
    outbox_.push_back(seq);
    Wake();
    return Status::OK();
  }

  Status WaitBlobsAcked() {
    std::unique_lock l(mu_);
    credit_cv_.wait(l, [&] { return !fatal_.ok() || unacked_blob_bytes_ == 0; });
    return fatal_;
  }

  VaultClientStats stats() const {
    std::lock_guard l(mu_);
    return stats_;
  }

 private:
  struct Pending {
    std::string frame;
    bool is_blob = false;
    uint64_t blob_bytes = 0;
    std::promise<Result<wire::Message>> promise;  // unused for blobs
  };

  void Wake() {
    uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
  }

  void FailAll(const Status& s) {
    std::lock_guard l(mu_);
    if (fatal_.ok()) fatal_ = s;
    for (auto& [seq, pe] : pending_)
      if (!pe.is_blob) pe.promise.set_value(s);
    pending_.clear();
    outbox_.clear();
    unacked_blob_bytes_ = 0;
    credit_cv_.notify_all();
  }

  // Opens a socket and exchanges hello/welcome. Retryable errors mean "try again".
  Status Handshake(Clock::time_point deadline) {
    socket_.reset();
    monitor_.reset();
    socket_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::dealer);
    socket_->set(zmq::sockopt::curve_serverkey, address_.server_key);
    socket_->set(zmq::sockopt::curve_publickey, address_.client_keys.public_key);
    socket_->set(zmq::sockopt::curve_secretkey, address_.client_keys.secret_key);
    socket_->set(zmq::sockopt::linger, 0);
    socket_->set(zmq::sockopt::sndhwm, 10000);
    socket_->set(zmq::sockopt::rcvhwm, 10000);
    socket_->set(zmq::sockopt::reconnect_ivl, 100);
    socket_->set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(wire::kMaxFrameBytes + 64));
    const std::string mon = "inproc://vault-client-monitor-" + std::to_string(++monitor_count_);
    if (zmq_socket_monitor(socket_->handle(), mon.c_str(),
                           ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CONNECTED) != 0) {
      return Status::Unavailable(std::string("socket monitor: ") + zmq_strerror(zmq_errno()));
    }
    monitor_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::pair);
    monitor_->connect(mon);
    tcp_connected_ = false;
    try {
      socket_->connect(address_.endpoint);
    } catch (const zmq::error_t& e) {
      return Status::InvalidArgument("vault endpoint " + address_.endpoint + ": " + e.what());
    }
    wire::Hello hello{address_.agent_name, address_.nspace, 0, 0};
    {
      std::lock_guard l(mu_);
      hello.resume_session = session_;
      hello.last_acked_seq = last_acked_;
    }
    auto frame = wire::EncodeMessage(hello);
    if (!frame.ok()) return frame.status();
    Send(*frame);
    while (Clock::now() < deadline && !stop_) {
      zmq::pollitem_t items[] = {{socket_->handle(), 0, ZMQ_POLLIN, 0},
                                 {monitor_->handle(), 0, ZMQ_POLLIN, 0}};
      PollQuietly(items, 2, std::chrono::milliseconds(100));
      if (items[1].revents & ZMQ_POLLIN) {
        Status s = MonitorEvent();
        if (!s.ok()) return s;
      }
      if (!(items[0].revents & ZMQ_POLLIN)) continue;
      zmq::message_t msg;
      if (!socket_->recv(msg, zmq::recv_flags::dontwait)) continue;
      auto m = wire::DecodeMessage(msg.to_string_view());
      if (!m.ok()) return m.status().WithContext("vault " + address_.endpoint);
      if (auto* e = std::get_if<wire::Error>(&*m)) {
        return ErrorToStatus(*e, "vault " + address_.endpoint + ": ");
      }
      auto* w = std::get_if<wire::Welcome>(&*m);
      if (!w) continue;  // a late answer from before the reconnect
      Resume(*w);
      last_recv_ = Clock::now();
      return Status::OK();
    }
    return Status::Unavailable("vault " + address_.endpoint + " did not answer");
  }

  // A welcome arrived: adopt the session and queue what must be sent again.
  void Resume(const wire::Welcome& w) {
    std::lock_guard l(mu_);
    const bool resumed = session_ != 0 && w.session == session_;
    welcome_ = w;
    session_ = w.session;
    credit_ = static_cast<int64_t>(w.credit_bytes);
    outbox_.clear();
    for (auto& [seq, pe] : pending_) {
      if (pe.is_blob && resumed && seq <= w.resume_from_seq) continue;  // the vault has it
      if (pe.is_blob) credit_ -= static_cast<int64_t>(pe.blob_bytes);
      outbox_.push_back(seq);
    }
    credit_cv_.notify_all();
  }

  Status MonitorEvent() {
    zmq::message_t ev, addr;
    if (!monitor_->recv(ev, zmq::recv_flags::dontwait)) return Status::OK();
    (void)monitor_->recv(addr, zmq::recv_flags::dontwait);
    if (ev.size() < 6) return Status::OK();
    uint16_t event;
    uint32_t value;
    std::memcpy(&event, ev.data(), 2);
    std::memcpy(&value, static_cast<const char*>(ev.data()) + 2, 4);
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
      return Status::PermissionDenied("vault " + address_.endpoint + " refused this agent's key " +
                                      address_.client_keys.public_key +
                                      " (not enrolled, or revoked; ZAP status " +
                                      std::to_string(value) + ")");
    }
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
      return Status::PermissionDenied("vault " + address_.endpoint +
                                      ": CurveZMQ handshake failed (wrong server key?)");
    }
    if (event == ZMQ_EVENT_CONNECTED) tcp_connected_ = true;
    if (event == ZMQ_EVENT_DISCONNECTED) return Status::Unavailable("disconnected");
    return Status::OK();
  }

  void Send(const std::string& frame) {
    zmq::message_t msg(frame.data(), frame.size());
    (void)socket_->send(msg, zmq::send_flags::dontwait);
  }

  void Loop() {
    Clock::time_point last_ping = Clock::now();
    Clock::time_point down_since{};
    while (!stop_) {
      zmq::pollitem_t items[] = {{socket_->handle(), 0, ZMQ_POLLIN, 0},
                                 {monitor_->handle(), 0, ZMQ_POLLIN, 0},
                                 {nullptr, wake_fd_, ZMQ_POLLIN, 0}};
      PollQuietly(items, 3, options_.heartbeat / 4);
      if (stop_) {
        // Tell the vault, so it does not keep the session until it expires
        // (its prune marker would hold back deletion that long). The
        // linger only waits while the bye is unsent: nothing on a healthy
        // connection, up to 3 s on a loaded machine.
        SendOutbox();
        socket_->set(zmq::sockopt::linger, 3000);
        Send(*wire::EncodeMessage(wire::Bye{}));
        break;
      }
      if (items[2].revents & ZMQ_POLLIN) {
        uint64_t n;
        (void)!::read(wake_fd_, &n, sizeof n);
      }
      bool reconnect = false;
      if (items[1].revents & ZMQ_POLLIN) {
        Status s = MonitorEvent();
        if (s.code() == Code::kPermissionDenied) {
          FailAll(s);
          return;
        }
        if (!s.ok()) reconnect = true;
      }
      for (int i = 0; i < 256 && (items[0].revents & ZMQ_POLLIN); ++i) {
        zmq::message_t msg;
        if (!socket_->recv(msg, zmq::recv_flags::dontwait)) break;
        last_recv_ = Clock::now();
        auto m = wire::DecodeMessage(msg.to_string_view());
        if (!m.ok()) continue;  // a vault speaking nonsense: ignore the frame
        Status s = Dispatch(std::move(m).value());
        if (!s.ok()) {
          FailAll(s);
          return;
        }
      }
      SendOutbox();
      const auto now = Clock::now();
      if (now - last_recv_ > options_.heartbeat && now - last_ping > options_.heartbeat) {
        auto ping =
            wire::EncodeMessage(wire::Ping{static_cast<uint64_t>(now.time_since_epoch().count())});
        Send(*ping);
        last_ping = now;
      }
      if (now - last_recv_ > options_.dead_after) reconnect = true;
      if (!reconnect) continue;
      // The vault is gone or restarted: reconnect with back-off, then resume.
      if (down_since == Clock::time_point{}) down_since = now;
      auto backoff = std::chrono::milliseconds(100);
      while (!stop_) {
        {
          std::lock_guard l(mu_);
          stats_.reconnects++;
        }
        Status s = Handshake(Clock::now() + std::chrono::seconds(3));
        if (s.ok()) break;
        if (!s.IsRetryable() || Clock::now() - down_since > options_.give_up_after) {
          FailAll(s.IsRetryable()
                      ? Status::Unavailable("vault " + address_.endpoint + " unreachable for " +
                                            std::to_string(options_.give_up_after.count()) + " s")
                      : s);
          return;
        }
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
      }
      down_since = {};
      last_ping = Clock::now();
    }
  }

  void SendOutbox() {
    std::lock_guard l(mu_);
    while (!outbox_.empty()) {
      auto it = pending_.find(outbox_.front());
      if (it != pending_.end()) {
        zmq::message_t msg(it->second.frame.data(), it->second.frame.size());
        auto sent = socket_->send(msg, zmq::send_flags::dontwait);
        if (!sent) return;  // high-water mark: try again on the next round
        stats_.frames_sent++;
        stats_.bytes_sent += it->second.frame.size();
      }
      outbox_.pop_front();
    }
  }

  Status Dispatch(wire::Message m) {
    if (auto* c = std::get_if<wire::Credit>(&m)) {
      std::lock_guard l(mu_);
      credit_ += static_cast<int64_t>(c->bytes);
      last_acked_ = std::max(last_acked_, c->acked_seq);
      for (auto it = pending_.begin(); it != pending_.end() && it->first <= c->acked_seq;) {
        if (it->second.is_blob) {
          unacked_blob_bytes_ -= it->second.blob_bytes;
          it = pending_.erase(it);
        } else {
          ++it;
        }
      }
      credit_cv_.notify_all();
      return Status::OK();
    }
    if (auto* p = std::get_if<wire::Ping>(&m)) {
      Send(*wire::EncodeMessage(wire::Pong{p->nonce}));
      return Status::OK();
    }
    if (std::holds_alternative<wire::Pong>(m) || std::holds_alternative<wire::Welcome>(m))
      return Status::OK();
    auto seq = wire::SeqOf(m);
    if (!seq) return Status::OK();
    if (auto* e = std::get_if<wire::Error>(&m); e && e->seq == 0) {
      return Status::PermissionDenied("vault " + address_.endpoint +
                                      " ended the session: " + e->message);
    }
    std::lock_guard l(mu_);
    auto it = pending_.find(*seq);
    if (it == pending_.end()) return Status::OK();  // answered before
    if (it->second.is_blob) {
      // A blob the vault refused would never be acknowledged: the session cannot go on.
      if (auto* e = std::get_if<wire::Error>(&m)) return ErrorToStatus(*e, "vault: ");
      return Status::OK();
    }
    if (auto* e = std::get_if<wire::Error>(&m)) {
      it->second.promise.set_value(ErrorToStatus(*e, "vault: "));
    } else {
      it->second.promise.set_value(std::move(m));
    }
    pending_.erase(it);
    return Status::OK();
  }

  const VaultAddress address_;
  const VaultClientOptions options_;
  zmq::context_t ctx_;
  std::unique_ptr<zmq::socket_t> socket_, monitor_;  // owned by the loop thread
  int monitor_count_ = 0;
  bool tcp_connected_ = false;  // in the current Handshake: TCP got through
  static constexpr int kHandshakeClosesBeforeGivingUp = 3;
  int wake_fd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  Clock::time_point last_recv_;

  mutable std::mutex mu_;
  std::condition_variable credit_cv_;
  std::map<uint64_t, Pending> pending_;  // GUARDED_BY(mu_): unanswered requests, unacked blobs
  std::deque<uint64_t> outbox_;          // GUARDED_BY(mu_): seqs to send
  uint64_t next_seq_ = 0;                // GUARDED_BY(mu_)
  int64_t credit_ = 0;                   // GUARDED_BY(mu_)
  uint64_t unacked_blob_bytes_ = 0;      // GUARDED_BY(mu_)
  uint64_t session_ = 0;                 // GUARDED_BY(mu_) after Start
  uint64_t last_acked_ = 0;              // GUARDED_BY(mu_)
  wire::Welcome welcome_;
  uint64_t first_credit_ = 0;  // the whole credit window: no blob may cost more
  Status fatal_;               // GUARDED_BY(mu_)
  VaultClientStats stats_;     // GUARDED_BY(mu_)
};

Result<std::unique_ptr<VaultClient>> VaultClient::Connect(const VaultAddress& address,
                                                          const VaultClientOptions& options) {
  auto impl = std::make_unique<Impl>(address, options);
  ASSIGN_OR_RETURN(wire::Welcome w, impl->Start());
  return std::unique_ptr<VaultClient>(new VaultClient(std::move(impl), address, std::move(w)));
}

VaultClient::VaultClient(std::unique_ptr<Impl> impl, VaultAddress address, wire::Welcome welcome)
    : impl_(std::move(impl)), address_(std::move(address)), welcome_(std::move(welcome)) {}
VaultClient::~VaultClient() = default;

std::future<Result<wire::Message>> VaultClient::Request(wire::Message request) {
  return impl_->Request(std::move(request));
}
Status VaultClient::SendBlob(wire::Blob blob) { return impl_->SendBlob(std::move(blob)); }
Status VaultClient::WaitBlobsAcked() { return impl_->WaitBlobsAcked(); }
VaultClientStats VaultClient::stats() const { return impl_->stats(); }

}  // namespace dr
