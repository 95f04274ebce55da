// MetricsHttp: a minimal HTTP/1.0 responder on a ZMQ_STREAM socket, serving
// VaultMetrics in the Prometheus text format on GET /metrics. Driven by the
// vault's loop thread (the socket is polled with the others).
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <zmq.hpp>

#include "core/status.h"
#include "replicator/vault/vault_metrics.h"

namespace dr {

class MetricsHttp {
 public:
  static Result<std::unique_ptr<MetricsHttp>> Bind(zmq::context_t& ctx,
                                                   const std::string& endpoint);
  void* handle() { return socket_.handle(); }
  // Answers every complete request waiting on the socket.
  void Serve(const VaultMetrics& metrics);

 private:
  explicit MetricsHttp(zmq::context_t& ctx) : socket_(ctx, zmq::socket_type::stream) {}
  zmq::socket_t socket_;
  std::unordered_map<std::string, std::string> requests_;  // by connection, until complete
};

}  // namespace dr
