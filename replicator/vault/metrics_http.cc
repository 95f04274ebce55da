#include "replicator/vault/metrics_http.h"

namespace dr {

Result<std::unique_ptr<MetricsHttp>> MetricsHttp::Bind(zmq::context_t& ctx,
                                                       const std::string& endpoint) {
  std::unique_ptr<MetricsHttp> http(new MetricsHttp(ctx));
  http->socket_.set(zmq::sockopt::linger, 0);
  try {
    http->socket_.bind(endpoint);
  } catch (const zmq::error_t& e) {
    return Status::Unavailable("cannot serve metrics on " + endpoint + ": " + e.what());
  }
  return http;
}

void MetricsHttp::Serve(const VaultMetrics& metrics) {
  for (int i = 0; i < 64; ++i) {
    zmq::message_t id, data;
    if (!socket_.recv(id, zmq::recv_flags::dontwait)) return;
    if (!socket_.recv(data, zmq::recv_flags::dontwait)) return;
    if (data.size() == 0) {  // connect or disconnect notification
      requests_.erase(id.to_string());
      continue;
    }
    std::string& req = requests_[id.to_string()];
    req.append(data.to_string_view());
    if (req.size() > 8192) req.clear();
    if (req.find("\r\n\r\n") == std::string::npos) continue;
    const bool found = req.rfind("GET /metrics", 0) == 0;
    const std::string body = found ? metrics.Render() : "not found; try /metrics\n";
    const std::string resp =
        std::string(found ? "HTTP/1.0 200 OK\r\n" : "HTTP/1.0 404 Not Found\r\n") +
        "Content-Type: text/plain; version=0.0.4\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    requests_.erase(id.to_string());
    zmq::message_t i1(id.data(), id.size()), r(resp.data(), resp.size());
    zmq::message_t i2(id.data(), id.size()), close(0);
    try {  // the client may be gone already
      (void)socket_.send(i1, zmq::send_flags::sndmore | zmq::send_flags::dontwait);
      (void)socket_.send(r, zmq::send_flags::dontwait);
      (void)socket_.send(i2, zmq::send_flags::sndmore | zmq::send_flags::dontwait);
      (void)socket_.send(close, zmq::send_flags::dontwait);
    } catch (const zmq::error_t&) {
    }
  }
}

}  // namespace dr
