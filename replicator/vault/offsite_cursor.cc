#include "replicator/vault/offsite_cursor.h"

#include <nlohmann/json.hpp>

#include "catalog/format/index.h"
#include "catalog/format/pack.h"
#include "catalog/format/snapshot.h"
#include "core/timefmt.h"

namespace dr {

std::string OffsiteCursorKey(const std::string& ns) { return "offsite/" + ns + ".json"; }

OffsiteCursor LoadOffsiteCursor(DirStore& state, const std::string& key) {
  OffsiteCursor c;
  auto text = state.Get(key);
  if (!text.ok()) return c;
  try {
    const auto j = nlohmann::json::parse(*text);
    c.config = j.value("config", false);
    for (const auto& k : j.value("index", std::vector<std::string>{})) c.index.insert(k);
    for (const auto& k : j.value("snapshots", std::vector<std::string>{})) c.snapshots.insert(k);
  } catch (const nlohmann::json::exception&) {
    return OffsiteCursor{};
  }
  return c;
}

Status SaveOffsiteCursor(DirStore& state, const std::string& key, const OffsiteCursor& c) {
  nlohmann::json j = {
      {"config", c.config},
      {"index", std::vector<std::string>(c.index.begin(), c.index.end())},
      {"snapshots", std::vector<std::string>(c.snapshots.begin(), c.snapshots.end())},
      {"updated_at", FormatRfc3339Utc(NowUnixNs())}};
  return state.Put(key, j.dump() + "\n");
}

namespace {

Result<std::set<std::string>> KeysAt(ObjectStore& store, const std::string& prefix) {
  ASSIGN_OR_RETURN(auto listed, store.List(prefix));
  std::set<std::string> keys;
  for (const auto& o : listed) keys.insert(o.key);
  return keys;
}

}  // namespace

Result<Reconciled> ReconcileCursor(ObjectStore& local, ObjectStore& peer, OffsiteCursor* cursor) {
  Reconciled r;
  ASSIGN_OR_RETURN(auto peer_snapshots, KeysAt(peer, "snapshots/"));
  // What the peer forgot by its own retention counts as copied: a deletion
  // at one site never undoes, nor is undone by, the other.
  ASSIGN_OR_RETURN(auto peer_forgotten, KeysAt(peer, "forgotten/"));
  for (const auto& k : peer_forgotten) {
    Id id;
    if (Id::FromHex(std::string_view(k).substr(std::string_view("forgotten/").size()), &id) &&
        ForgottenKey(id) == k) {
      peer_snapshots.insert(SnapshotKey(id));
      cursor->snapshots.insert(SnapshotKey(id));
    }
  }
  ASSIGN_OR_RETURN(auto peer_index, KeysAt(peer, "index/"));
  ASSIGN_OR_RETURN(auto peer_packs, KeysAt(peer, "data/"));
  if (cursor->config && !peer.Size("config").ok()) {
    cursor->config = false;
    r.config = true;
  }
  for (auto it = cursor->snapshots.begin(); it != cursor->snapshots.end();) {
    if (peer_snapshots.count(*it)) {
      ++it;
    } else {
      it = cursor->snapshots.erase(it);
      r.snapshots++;
    }
  }
  // A segment counts as copied only with every pack it lists. Segments are
  // read here only when some pack is missing (a peer that lost data).
  ASSIGN_OR_RETURN(auto local_packs, KeysAt(local, "data/"));
  std::set<std::string> missing_packs;
  for (const auto& k : local_packs)
    if (!peer_packs.count(k)) missing_packs.insert(k);
  r.packs = missing_packs.size();
  for (auto it = cursor->index.begin(); it != cursor->index.end();) {
    bool complete = peer_index.count(*it) > 0;
    if (complete && !missing_packs.empty()) {
      ASSIGN_OR_RETURN(std::string seg, local.Get(*it));
      ASSIGN_OR_RETURN(auto packs, DecodeIndexSegment(seg, *it));
      for (const auto& p : packs)
        if (missing_packs.count(PackKey(p.pack))) complete = false;
    }
    if (complete) {
      ++it;
    } else {
      it = cursor->index.erase(it);
      r.segments++;
    }
  }
  return r;
}

}  // namespace dr
