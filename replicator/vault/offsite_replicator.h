// OffsiteReplicator: feeds every committed snapshot of this vault to an
// independent off-site vault, asynchronously, in commit order.
//
// Per namespace and cycle: the config first (once), then for every index
// segment not yet copied the packs it lists (skipping those the peer has),
// then the segment itself, then the snapshots in time order. So the peer
// never holds a snapshot before everything it references: the same rule as
// a local commit. Every object is write-once at the peer, so a copy cut by a
// restart or a network failure is simply done again.
//
// The cursor (state/offsite/<namespace>.json: index segments and snapshots
// already copied) is rewritten atomically after each step and survives
// restarts. Lag (seconds since the oldest uncopied snapshot was taken, bytes
// and snapshots still to copy) is published in VaultMetrics and logged.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/status.h"
#include "replicator/vault/agent_registry.h"
#include "replicator/vault/vault_config.h"
#include "replicator/vault/vault_metrics.h"
#include "replicator/wire/curve_keys.h"

namespace dr {

class OffsiteReplicator {
 public:
  OffsiteReplicator(VaultConfig config, AgentRegistry* registry, VaultMetrics* metrics);
  ~OffsiteReplicator();
  // A snapshot was committed: start a cycle now instead of at the next interval.
  void Nudge();

 private:
  class NamespaceCopy;
  void Loop();
  // One pass over every namespace; each failure is logged with its namespace.
  void Cycle();
  // Copies what `ns` has that the peer lacks; every failure is logged.
  // `*peer_down` is set when the peer cannot be reached at all.
  Status ReplicateNamespace(const std::string& ns, const CurveKeyPair& keys, bool* peer_down);

  const VaultConfig config_;
  AgentRegistry* registry_;
  VaultMetrics* metrics_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool nudged_ = false;  // GUARDED_BY(mu_)
  bool stop_ = false;    // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace dr
