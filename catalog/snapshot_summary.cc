#include "catalog/snapshot_summary.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "catalog/keyring.h"

namespace dr {

namespace {
using json = nlohmann::json;
// The reference list dominates: 35 bytes a pack, so about 900k packs (over
// 14 TiB of distinct data at the default pack size) for one snapshot.
constexpr size_t kMaxSummaryBytes = 32 << 20;
}  // namespace

std::string SummaryKey(const Id& snapshot) { return kSummaryPrefix + snapshot.Hex(); }

std::string EncodeSnapshotSummary(const Snapshot& s, const KeyedHasher& ids,
                                  const std::vector<Id>& packs) {
  std::string source = "snapshot-group";
  source += '\0' + s.host;
  for (const std::string& p : s.paths) source += '\0' + p;
  json j = {{"snapshot_summary", 1}, {"id", s.id.Hex()},       {"time_ns", s.time_ns},
            {"policy", s.policy},    {"identity", s.identity}, {"group", ids.Hash(source).Hex()},
            {"tags", s.tags},        {"partial", s.partial},   {"block", s.block.has_value()}};
  std::vector<Id> sorted = packs;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  json& list = j["packs"] = json::array();
  for (const Id& p : sorted) list.push_back(p.Hex());
  // Tags are the agent's bytes: never let one that is not UTF-8 throw here.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<Snapshot> DecodeSnapshotSummary(std::string_view bytes, const std::string& what,
                                       std::vector<Id>* packs) {
  if (bytes.size() > kMaxSummaryBytes) return Status::Corruption(what + ": summary too large");
  Snapshot s;
  try {
    const json j = json::parse(bytes);
    if (JsonIntegerIn(j.at("snapshot_summary"), "snapshot_summary", 1, 1) != 1 ||
        !Id::FromHex(j.at("id").get<std::string>(), &s.id)) {
      return Status::Corruption(what + ": not a snapshot summary");
    }
    Id group;
    s.host = j.at("group").get<std::string>();
    if (!Id::FromHex(s.host, &group)) return Status::Corruption(what + ": group is not a digest");
    s.time_ns = JsonIntegerIn(j.at("time_ns"), "time_ns", 0, INT64_MAX);
    s.policy = j.at("policy").get<std::string>();
    s.identity = j.at("identity").get<std::string>();
    s.tags = j.at("tags").get<std::vector<std::string>>();
    s.partial = j.at("partial").get<bool>();
    if (j.at("block").get<bool>()) s.block = BlockInfo{};
    // Always checked, so a summary is refused at put, not at the first prune.
    std::vector<Id> list;
    for (const auto& hex : j.at("packs")) {
      Id pack;
      if (!Id::FromHex(hex.get<std::string>(), &pack) || (!list.empty() && !(list.back() < pack)))
        return Status::Corruption(what + ": packs are not distinct pack ids in order");
      list.push_back(pack);
    }
    if (packs) *packs = std::move(list);
  } catch (const std::exception& e) {
    return Status::Corruption(what + ": not a snapshot summary (" + e.what() + ")");
  }
  return s;
}

}  // namespace dr
