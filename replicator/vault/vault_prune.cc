#include "replicator/vault/vault_prune.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "catalog/keyless_prune.h"
#include "catalog/prune.h"
#include "catalog/store/dir_store.h"
#include "catalog/store/object_store.h"
#include "core/timefmt.h"
#include "replicator/vault/namespace_keys.h"
#include "replicator/vault/policy_store.h"
#include "replicator/vault/vault_log.h"

namespace dr {

namespace {

constexpr char kStateKey[] = "prune.json";
// A run that left condemned packs waiting for sessions comes back this soon.
constexpr int64_t kRetryWaitingS = 3600;

int64_t LastRunNs(DirStore& state) {
  auto text = state.Get(kStateKey);
  if (!text.ok()) return 0;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  return j.is_object() ? j.value("last_run_ns", int64_t{0}) : 0;
}

}  // namespace

VaultPruner::VaultPruner(VaultConfig config, AgentRegistry* registry, VaultMetrics* metrics,
                         AuditLog* audit, NamespaceGate* gate)
    : config_(std::move(config)),
      registry_(registry),
      metrics_(metrics),
      audit_(audit),
      gate_(gate) {
  if (config_.prune_every_s > 0) thread_ = std::thread([this] { Loop(); });
}

VaultPruner::~VaultPruner() {
  {
    std::lock_guard l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

static Status SaveRun(DirStore& state, int64_t at_ns, bool waiting) {
  const nlohmann::json j = {
      {"last_run_ns", at_ns}, {"last_run", FormatRfc3339Utc(at_ns)}, {"records_waiting", waiting}};
  return state.Put(kStateKey, j.dump() + "\n");
}

void VaultPruner::Loop() {
  DirStore state(config_.state_dir);
  int64_t wait_s = config_.prune_every_s;
  // A new vault counts its first period from now: it has nothing to prune.
  if (LastRunNs(state) == 0) (void)SaveRun(state, NowUnixNs(), false);
  for (;;) {
    const int64_t last = LastRunNs(state);
    const int64_t due = last + wait_s * 1'000'000'000;
    const int64_t now = NowUnixNs();
    if (due > now) {
      std::unique_lock l(mu_);
      // Wakes at least once a minute: the state file may say otherwise now.
      const auto nap = std::chrono::nanoseconds(std::min<int64_t>(due - now, 60'000'000'000));
      if (cv_.wait_for(l, nap, [this] { return stop_; })) return;
      continue;
    }
    const bool waiting = RunOnce();
    if (Status saved = SaveRun(state, NowUnixNs(), waiting); !saved.ok())
      LogEvent("prune_state_failed", {{"error", saved.message()}});
    wait_s = waiting ? std::min(config_.prune_every_s, kRetryWaitingS) : config_.prune_every_s;
    std::lock_guard l(mu_);
    if (stop_) return;
  }
}

std::set<std::string> VaultPruner::Namespaces() {
  std::set<std::string> out;
  if (auto agents = registry_->All(); agents.ok()) {
    for (const auto& a : *agents)
      if (a.nspace != "*") out.insert(a.nspace);
  } else {
    LogEvent("prune_failed", {{"error", agents.status().message()}});
  }
  if (auto applied = PolicyStore(config_.state_dir).Applied(); applied.ok()) {
    for (const auto& a : applied->policies) out.insert(a.policy.ns);
  } else {
    LogEvent("prune_failed", {{"error", applied.status().message()}});
  }
  return out;
}

bool VaultPruner::RunOnce() {
  bool waiting = false;
  for (const std::string& ns : Namespaces()) {
    {
      std::lock_guard l(mu_);
      if (stop_) return waiting;
    }
    auto url = NamespaceRepositoryUrl(config_.repository, ns);
    if (!url.ok()) continue;
    // An enrolled namespace without a backup yet has nothing to prune.
    auto probe = OpenObjectStore(*url);
    if (!probe.ok() || !(*probe)->Size("config").ok()) continue;
    RepositoryOpener open = [this, ns]() { return OpenNamespaceRepository(config_, ns); };
    auto keyless = HeldWithoutKey(config_, ns, probe->get());
    if (!keyless.ok()) {
      metrics_->prune_failures++;
      LogEvent("prune_failed", {{"namespace", ns}, {"error", keyless.status().message()}});
      continue;
    }
    auto report = [&]() -> Result<PruneReport> {
      if (!*keyless) return Prune(open, PruneOptions{});
      // Ciphertext only (off-site): pruned by its summaries, with the
      // peer's puts into it held off for the run.
      auto closed = gate_->Close(ns);
      return PruneWithoutKey(probe->get(),
                             KeylessPruneOptions{config_.prune_grace_s * 1'000'000'000LL, {}});
    }();
    if (!report.ok()) {
      metrics_->prune_failures++;
      LogEvent("prune_failed", {{"namespace", ns}, {"error", report.status().message()}});
      continue;
    }
    metrics_->prune_runs++;
    metrics_->prune_bytes_deleted += report->bytes_deleted;
    waiting = waiting || report->records_waiting > 0;
    LogEvent("prune_done", {{"namespace", ns},
                            {"keyless", *keyless},
                            {"packs_deleted", report->packs_deleted},
                            {"bytes_deleted", report->bytes_deleted},
                            {"condemned_bytes", report->condemned_bytes},
                            {"repacked_bytes", report->repacked_bytes},
                            {"records_waiting", report->records_waiting},
                            {"seconds", report->seconds}});
    // A run that changed nothing is not an action worth a record.
    if (report->packs_deleted + report->condemned_unused + report->condemned_unindexed +
            report->condemned_repacked >
        0) {
      AuditOrLog(audit_, "vault", "prune", ns,
                 {{"packs_deleted", report->packs_deleted},
                  {"bytes_deleted", report->bytes_deleted},
                  {"condemned_bytes", report->condemned_bytes},
                  {"repacked_bytes", report->repacked_bytes}});
    }
  }
  return waiting;
}

}  // namespace dr
