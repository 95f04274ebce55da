#include "replicator/vault/zap_handler.h"

#include <vector>

#include "replicator/wire/zmq_poll.h"

namespace dr {

ZapHandler::ZapHandler(zmq::context_t& ctx, AgentRegistry* registry, Log log)
    : socket_(ctx, zmq::socket_type::rep), registry_(registry), log_(std::move(log)) {
  socket_.set(zmq::sockopt::linger, 0);
  socket_.bind("inproc://zeromq.zap.01");
  thread_ = std::thread([this] { Serve(); });
}

ZapHandler::~ZapHandler() {
  stop_ = true;
  thread_.join();
}

void ZapHandler::Serve() {
  while (!stop_) {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    PollQuietly(&item, 1, std::chrono::milliseconds(100));
    if (!(item.revents & ZMQ_POLLIN)) continue;
    // Request: version, request id, domain, address, identity, mechanism, credentials...
    std::vector<zmq::message_t> frames;
    do {
      zmq::message_t m;
      if (!socket_.recv(m)) break;
      frames.push_back(std::move(m));
    } while (socket_.get(zmq::sockopt::rcvmore));
    std::string status = "400", text = "malformed ZAP request", user;
    if (frames.size() >= 6) {
      const std::string address = frames[3].to_string();
      const std::string mechanism = frames[5].to_string();
      if (mechanism != "CURVE" || frames.size() < 7 || frames[6].size() != 32) {
        text = "only CurveZMQ clients are admitted";
        log_("auth_refused", "peer " + address + ": mechanism " + mechanism);
      } else {
        char z85[41];
        zmq_z85_encode(z85, static_cast<const uint8_t*>(frames[6].data()), 32);
        auto entry = registry_->Find(z85);
        if (!entry) {
          text = "unknown agent key";
          log_("auth_refused", "peer " + address + ": unknown key " + z85);
        } else if (entry->revoked) {
          text = "agent key revoked";
          log_("auth_refused", "peer " + address + ": revoked key of agent '" + entry->name + "'");
        } else {
          status = "200";
          text = "OK";
          user = z85;
        }
      }
    }
    std::string version = frames.empty() ? "1.0" : frames[0].to_string();
    std::string request_id = frames.size() > 1 ? frames[1].to_string() : "";
    const std::string reply[] = {version, request_id, status, text, user, ""};
    for (size_t i = 0; i < std::size(reply); ++i) {
      zmq::message_t m(reply[i].data(), reply[i].size());
      socket_.send(m, i + 1 < std::size(reply) ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }
}

}  // namespace dr
