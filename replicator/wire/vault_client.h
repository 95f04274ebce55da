// VaultClient: one agent's (or a replicating vault's) session with a vault,
// over a ZeroMQ DEALER socket with CurveZMQ (the vault's key is pinned).
//
// Every method is thread-safe. A background thread owns the socket: it sends
// heartbeats, notices a dead or restarted vault, reconnects with back-off and
// resumes the session (hello with the session id and the last acknowledged
// seq). Requests not yet answered and blobs not yet acknowledged are kept and
// sent again after a reconnect, so callers never see a disconnect, only a
// delay, until `give_up_after` has passed without a vault.
//
// Memory is bounded by the vault's credit: SendBlob waits while the bytes
// sent but not acknowledged as durable would exceed what the vault granted.
#pragma once

#include <chrono>
#include <future>
#include <memory>
#include <string>

#include "replicator/wire/curve_keys.h"
#include "replicator/wire/protocol.h"

namespace dr {

struct VaultAddress {
  std::string endpoint;    // tcp://HOST:PORT
  std::string nspace;      // the namespace (department) to work in
  std::string server_key;  // the vault's public key, Z85 (pinned)
  CurveKeyPair client_keys;
  std::string agent_name;  // for the vault's logs
};

// vault://HOST:PORT/NAMESPACE?key=KEYFILE&server-key=KEYFILE_OR_Z85[&name=AGENT]
Result<VaultAddress> ParseVaultUrl(const std::string& url);
bool IsVaultUrl(const std::string& url);

struct VaultClientOptions {
  std::chrono::milliseconds heartbeat{1000};
  std::chrono::milliseconds dead_after{10000};  // silence that means the vault is gone
  std::chrono::seconds give_up_after{300};      // no vault this long: requests fail
  std::chrono::seconds first_connect{15};       // Connect() waits this long for a welcome
};

struct VaultClientStats {
  uint64_t frames_sent = 0;
  uint64_t bytes_sent = 0;  // frame bytes, before CurveZMQ
  uint64_t blob_bytes_sent = 0;
  uint64_t blobs_sent = 0;
  uint64_t reconnects = 0;
};

class VaultClient {
 public:
  // Connects and opens a session. Errors: PermissionDenied when the vault
  // refuses the key or the namespace, Unavailable when no vault answers.
  static Result<std::unique_ptr<VaultClient>> Connect(const VaultAddress& address,
                                                      const VaultClientOptions& options = {});
  ~VaultClient();

  const wire::Welcome& welcome() const { return welcome_; }
  const VaultAddress& address() const { return address_; }

  // Sends a request (query, get, list, gettree, put, commit; its seq is set
  // here) and returns its answer, or the vault's error as a Status.
  std::future<Result<wire::Message>> Request(wire::Message request);
  Result<wire::Message> Call(wire::Message request) { return Request(std::move(request)).get(); }
  // Sends a blob (seq set here), waiting for credit first. Returns the
  // session's fatal error, if there is one.
  Status SendBlob(wire::Blob blob);
  // Waits until every blob sent so far is acknowledged as durable.
  Status WaitBlobsAcked();
  VaultClientStats stats() const;

  class Impl;

 private:
  explicit VaultClient(std::unique_ptr<Impl> impl, VaultAddress address, wire::Welcome welcome);
  std::unique_ptr<Impl> impl_;
  VaultAddress address_;
  wire::Welcome welcome_;
};

// The answer of type T, or the error, or Corruption for an answer of another type.
template <typename T>
Result<T> Expect(Result<wire::Message> answer) {
  if (!answer.ok()) return answer.status();
  if (auto* v = std::get_if<T>(&*answer)) return std::move(*v);
  return Status::Corruption(std::string("vault answered with an unexpected '") +
                            wire::TypeName(wire::TypeOf(*answer)) + "' message");
}

}  // namespace dr
