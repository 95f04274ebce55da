// Vault: the server side of the agent protocol (docs/protocol.md).
//
// One thread serves a ZeroMQ ROUTER socket with CurveZMQ; a ZapHandler admits
// only enrolled keys. Every message is checked against the sender's rights
// and namespace before it touches a repository: an agent adds blobs and
// snapshots to its own namespace and reads it back (with the restore right);
// nothing can delete or overwrite, and no answer ever covers another
// namespace. Malformed frames are logged and dropped; the sender gets an
// error and everyone else carries on.
//
// Durability: a blob is acknowledged (Credit.acked_seq) only once the pack
// holding it is durable, and `committed` is sent only after the snapshot
// object is. Credit (bytes an agent may have unacknowledged) bounds memory on
// both sides. Sessions live in memory; after a vault restart an agent's
// resume opens a new session and the agent resends its unacknowledged blobs.
#pragma once

#include <atomic>
#include <memory>

#include "core/status.h"
#include "replicator/vault/vault_config.h"

namespace dr {

class Vault {
 public:
  // Loads the server key and registry, binds the endpoints, and starts the
  // off-site replicator if one is configured.
  static Result<std::unique_ptr<Vault>> Start(const VaultConfig& config);
  ~Vault();
  // Serves until `stop` is set.
  Status Run(const std::atomic<bool>& stop);

  class Impl;

 private:
  explicit Vault(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Creates the state directory with a new server key pair and the key this
// vault presents to an off-site peer. AlreadyExists if a server key exists.
Status InitVaultState(const VaultConfig& config);

}  // namespace dr
