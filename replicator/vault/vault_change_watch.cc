#include "replicator/vault/vault_change_watch.h"

#include "core/timefmt.h"
#include "policies/change_watch.h"
#include "policies/rpo.h"
#include "replicator/vault/vault_log.h"
#include "replicator/vault/vault_retention.h"

namespace dr {

VaultChangeWatch::VaultChangeWatch(VaultConfig config, VaultMetrics* metrics, AuditLog* audit,
                                   std::function<void(const std::string&)> then)
    : config_(std::move(config)),
      metrics_(metrics),
      audit_(audit),
      then_(std::move(then)),
      thread_([this] { Loop(); }) {}

VaultChangeWatch::~VaultChangeWatch() {
  {
    std::lock_guard l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void VaultChangeWatch::Nudge(const std::string& ns, std::shared_ptr<Repository> repo,
                             Snapshot snapshot) {
  {
    std::lock_guard l(mu_);
    jobs_.push_back({ns, std::move(repo), std::move(snapshot)});
  }
  cv_.notify_all();
}

void VaultChangeWatch::Loop() {
  std::unique_lock l(mu_);
  while (true) {
    cv_.wait(l, [this] { return stop_ || !jobs_.empty(); });
    if (stop_) return;
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    l.unlock();
    Weigh(job);
    then_(job.ns);
    job.repo.reset();  // outside the lock: the last reference may close it
    l.lock();
  }
}

void VaultChangeWatch::Weigh(const Job& job) {
  const Snapshot& s = job.snapshot;
  if (s.block) return;
  auto record = WatchSnapshot(*job.repo, s, NowUnixNs());
  if (!record.ok()) {
    metrics_->change_watch_failures++;
    LogEvent(
        "change_watch_failed",
        {{"namespace", job.ns}, {"snapshot", s.id.Hex()}, {"error", record.status().message()}});
    return;
  }
  metrics_->snapshots_measured++;
  if (!record->verdict.suspicious) return;
  metrics_->CountSuspicious(job.ns, s.policy);
  std::string reasons;
  for (const auto& r : record->verdict.reasons) reasons += (reasons.empty() ? "" : "; ") + r;
  const std::string locked = record->locked ? record->locked->Hex() : "";
  LogEvent("suspicious_snapshot", {{"namespace", job.ns},
                                   {"agent", s.identity},
                                   {"policy", s.policy},
                                   {"snapshot", s.id.Hex()},
                                   {"reasons", reasons},
                                   {"locked", locked}});
  if (record->locked) {
    AuditOrLog(audit_, "vault", "lock", locked,
               {{"namespace", job.ns},
                {"policy", s.policy},
                {"until", FormatRfc3339Utc(record->locked_until_ns)},
                {"because", "snapshot " + s.id.Hex() + " looks like ransomware: " + reasons}});
  }
  std::vector<std::string> policy_errors;
  auto policies = NamespacePolicies(config_, job.ns, &policy_errors);
  if (!policies.ok()) return;
  auto p = policies->find(s.policy);
  if (p == policies->end() || !p->second.AppliesTo(s.identity) || p->second.alert_command.empty())
    return;
  AlertInfo info;
  info.event = "suspicious-change";
  info.policy = s.policy;
  info.source = "files";
  info.site = config_.site == VaultSiteKind::kOffsite ? "off-site" : "same-city";
  info.error = "snapshot " + s.id.Hex() + ": " + reasons +
               (locked.empty() ? "" : "; locked snapshot " + locked);
  info.agent = s.identity;
  info.nspace = job.ns;
  if (Status ran = RunAlertCommand(p->second.alert_command, info); !ran.ok())
    LogEvent("change_alert_failed", {{"namespace", job.ns}, {"error", ran.message()}});
}

}  // namespace dr
