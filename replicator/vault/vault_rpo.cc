#include "replicator/vault/vault_rpo.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "catalog/format/repo_config.h"
#include "catalog/format/snapshot.h"
#include "catalog/repository.h"
#include "catalog/store/dir_store.h"
#include "catalog/store/object_store.h"
#include "core/env/file_io.h"
#include "core/timefmt.h"
#include "policies/scheduler.h"
#include "policies/snapshot_groups.h"
#include "replicator/vault/namespace_keys.h"
#include "replicator/vault/offsite_cursor.h"
#include "replicator/vault/policy_store.h"
#include "replicator/vault/vault_log.h"

namespace dr {

namespace {

// Agent names are host names, compared without case as Policy::AppliesTo
// does: "LEDGER-01" in a policy is the agent enrolled as ledger-01.
bool SameAgent(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    auto low = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    return low(x) == low(y);
  });
}

// Whether `s` is one of the snapshots of `key`'s policy and paths
// (whichever agent wrote it). A snapshot known only by its summary (an
// encrypted namespace off-site, catalog/snapshot_summary.h) names no paths:
// it counts for its policy's sources.
bool OfSource(const Snapshot& s, const SnapshotGroupKey& key) {
  if (s.policy != std::get<0>(key)) return false;
  return s.paths.empty() || JoinedPaths(s.paths) == std::get<2>(key);
}

// The time of the newest complete snapshot `agent` wrote of `key`'s source;
// only those in `at_peer`, when given.
std::optional<int64_t> Newest(const std::vector<Snapshot>& all, const SnapshotGroupKey& key,
                              const std::string& agent, const std::set<std::string>* at_peer) {
  std::optional<int64_t> newest;
  for (const Snapshot& s : all) {
    if (s.partial || !OfSource(s, key) || !SameAgent(s.identity, agent)) continue;
    if (at_peer && !at_peer->count(SnapshotKey(s.id))) continue;
    if (!newest || s.time_ns > *newest) newest = s.time_ns;
  }
  return newest;
}

// Every snapshot of namespace `ns`, read from its repository without
// opening it as a writer (the vault's loop may hold it). A namespace whose
// repository does not exist yet (no backup agent enrolled, or nothing
// replicated here yet) has none.
Result<std::vector<Snapshot>> NamespaceSnapshots(const VaultConfig& config, const std::string& ns) {
  ASSIGN_OR_RETURN(std::string url, NamespaceRepositoryUrl(config.repository, ns));
  ASSIGN_OR_RETURN(auto store, OpenObjectStore(url));
  auto config_object = store->Get("config");
  if (!config_object.ok()) {
    if (config_object.status().IsNotFound()) return std::vector<Snapshot>{};
    return config_object.status();
  }
  return NamespaceSnapshotsIn(config, ns, store.get(), *config_object);
}

int64_t FloorSeconds(int64_t ns) {
  int64_t s = ns / 1000000000;
  if (ns < 0 && ns % 1000000000) s--;
  return s;
}

Result<RpoState> StateNamed(const std::string& name) {
  for (RpoState s : {RpoState::kOk, RpoState::kLate, RpoState::kBreached, RpoState::kNever})
    if (name == RpoStateName(s)) return s;
  return Status::Corruption("unknown RPO state \"" + name + "\"");
}

}  // namespace

std::string RpoRow::Key() const {
  return ns + "/" + policy + "/" + source + "@" + agent + " " + site;
}

bool RpoRow::AtRisk() const {
  return status.state == RpoState::kBreached || (status.state == RpoState::kNever && rpo_s > 0);
}

Result<std::vector<RpoRow>> EvaluateVaultRpo(const VaultConfig& config, int64_t now_ns,
                                             VaultRpoIssues* issues) {
  VaultRpoIssues ignored;
  VaultRpoIssues& out_issues = issues ? *issues : ignored;
  out_issues = {};
  std::vector<RpoRow> rows;
  ASSIGN_OR_RETURN(const PolicyListing applied, PolicyStore(config.state_dir).Applied());
  out_issues.policy_errors = applied.errors;
  std::map<std::string, std::vector<const Policy*>> by_ns;
  for (const AppliedPolicy& a : applied.policies) by_ns[a.policy.ns].push_back(&a.policy);
  const bool offsite_vault = config.site == VaultSiteKind::kOffsite;
  const bool feeds_peer = !offsite_vault && config.offsite.has_value();
  const std::string own_site = offsite_vault ? kSiteOffsite : kSiteSameCity;
  const int64_t now_s = FloorSeconds(now_ns);
  for (const auto& [ns, policies] : by_ns) {
    auto all = NamespaceSnapshots(config, ns);
    if (!all.ok()) {
      out_issues.namespaces[ns] = all.status().message();
      continue;
    }
    // What the replicator copied to the peer, as its cursor says. Two
    // approximations, both about old snapshots rather than the newest: one
    // the same-city retention forgot since is not listed here, and one the
    // peer's own retention forgot stays in the cursor (so it is not sent
    // again).
    std::set<std::string> at_peer;
    if (feeds_peer) {
      DirStore state(config.state_dir);
      at_peer = LoadOffsiteCursor(state, OffsiteCursorKey(ns)).snapshots;
    }
    for (const Policy* p : policies) {
      for (const PolicySource& src : p->Sources()) {
        std::vector<std::string> agents = p->agents;
        if (agents.empty()) {
          // Every agent that wrote snapshots of this source counts.
          const SnapshotGroupKey any = GroupKeyOf(*p, src, "");
          std::set<std::string> seen;
          for (const Snapshot& s : *all)
            if (!s.identity.empty() && OfSource(s, any)) seen.insert(s.identity);
          agents.assign(seen.begin(), seen.end());
          if (agents.empty()) agents.push_back(kAnyAgent);
        }
        for (const std::string& agent : agents) {
          const SnapshotGroupKey key = GroupKeyOf(*p, src, agent);
          const auto expected =
              LastExpectedSlot(p->schedule, JitterKey(JobKey(*p, src), agent), now_s);
          auto add = [&](const std::string& site, std::optional<int64_t> newest) {
            RpoRow r;
            r.ns = ns;
            r.policy = p->name;
            r.source = src.Label();
            r.agent = agent;
            r.site = site;
            r.newest_ns = newest;
            r.rpo_s = p->rpo_s;
            r.status = EvaluateRpo(newest, p->rpo_s, expected, now_s);
            r.alert_command = p->alert_command;
            rows.push_back(std::move(r));
          };
          add(own_site, Newest(*all, key, agent, nullptr));
          if (feeds_peer) add(kSiteOffsite, Newest(*all, key, agent, &at_peer));
        }
      }
    }
  }
  // Namespaces come ordered from the map; policies by name within each.
  std::stable_sort(rows.begin(), rows.end(), [](const RpoRow& a, const RpoRow& b) {
    return std::tie(a.ns, a.policy) < std::tie(b.ns, b.policy);
  });
  return rows;
}

std::string RpoStatePath(const VaultConfig& config) { return config.state_dir + "/rpo.json"; }

std::string EncodeRpoRows(const std::vector<RpoRow>& rows, int64_t evaluated_ns) {
  nlohmann::json out = nlohmann::json::array();
  for (const RpoRow& r : rows) {
    out.push_back({{"namespace", r.ns},
                   {"policy", r.policy},
                   {"source", r.source},
                   {"agent", r.agent},
                   {"site", r.site},
                   {"state", RpoStateName(r.status.state)},
                   {"age_s", r.status.age_s},
                   {"newest_ns", r.newest_ns ? nlohmann::json(*r.newest_ns) : nlohmann::json()},
                   {"rpo_s", r.rpo_s}});
  }
  nlohmann::json j = {{"version", 1},
                      {"evaluated_ns", evaluated_ns},
                      {"evaluated", FormatRfc3339Utc(evaluated_ns)},
                      {"rows", out}};
  return j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

Result<std::vector<RpoRow>> DecodeRpoRows(std::string_view text, int64_t* evaluated_ns) {
  auto bad = [](const std::string& why) { return Status::Corruption("not an RPO state: " + why); };
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("rows") || !j["rows"].is_array()) return bad("no rows");
  if (evaluated_ns) {
    auto at = j.find("evaluated_ns");
    *evaluated_ns = at != j.end() && at->is_number_integer() ? at->get<int64_t>() : 0;
  }
  std::vector<RpoRow> rows;
  for (const auto& e : j["rows"]) {
    if (!e.is_object()) return bad("a row is not an object");
    RpoRow r;
    const std::pair<const char*, std::string*> texts[] = {{"namespace", &r.ns},
                                                          {"policy", &r.policy},
                                                          {"source", &r.source},
                                                          {"agent", &r.agent},
                                                          {"site", &r.site}};
    for (const auto& [name, out] : texts) {
      auto it = e.find(name);
      if (it == e.end() || !it->is_string()) return bad(std::string(name) + " missing");
      *out = it->get<std::string>();
    }
    auto state = e.find("state");
    if (state == e.end() || !state->is_string()) return bad("state missing");
    ASSIGN_OR_RETURN(r.status.state, StateNamed(state->get<std::string>()));
    auto age = e.find("age_s"), rpo = e.find("rpo_s"), newest = e.find("newest_ns");
    if (age == e.end() || !age->is_number_integer()) return bad("age_s missing");
    if (rpo == e.end() || !rpo->is_number_integer()) return bad("rpo_s missing");
    r.status.age_s = age->get<int64_t>();
    r.rpo_s = rpo->get<int64_t>();
    if (newest != e.end() && newest->is_number_integer()) r.newest_ns = newest->get<int64_t>();
    rows.push_back(std::move(r));
  }
  return rows;
}

VaultRpoMonitor::VaultRpoMonitor(VaultConfig config, VaultMetrics* metrics,
                                 std::chrono::milliseconds period, std::chrono::milliseconds first)
    : config_(std::move(config)),
      metrics_(metrics),
      period_(period),
      first_(first),
      alerts_(config_.state_dir) {
  // A damaged memory of alerts costs at most one repeated alert per breach.
  if (Status s = alerts_.Load(); !s.ok()) LogEvent("rpo_alert_state", {{"error", s.message()}});
  thread_ = std::thread([this] { Loop(); });
}

VaultRpoMonitor::~VaultRpoMonitor() {
  {
    std::lock_guard l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void VaultRpoMonitor::Loop() {
  std::unique_lock l(mu_);
  for (auto wait = first_;; wait = period_) {
    if (cv_.wait_for(l, wait, [this] { return stop_; })) return;
    l.unlock();
    RunOnce(NowUnixNs());
    l.lock();
  }
}

void VaultRpoMonitor::RunOnce(int64_t now_ns) {
  std::lock_guard pass(pass_mu_);
  VaultRpoIssues issues;
  auto rows = EvaluateVaultRpo(config_, now_ns, &issues);
  if (!rows.ok()) {
    LogEvent("rpo_failed", {{"error", rows.status().message()}});
    return;
  }
  // The same trouble every minute is logged once, until it changes.
  nlohmann::json trouble = {{"policy_errors", issues.policy_errors},
                            {"namespaces", issues.namespaces}};
  if (const std::string now_trouble = trouble.dump(); now_trouble != last_issues_) {
    last_issues_ = now_trouble;
    for (const auto& e : issues.policy_errors) LogEvent("policy_error", {{"error", e}});
    for (const auto& [ns, why] : issues.namespaces)
      LogEvent("rpo_unreadable", {{"namespace", ns}, {"error", why}});
  }

  std::vector<RpoGauge> gauges;
  std::vector<std::string> keys;
  std::map<std::string, RpoState> shown;
  for (const RpoRow& r : *rows) {
    gauges.push_back({r.ns, r.policy, r.source, r.agent, r.site, RpoStateName(r.status.state),
                      r.status.age_s, r.AtRisk()});
    const std::string key = r.Key();
    keys.push_back(key);
    // Like drctl run: a row seen for the first time is news unless it is ok.
    auto before = shown_.find(key);
    if (before == shown_.end() ? r.status.state != RpoState::kOk
                               : before->second != r.status.state) {
      LogEvent("rpo_state", {{"namespace", r.ns},
                             {"policy", r.policy},
                             {"source", r.source},
                             {"agent", r.agent},
                             {"site", r.site},
                             {"state", RpoStateName(r.status.state)},
                             {"age_s", r.status.age_s},
                             {"rpo_s", r.rpo_s}});
    }
    shown[key] = r.status.state;
    const AlertInfo info{"rpo-breach", r.policy, r.source, r.site, r.status, "", r.agent, r.ns};
    bool fired = false;
    Status s = alerts_.Update(key, r.alert_command, info, &fired);
    if (fired)
      LogEvent("rpo_alert", {{"key", key}, {"error", s.ok() ? "" : s.message()}});
    else if (!s.ok())
      LogEvent("rpo_alert_state", {{"key", key}, {"error", s.message()}});
  }
  metrics_->SetRpo(std::move(gauges));
  // Forget the rows of removed policies, but only from a complete view: a
  // namespace unreadable for a minute must not make its breaches alert again.
  if (issues.namespaces.empty()) {
    if (Status s = alerts_.Retain(keys); !s.ok())
      LogEvent("rpo_alert_state", {{"error", s.message()}});
    shown_ = std::move(shown);
  } else {
    for (auto& [key, state] : shown) shown_[key] = state;
  }
  if (Status s = WriteFileAtomically(RpoStatePath(config_), EncodeRpoRows(*rows, now_ns)); !s.ok())
    LogEvent("rpo_state_not_saved", {{"error", s.message()}});
}

}  // namespace dr
