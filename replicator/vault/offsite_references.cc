#include "replicator/vault/offsite_references.h"

#include <algorithm>
#include <deque>
#include <future>
#include <map>
#include <unordered_set>
#include <utility>

#include "catalog/format/index.h"
#include "catalog/format/pack.h"
#include "catalog/reachability.h"

namespace dr {

namespace {

// Queries in flight at once: enough to hide the round trip, few enough that
// the peer's loop thread serves other sessions in between.
constexpr size_t kQueriesInFlight = 8;

}  // namespace

Result<ReferencesSent> SendMissingReferences(Repository& local,
                                             const std::vector<Snapshot>& snapshots,
                                             VaultClient& peer) {
  ReferencesSent sent;
  if (snapshots.empty()) return sent;
  Reachability reach(local.IndexedBlobCount());
  RETURN_IF_ERROR(MarkReachable(local, snapshots, &reach));
  if (reach.missing_count > 0) {
    return Status::Corruption("a snapshot to replicate references a blob this site lacks (" +
                              reach.missing.front() + "); run drctl check here");
  }
  // The index is walked in ordinal order, the order of the reachable bits.
  std::vector<std::pair<Id, BlobLocation>> referenced;
  referenced.reserve(reach.set.count());
  size_t ordinal = 0;
  local.ForEachIndexedBlob([&](const Id& id, const BlobLocation& loc) {
    if (reach.set.Test(ordinal++)) referenced.push_back({id, loc});
  });
  sent.referenced = referenced.size();

  std::unordered_set<Id, IdHash> missing;
  std::deque<std::future<Result<wire::Message>>> inflight;
  auto collect = [&]() -> Status {
    ASSIGN_OR_RETURN(wire::Missing answer, Expect<wire::Missing>(inflight.front().get()));
    inflight.pop_front();
    missing.insert(answer.ids.begin(), answer.ids.end());
    return Status::OK();
  };
  for (size_t at = 0; at < referenced.size(); at += wire::kMaxIdsPerBatch) {
    wire::Query q;
    const size_t end = std::min(referenced.size(), at + wire::kMaxIdsPerBatch);
    for (size_t i = at; i < end; ++i) q.ids.push_back(referenced[i].first);
    if (inflight.size() == kQueriesInFlight) RETURN_IF_ERROR(collect());
    inflight.push_back(peer.Request(std::move(q)));
  }
  while (!inflight.empty()) RETURN_IF_ERROR(collect());
  if (missing.empty()) return sent;

  for (const auto& [id, loc] : referenced) {
    if (!missing.count(id)) continue;
    // Sent as stored here (compressed, not decoded): the peer checks it
    // against its id as it does an agent's.
    ASSIGN_OR_RETURN(std::string stored,
                     local.store()->GetRange(PackKey(loc.pack), loc.offset, loc.stored_len));
    sent.resent_bytes += stored.size();
    RETURN_IF_ERROR(peer.SendBlob(wire::Blob{0, loc.type, id, loc.raw_len, std::move(stored)}));
    sent.resent++;
  }
  RETURN_IF_ERROR(peer.WaitBlobsAcked());
  return sent;
}

Result<std::vector<Id>> ReferencedPacks(Repository& local, const Snapshot& snapshot) {
  Reachability reach(local.IndexedBlobCount());
  RETURN_IF_ERROR(MarkReachable(local, {snapshot}, &reach));
  if (reach.missing_count > 0) {
    return Status::Corruption("snapshot " + snapshot.id.Hex() +
                              " references a blob this site lacks (" + reach.missing.front() +
                              "); run drctl check here");
  }
  std::unordered_set<Id, IdHash> packs;
  size_t ordinal = 0;
  local.ForEachIndexedBlob([&](const Id&, const BlobLocation& loc) {
    if (reach.set.Test(ordinal++)) packs.insert(loc.pack);
  });
  std::vector<Id> out(packs.begin(), packs.end());
  std::sort(out.begin(), out.end());
  return out;
}

std::pair<std::string, std::string> PackIndexSegment(Repository& local,
                                                     const std::unordered_set<Id, IdHash>& packs) {
  std::map<Id, IndexPack> listed;
  local.ForEachIndexedBlob([&](const Id& id, const BlobLocation& loc) {
    if (!packs.count(loc.pack)) return;
    IndexPack& p = listed[loc.pack];
    p.pack = loc.pack;
    p.entries.push_back({loc.type, id, loc.offset, loc.stored_len, loc.raw_len});
  });
  std::vector<IndexPack> segment;
  for (auto& [id, p] : listed) {
    std::sort(p.entries.begin(), p.entries.end(),
              [](const PackEntry& a, const PackEntry& b) { return a.offset < b.offset; });
    segment.push_back(std::move(p));
  }
  std::string bytes = EncodeIndexSegment(segment);
  return {"index/" + local.names().Hash(bytes).Hex(), std::move(bytes)};
}

}  // namespace dr
