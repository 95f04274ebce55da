#include "replicator/vault/vault_retention.h"

#include <map>

#include "catalog/change_record.h"
#include "catalog/format/repo_config.h"
#include "catalog/repository.h"
#include "catalog/store/object_store.h"
#include "core/timefmt.h"
#include "policies/duration.h"
#include "policies/snapshot_groups.h"
#include "replicator/vault/history_log.h"
#include "replicator/vault/namespace_keys.h"
#include "replicator/vault/policy_store.h"
#include "replicator/vault/vault_log.h"

namespace dr {

namespace {

// Whether `policy` covers every snapshot of `group`: each was written by an
// agent the policy names (the vault's stamp, which no agent can forge).
bool CoversGroup(const Policy& policy, const std::vector<const Snapshot*>& group) {
  for (const Snapshot* s : group) {
    if (s->identity.empty() || !policy.AppliesTo(s->identity)) return false;
  }
  return true;
}

}  // namespace

Result<std::map<std::string, Policy>> NamespacePolicies(const VaultConfig& config,
                                                        const std::string& ns,
                                                        std::vector<std::string>* errors) {
  std::map<std::string, Policy> out;
  ASSIGN_OR_RETURN(PolicyListing applied, PolicyStore(config.state_dir).Applied());
  if (errors) *errors = applied.errors;
  for (auto& a : applied.policies) {
    if (a.policy.ns == ns) out.emplace(a.policy.name, std::move(a.policy));
  }
  return out;
}

Result<std::vector<GroupRetention>> ApplyVaultRetention(const VaultConfig& config,
                                                        const std::string& ns, int64_t now_ns,
                                                        bool dry_run,
                                                        std::vector<std::string>* policy_errors,
                                                        AuditLog* audit) {
  std::vector<GroupRetention> out;
  ASSIGN_OR_RETURN(auto policies, NamespacePolicies(config, ns, policy_errors));
  if (policies.empty()) return out;
  ASSIGN_OR_RETURN(std::string url, NamespaceRepositoryUrl(config.repository, ns));
  ASSIGN_OR_RETURN(auto store, OpenObjectStore(url));
  ASSIGN_OR_RETURN(std::string config_object, store->Get("config"));
  ASSIGN_OR_RETURN(auto all, NamespaceSnapshotsIn(config, ns, store.get(), config_object));
  const bool offsite = config.site == VaultSiteKind::kOffsite;
  std::unique_ptr<NamespaceHistory> history;  // opened at the first forget
  for (const auto& [key, group] : GroupSnapshots(all, "", "")) {
    const auto& [policy_name, host, paths] = key;
    auto p = policies.find(policy_name);
    if (p == policies.end() || !CoversGroup(p->second, group)) continue;
    const RetentionRules& rules = offsite ? p->second.off_site : p->second.same_city;
    if (rules.empty() && rules.lock_for_s == 0) continue;
    // The same-city site weighs each file snapshot for ransomware before its
    // retention (vault_change_watch.h); a group whose newest one, committed
    // within the hour, is not weighed yet waits, so it cannot lose the clean
    // snapshot the watch is about to lock. (Older than that, the watch
    // failed or predates it: waiting longer would stop retention for good.)
    constexpr int64_t kWeighWithinNs = 3600LL * 1'000'000'000;
    if (!offsite && !group.empty() && !group.back()->block &&
        group.back()->time_ns > now_ns - kWeighWithinNs) {
      auto weighed = store->Get(ChangeRecordKey(group.back()->id));
      if (weighed.status().code() == Code::kNotFound) {
        LogEvent("retention_deferred", {{"namespace", ns},
                                        {"policy", policy_name},
                                        {"snapshot", group.back()->id.Hex()},
                                        {"why", "not yet weighed for ransomware"}});
        continue;
      }
      RETURN_IF_ERROR(weighed.status());
    }
    RetentionHooks hooks;
    hooks.before_forget = [&, &policy = policy_name,
                           &host = host](const RetentionDecision& d) -> Status {
      const nlohmann::json why = {{"policy", policy},
                                  {"host", host},
                                  {"rules", rules.Describe()},
                                  {"snapshot_time", FormatRfc3339Utc(d.time_ns)}};
      // The history says it was forgotten, not deleted behind the vault's back.
      if (!history) {
        ASSIGN_OR_RETURN(history, NamespaceHistory::Open(config, ns));
      }
      ASSIGN_OR_RETURN(std::string bytes, store->Get(SnapshotKey(d.id)));
      RETURN_IF_ERROR(history->Forget(d.id.Hex(), bytes, why));
      nlohmann::json audited = why;
      audited["namespace"] = ns;
      AuditOrLog(audit, "vault", "forget", d.id.Hex(), std::move(audited));
      return Status::OK();
    };
    hooks.locked = [&, &policy = policy_name](const Snapshot& s, int64_t until_ns) {
      AuditOrLog(audit, "vault", "lock", s.id.Hex(),
                 {{"namespace", ns},
                  {"policy", policy},
                  {"until", FormatRfc3339Utc(until_ns)},
                  {"lock_for", FormatDuration(rules.lock_for_s)}});
    };
    ASSIGN_OR_RETURN(auto decisions,
                     ApplyGroupRetention(*store, group, rules, now_ns, dry_run, hooks));
    out.push_back({policy_name, host, paths, rules.Describe(), std::move(decisions)});
  }
  return out;
}

VaultRetention::VaultRetention(VaultConfig config, AuditLog* audit)
    : config_(std::move(config)), audit_(audit), thread_([this] { Loop(); }) {}

VaultRetention::~VaultRetention() {
  {
    std::lock_guard l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void VaultRetention::Nudge(const std::string& ns) {
  {
    std::lock_guard l(mu_);
    pending_.insert(ns);
  }
  cv_.notify_all();
}

void VaultRetention::Loop() {
  std::unique_lock l(mu_);
  while (true) {
    cv_.wait(l, [this] { return stop_ || !pending_.empty(); });
    if (stop_) return;
    const std::string ns = *pending_.begin();
    pending_.erase(pending_.begin());
    l.unlock();
    std::vector<std::string> policy_errors;
    auto r = ApplyVaultRetention(config_, ns, NowUnixNs(), false, &policy_errors, audit_);
    for (const auto& e : policy_errors) LogEvent("policy_error", {{"error", e}});
    if (!r.ok()) {
      LogEvent("retention_failed", {{"namespace", ns}, {"error", r.status().message()}});
    } else {
      for (const auto& g : *r) {
        size_t forgotten = 0;
        for (const auto& d : g.decisions) forgotten += !d.keep;
        if (forgotten == 0) continue;
        LogEvent("retention_applied", {{"namespace", ns},
                                       {"policy", g.policy},
                                       {"host", g.host},
                                       {"paths", g.paths},
                                       {"rules", g.rules},
                                       {"kept", g.decisions.size() - forgotten},
                                       {"forgotten", forgotten}});
      }
    }
    l.lock();
  }
}

}  // namespace dr
