// ZapHandler: the ZeroMQ authentication (ZAP, RFC 27) handler of a vault.
// Admits a CurveZMQ client only when its public key is enrolled and not
// revoked in the AgentRegistry; the key becomes the connection's User-Id, by
// which the vault finds the agent's namespace and rights for every message.
// Refusals are logged with the peer address.
#pragma once

#include <atomic>
#include <functional>
#include <thread>
#include <zmq.hpp>

#include "replicator/vault/agent_registry.h"

namespace dr {

class ZapHandler {
 public:
  using Log = std::function<void(const std::string& event, const std::string& detail)>;
  // Binds inproc://zeromq.zap.01 on `ctx` (before any CURVE server socket
  // binds) and serves until destroyed.
  ZapHandler(zmq::context_t& ctx, AgentRegistry* registry, Log log);
  ~ZapHandler();

 private:
  void Serve();
  zmq::socket_t socket_;
  AgentRegistry* registry_;
  Log log_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace dr
