// VaultChangeWatch: the vault weighs every file snapshot an agent commits
// for ransomware's marks (policies/change_watch.h) on a thread of its own,
// so a commit never waits for it. A flagged snapshot is logged
// (`suspicious_snapshot`), counted in the metrics, its last clean
// predecessor locked and the lock audited, and the policy's alert command
// run with DR_EVENT=suspicious-change. Retention for the namespace is nudged
// only after a snapshot is weighed (`then`), and itself skips a group whose
// newest snapshot is not weighed yet (vault_retention.h), so no retention
// pass forgets the clean copy before the watch has locked it.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "catalog/change_record.h"
#include "catalog/format/snapshot.h"
#include "catalog/repository.h"
#include "replicator/vault/audit_log.h"
#include "replicator/vault/vault_config.h"
#include "replicator/vault/vault_metrics.h"

namespace dr {

class VaultChangeWatch {
 public:
  VaultChangeWatch(VaultConfig config, VaultMetrics* metrics, AuditLog* audit,
                   std::function<void(const std::string& ns)> then);
  ~VaultChangeWatch();
  // `snapshot` was committed to `repo`, the repository of namespace `ns`
  // (kept alive here until it is weighed).
  void Nudge(const std::string& ns, std::shared_ptr<Repository> repo, Snapshot snapshot);

 private:
  struct Job {
    std::string ns;
    std::shared_ptr<Repository> repo;
    Snapshot snapshot;
  };
  void Loop();
  // False when the snapshot could not be weighed (logged).
  bool Weigh(const Job& job);
  void Report(const Job& job, const ChangeRecord& record);

  const VaultConfig config_;
  VaultMetrics* const metrics_;
  AuditLog* const audit_;
  const std::function<void(const std::string&)> then_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;  // GUARDED_BY(mu_)
  bool stop_ = false;     // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace dr
