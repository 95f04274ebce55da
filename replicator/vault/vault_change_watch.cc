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
    // Not weighed: no retention pass on its account (one that ran anyway
    // keeps the group while its newest snapshot has no record).
    if (Weigh(job)) then_(job.ns);
    job.repo.reset();  // outside the lock: the last reference may close it
    l.lock();
  }
}

bool VaultChangeWatch::Weigh(const Job& job) {
  const Snapshot& s = job.snapshot;
  if (s.block) return true;
  auto records = WatchSnapshot(*job.repo, s, NowUnixNs());
  if (!records.ok()) {
    metrics_->change_watch_failures++;
    LogEvent(
        "change_watch_failed",
        {{"namespace", job.ns}, {"snapshot", s.id.Hex()}, {"error", records.status().message()}});
    return false;
  }
  // An earlier snapshot weighed first (the vault stopped before it could)
  // is reported like the one just committed: same group, same agent.
  for (const ChangeRecord& r : *records) {
    metrics_->snapshots_measured++;
    if (r.verdict.suspicious) Report(job, r);
  }
  return true;
}

void VaultChangeWatch::Report(const Job& job, const ChangeRecord& record) {
  const Snapshot& s = job.snapshot;
  const std::string suspect = record.snapshot.Hex();
  metrics_->CountSuspicious(job.ns, s.policy);
  std::string reasons;
  for (const auto& r : record.verdict.reasons) reasons += (reasons.empty() ? "" : "; ") + r;
  const std::string locked = record.locked ? record.locked->Hex() : "";
  LogEvent("suspicious_snapshot", {{"namespace", job.ns},
                                   {"agent", s.identity},
                                   {"policy", s.policy},
                                   {"snapshot", suspect},
                                   {"reasons", reasons},
                                   {"locked", locked}});
  if (record.locked) {
    AuditOrLog(audit_, "vault", "lock", locked,
               {{"namespace", job.ns},
                {"policy", s.policy},
                {"until", FormatRfc3339Utc(record.locked_until_ns)},
                {"because", "snapshot " + suspect + " looks like ransomware: " + reasons}});
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
  info.error = DescribeSuspicion(record);
  info.agent = s.identity;
  info.nspace = job.ns;
  if (Status ran = RunAlertCommand(p->second.alert_command, info); !ran.ok())
    LogEvent("change_alert_failed", {{"namespace", job.ns}, {"error", ran.message()}});
}

}  // namespace dr
