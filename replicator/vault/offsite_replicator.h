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
// already copied, offsite_cursor.h) is rewritten atomically after each step
// and survives restarts. It is reconciled with the peer's listing at the
// first cycle after start and then every ReconcileEvery(), so a wiped or
// rebuilt peer is refilled. Lag (seconds since the oldest uncopied snapshot was taken, bytes
// and snapshots still to copy) is published in VaultMetrics and logged.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "core/status.h"
#include "replicator/vault/agent_registry.h"
#include "replicator/vault/offsite_cursor.h"
#include "replicator/vault/vault_config.h"
#include "replicator/vault/vault_metrics.h"
#include "replicator/wire/curve_keys.h"
#include "replicator/wire/vault_client.h"

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
  Result<std::shared_ptr<VaultClient>> ConnectPeer(const std::string& ns, const CurveKeyPair& keys);
  // Sends the retention locks of `ns` the peer was not yet sent in this
  // run, connecting (`connect`) only when there is one; CopyObject asks the
  // peer first, so a restart costs one question per lock.
  Status CopyLocks(const std::string& ns, ObjectStore& local,
                   const std::function<Status()>& connect, std::shared_ptr<VaultClient>& peer);
  // Every 12 cycles: a minute at the default interval.
  std::chrono::seconds ReconcileEvery() const {
    return std::chrono::seconds(12 * config_.offsite->interval_s);
  }
  bool ReconcileDue(const std::string& ns) const;
  void MarkReconciled(const std::string& ns);

  const VaultConfig config_;
  AgentRegistry* registry_;
  VaultMetrics* metrics_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool nudged_ = false;  // GUARDED_BY(mu_)
  bool stop_ = false;    // GUARDED_BY(mu_)
  // When each namespace was last reconciled (replicator thread only).
  std::map<std::string, std::chrono::steady_clock::time_point> last_reconcile_;
  // Per namespace, the packs each of the peer's index segments lists.
  std::map<std::string, SegmentPacks> peer_segments_;
  // Per namespace, the retention lock keys the peer holds (replicator thread only).
  std::map<std::string, std::set<std::string>> locks_sent_;
  std::thread thread_;
};

}  // namespace dr
