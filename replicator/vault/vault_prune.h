// VaultPruner: a vault prunes each of its namespaces' repositories itself,
// on a schedule (config `prune_every`, default 24h; `off` to leave prune to
// the operator's `drctl prune -r`).
//
// Prune needs no pause in service (catalog/prune.h): every vault session
// holds a session marker, so what a session relies on is never deleted
// under it, and a condemnation that waits for a session is deleted by a
// later run. A run that leaves records waiting is followed by another
// within the hour, so space comes back soon after the sessions end rather
// than a whole period later. The time of the last run is kept in
// STATE/prune.json, so a restart does not reset the clock; after downtime
// one run catches up (not one per missed period).
//
// Which namespaces: those of the enrolled agents and of the policies
// applied here (an off-site vault knows its namespaces by its policies).
// An encrypted namespace whose key this site does not hold (off-site) is
// pruned by its summaries (catalog/keyless_prune.h) with its gate closed
// (namespace_gate.h); packs it condemns go at a run `prune_grace` later.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "replicator/vault/agent_registry.h"
#include "replicator/vault/audit_log.h"
#include "replicator/vault/namespace_gate.h"
#include "replicator/vault/vault_config.h"
#include "replicator/vault/vault_metrics.h"

namespace dr {

class VaultPruner {
 public:
  // Does nothing when config.prune_every_s is 0. `registry` and `metrics`
  // must outlive the pruner.
  // Each run that deletes or condemns something is recorded in `audit`.
  // `gate` (outliving the pruner too) is shared with the vault's puts.
  VaultPruner(VaultConfig config, AgentRegistry* registry, VaultMetrics* metrics, AuditLog* audit,
              NamespaceGate* gate);
  // Waits for a prune in progress to finish its current namespace.
  ~VaultPruner();

 private:
  void Loop();
  // Prunes every namespace; true when some record is still waiting.
  bool RunOnce();
  std::set<std::string> Namespaces();

  const VaultConfig config_;
  AgentRegistry* const registry_;
  VaultMetrics* const metrics_;
  AuditLog* const audit_;
  NamespaceGate* const gate_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace dr
