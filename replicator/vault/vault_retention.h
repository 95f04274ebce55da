// VaultRetention: a vault applies its policies' retention itself, after
// snapshots arrive; agents can never forget.
//
// Which rules: a same-city vault (config `site: same-city`, the default)
// applies each policy's `retention.same_city`, an off-site vault its
// `retention.off_site`, each from the policies applied at that vault
// (state/policies, `drvault policy apply`). A snapshot is weighed only when
// the policy it names was applied at this vault for its namespace and covers
// the agent that wrote it (the identity the vault stamped, not the host the
// agent claimed); every other snapshot is kept. Empty rules keep everything.
//
// Forgetting deletes snapshot objects and leaves "forgotten/<id>"
// tombstones (policies/snapshot_groups.h): the same-city replicator never
// sends a snapshot back to an off-site that forgot it, and nothing is ever
// deleted at one site because the other deleted it (there is no message
// that deletes). The data goes with the next prune. At the same-city site a
// group whose newest file snapshot, committed within the hour, has not been
// weighed for ransomware yet (vault_change_watch.h) waits for the next pass.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "policies/policy.h"
#include "policies/retention.h"
#include "replicator/vault/audit_log.h"
#include "replicator/vault/vault_config.h"

namespace dr {

// The policies applied at this vault for `ns`, by name; policy files that
// do not parse are named in `*errors` (when given).
Result<std::map<std::string, Policy>> NamespacePolicies(const VaultConfig& config,
                                                        const std::string& ns,
                                                        std::vector<std::string>* errors);

struct GroupRetention {
  std::string policy, host, paths;
  std::string rules;                         // as described to people
  std::vector<RetentionDecision> decisions;  // newest first
};

// One pass over namespace `ns` at time `now_ns`: every group's decisions;
// snapshots forgotten unless `dry_run`, each recorded in `audit` (when
// given) just before it goes. Policy files that do not parse are skipped
// (their groups kept) and named in `*policy_errors`.
Result<std::vector<GroupRetention>> ApplyVaultRetention(const VaultConfig& config,
                                                        const std::string& ns, int64_t now_ns,
                                                        bool dry_run,
                                                        std::vector<std::string>* policy_errors,
                                                        AuditLog* audit = nullptr);

// Runs ApplyVaultRetention on its own thread for every namespace nudged,
// so commits never wait for it; each outcome is logged as an event, and
// each forgotten snapshot recorded in `audit` (when given).
class VaultRetention {
 public:
  VaultRetention(VaultConfig config, AuditLog* audit);
  ~VaultRetention();
  // A snapshot arrived in `ns`.
  void Nudge(const std::string& ns);

 private:
  void Loop();

  const VaultConfig config_;
  AuditLog* const audit_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::string> pending_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace dr
