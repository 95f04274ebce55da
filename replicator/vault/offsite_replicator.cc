#include "replicator/vault/offsite_replicator.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "catalog/store/dir_store.h"
#include "catalog/format/index.h"
#include "catalog/store/object_store.h"
#include "catalog/format/pack.h"
#include "catalog/format/snapshot.h"
#include "core/timefmt.h"
#include "replicator/wire/vault_client.h"
#include "replicator/vault/vault_log.h"

namespace dr {

namespace {

struct Cursor {
  std::set<std::string> index;      // index segment keys already at the peer
  std::set<std::string> snapshots;  // snapshot keys already at the peer
  bool config = false;
};

std::string CursorKey(const std::string& ns) { return "offsite/" + ns + ".json"; }

Cursor LoadCursor(DirStore& state, const std::string& key) {
  Cursor c;
  auto text = state.Get(key);
  if (!text.ok()) return c;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded()) return c;  // rebuilt by copying again: every put is idempotent
  c.config = j.value("config", false);
  for (const auto& k : j.value("index", std::vector<std::string>{})) c.index.insert(k);
  for (const auto& k : j.value("snapshots", std::vector<std::string>{})) c.snapshots.insert(k);
  return c;
}

// Rewritten atomically and durably (DirStore's Put) after every step.
Status SaveCursor(DirStore& state, const std::string& key, const Cursor& c) {
  nlohmann::json j = {
      {"config", c.config},
      {"index", std::vector<std::string>(c.index.begin(), c.index.end())},
      {"snapshots", std::vector<std::string>(c.snapshots.begin(), c.snapshots.end())},
      {"updated_at", FormatRfc3339Utc(NowUnixNs())}};
  return state.Put(key, j.dump() + "\n");
}

// Copies one object to the peer unless it has it already.
Status CopyObject(VaultClient& peer, ObjectStore& local, const std::string& key, uint64_t* sent) {
  auto have = peer.Call(wire::Get{0, key, 0, 0});
  if (have.ok()) return Status::OK();
  if (!have.status().IsNotFound()) return have.status();
  ASSIGN_OR_RETURN(std::string data, local.Get(key));
  std::vector<std::future<Result<wire::Message>>> parts;
  uint64_t offset = 0;
  do {
    const size_t n = std::min<size_t>(wire::kMaxDataBytes, data.size() - offset);
    parts.push_back(peer.Request(wire::Put{0, key, data.size(), offset, data.substr(offset, n)}));
    offset += n;
  } while (offset < data.size());
  for (auto& f : parts) RETURN_IF_ERROR(f.get().status());
  *sent += data.size();
  return Status::OK();
}

}  // namespace

OffsiteReplicator::OffsiteReplicator(VaultConfig config, AgentRegistry* registry,
                                     VaultMetrics* metrics)
    : config_(std::move(config)), registry_(registry), metrics_(metrics) {
  thread_ = std::thread([this] { Loop(); });
}

OffsiteReplicator::~OffsiteReplicator() {
  {
    std::lock_guard l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void OffsiteReplicator::Nudge() {
  std::lock_guard l(mu_);
  nudged_ = true;
  cv_.notify_all();
}

void OffsiteReplicator::Loop() {
  for (;;) {
    Cycle();
    std::unique_lock l(mu_);
    cv_.wait_for(l, std::chrono::seconds(config_.offsite->interval_s),
                 [this] { return stop_ || nudged_; });
    if (stop_) return;
    nudged_ = false;
  }
}

void OffsiteReplicator::Cycle() {
  auto agents = registry_->All();
  if (!agents.ok()) return;
  std::set<std::string> namespaces;
  for (const auto& a : *agents)
    if ((a.rights & kRightBackup) && a.nspace != "*") namespaces.insert(a.nspace);
  auto client_keys = ReadKeyFile(config_.offsite_client_key_path());
  if (!client_keys.ok()) {
    LogEvent("offsite_error", {{"error", client_keys.status().message()}});
    return;
  }
  for (const std::string& ns : namespaces) {
    {
      std::lock_guard l(mu_);
      if (stop_) return;
    }
    OffsiteLag lag = metrics_->lags()[ns];
    auto url = NamespaceRepositoryUrl(config_.repository, ns);
    if (!url.ok()) continue;
    auto store = OpenObjectStore(*url);
    if (!store.ok()) continue;
    ObjectStore& local = **store;
    if (!local.Size("config").ok()) continue;  // not initialised yet
    DirStore state(config_.state_dir);
    const std::string cursor_key = CursorKey(ns);
    Cursor cursor = LoadCursor(state, cursor_key);
    // What is still to copy, and how much. Snapshots are listed first: a
    // commit landing between the listings then adds a segment we copy too,
    // never a snapshot whose segment we did not list.
    auto snaps = local.List("snapshots/");
    auto index = local.List("index/");
    auto packs = local.List("data/");
    if (!index.ok() || !snaps.ok() || !packs.ok()) continue;
    std::map<std::string, uint64_t> pack_size;
    for (const auto& o : *packs) pack_size[o.key] = o.size;
    std::vector<std::pair<int64_t, ObjectInfo>> todo_snaps;
    int64_t oldest_ns = 0;
    uint64_t todo_bytes = 0;
    for (const auto& o : *snaps) {
      if (cursor.snapshots.count(o.key)) continue;
      auto obj = local.Get(o.key);
      if (!obj.ok()) continue;
      auto s = DecodeSnapshot(*obj, o.key);
      if (!s.ok()) continue;
      todo_snaps.push_back({s->time_ns, o});
      todo_bytes += o.size;
      if (oldest_ns == 0 || s->time_ns < oldest_ns) oldest_ns = s->time_ns;
    }
    std::vector<ObjectInfo> todo_index;
    for (const auto& o : *index)
      if (!cursor.index.count(o.key)) todo_index.push_back(o);
    std::sort(todo_snaps.begin(), todo_snaps.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    // The packs of uncopied segments count as lag even if some are there already.
    std::vector<std::pair<ObjectInfo, std::vector<std::string>>> segments;
    bool unreadable = false;  // a segment we cannot read: copy no snapshot this cycle
    for (const auto& o : todo_index) {
      auto seg = local.Get(o.key);
      auto decoded =
          seg.ok() ? DecodeIndexSegment(*seg, o.key) : Result<std::vector<IndexPack>>(seg.status());
      if (!decoded.ok()) {
        LogEvent("offsite_error", {{"namespace", ns}, {"error", decoded.status().message()}});
        unreadable = true;
        continue;
      }
      std::vector<std::string> keys;
      for (const auto& p : *decoded) {
        keys.push_back(PackKey(p.pack));
        todo_bytes += pack_size[keys.back()];
      }
      todo_bytes += o.size;
      segments.push_back({o, std::move(keys)});
    }
    const uint64_t sent_before = lag.bytes_sent;
    uint64_t sent = 0;
    auto publish = [&] {
      lag.bytes_sent = sent_before + sent;
      lag.bytes = todo_bytes;
      lag.snapshots = todo_snaps.size();
      lag.oldest_pending_ns = oldest_ns;
      metrics_->SetLag(ns, lag);
    };
    publish();
    if (todo_snaps.empty() && segments.empty() && cursor.config) continue;

    VaultAddress peer_addr{config_.offsite->endpoint, ns, config_.offsite->server_key, *client_keys,
                           "vault-replicator"};
    VaultClientOptions opts;
    opts.first_connect = std::chrono::seconds(3);
    opts.give_up_after = std::chrono::seconds(30);
    auto peer = VaultClient::Connect(peer_addr, opts);
    if (!peer.ok()) {
      lag.peer_reachable = false;
      publish();
      LogEvent("offsite_unreachable",
               {{"namespace", ns},
                {"peer", config_.offsite->endpoint},
                {"error", peer.status().message()},
                {"lag_bytes", todo_bytes},
                {"lag_seconds", oldest_ns ? (NowUnixNs() - oldest_ns) / 1e9 : 0.0}});
      return;  // the peer is down: try again next cycle; the cursor keeps our place
    }
    lag.peer_reachable = true;
    auto fail = [&](const Status& s) {
      lag.peer_reachable = s.code() != Code::kUnavailable;
      publish();
      LogEvent("offsite_error", {{"namespace", ns}, {"error", s.message()}});
    };
    if (!cursor.config) {
      Status s = CopyObject(**peer, local, "config", &sent);
      if (!s.ok()) {
        fail(s);
        continue;  // the next namespace may do better
      }
      cursor.config = true;
      (void)SaveCursor(state, cursor_key, cursor);
    }
    bool failed = false;
    for (const auto& [seg, pack_keys] : segments) {
      for (const auto& key : pack_keys) {
        Status s = CopyObject(**peer, local, key, &sent);
        if (!s.ok()) {
          fail(s);
          failed = true;
          break;
        }
        todo_bytes -= std::min(todo_bytes, pack_size[key]);
        publish();
      }
      if (failed) break;
      Status s = CopyObject(**peer, local, seg.key, &sent);
      if (!s.ok()) {
        fail(s);
        failed = true;
        break;
      }
      todo_bytes -= std::min(todo_bytes, seg.size);
      cursor.index.insert(seg.key);
      (void)SaveCursor(state, cursor_key, cursor);
    }
    if (failed || unreadable) continue;
    while (!todo_snaps.empty()) {
      const ObjectInfo o = todo_snaps.front().second;
      Status s = CopyObject(**peer, local, o.key, &sent);
      if (!s.ok()) {
        fail(s);
        break;
      }
      cursor.snapshots.insert(o.key);
      (void)SaveCursor(state, cursor_key, cursor);
      todo_bytes -= std::min(todo_bytes, o.size);
      todo_snaps.erase(todo_snaps.begin());
      oldest_ns = todo_snaps.empty() ? 0 : todo_snaps.front().first;
      publish();
      LogEvent("offsite_snapshot_copied", {{"namespace", ns}, {"key", o.key}});
    }
    publish();
  }
}

}  // namespace dr
