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

// The packs the peer's own index lists but the peer does not hold: lost
// behind its vault's back (a prune writes the segments without a pack
// before it deletes the pack). Segments are read once (they never change):
// from this site when it has the same one, else from the peer.
Result<std::vector<std::string>> LostPacks(ObjectStore& local, ObjectStore& peer,
                                           const std::set<std::string>& peer_packs,
                                           SegmentPacks* known) {
  ASSIGN_OR_RETURN(auto peer_index, KeysAt(peer, "index/"));
  for (auto it = known->begin(); it != known->end();)
    it = peer_index.count(it->first) ? std::next(it) : known->erase(it);
  std::set<std::string> lost;
  for (const auto& key : peer_index) {
    if (!known->count(key)) {
      auto seg = local.Get(key);
      if (!seg.ok() && seg.status().IsNotFound()) seg = peer.Get(key);
      if (!seg.ok()) {
        if (seg.status().IsNotFound()) continue;  // replaced by the peer's prune meanwhile
        return seg.status();
      }
      ASSIGN_OR_RETURN(auto packs, DecodeIndexSegment(*seg, "the peer's " + key));
      auto& keys = (*known)[key];
      for (const auto& p : packs) keys.push_back(PackKey(p.pack));
    }
    for (const auto& pack : (*known)[key])
      if (!peer_packs.count(pack)) lost.insert(pack);
  }
  return std::vector<std::string>(lost.begin(), lost.end());
}

Result<Reconciled> ReconcileCursor(ObjectStore& local, ObjectStore& peer, OffsiteCursor* cursor,
                                   SegmentPacks* known) {
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
  const bool peer_wiped = !peer.Size("config").ok();
  if (cursor->config && peer_wiped) {
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
  ASSIGN_OR_RETURN(auto peer_packs, KeysAt(peer, "data/"));
  // A peer that kept its config prunes by its own retention: a pack or
  // segment it lacks may be one it deleted on purpose. What it lost is what
  // its own index still lists; the rest comes with the missing snapshots,
  // each sent again with the blobs it needs there (offsite_references.h).
  // A wiped peer is refilled in bulk, packs and segments first.
  if (!peer_wiped) {
    ASSIGN_OR_RETURN(auto lost, LostPacks(local, peer, peer_packs, known));
    for (auto& pack : lost)
      if (local.Size(pack).ok()) r.lost_packs.push_back(std::move(pack));
    r.packs = r.lost_packs.size();
    return r;
  }
  ASSIGN_OR_RETURN(auto peer_index, KeysAt(peer, "index/"));
  // A segment counts as copied only with every pack it lists. Segments are
  // read here only when some pack is missing.
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
