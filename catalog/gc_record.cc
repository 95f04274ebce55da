#include "catalog/gc_record.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

namespace dr {

std::string NewGcRecordKey(int64_t now_ns) {
  char buf[64];
  std::random_device rd;
  std::snprintf(buf, sizeof(buf), "gc/%020lld-%08x", static_cast<long long>(now_ns),
                static_cast<unsigned>(rd()));
  return buf;
}

std::string EncodeGcRecord(const GcRecord& r) {
  nlohmann::json packs = nlohmann::json::array();
  for (const auto& p : r.packs) packs.push_back(p.Hex());
  nlohmann::json j = {{"time_ns", r.time_ns}, {"packs", packs}, {"armed", r.armed}};
  if (r.armed) j["sessions"] = r.sessions;
  return j.dump();
}

Result<GcRecord> DecodeGcRecord(std::string_view bytes, const std::string& key) {
  auto bad = [&](const std::string& why) {
    return Status::Corruption(key + ": not a condemnation record (" + why + ")");
  };
  auto j = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return bad("not JSON");
  GcRecord r;
  r.key = key;
  try {
    r.time_ns = j.at("time_ns").get<int64_t>();
    r.armed = j.at("armed").get<bool>();
    for (const auto& p : j.at("packs")) {
      Id id;
      if (!Id::FromHex(p.get<std::string>(), &id)) return bad("bad pack id");
      r.packs.push_back(id);
    }
    if (r.armed) r.sessions = j.at("sessions").get<std::vector<std::string>>();
  } catch (const std::exception& e) {
    return bad(e.what());
  }
  return r;
}

Result<std::vector<GcRecord>> ListGcRecords(ObjectStore* store) {
  ASSIGN_OR_RETURN(auto objects, store->List("gc/"));
  std::vector<GcRecord> out;
  for (const auto& o : objects) {
    auto raw = store->Get(o.key);
    if (!raw.ok()) {
      if (raw.status().IsNotFound()) continue;  // a prune finished with it
      return raw.status();
    }
    ASSIGN_OR_RETURN(GcRecord r, DecodeGcRecord(*raw, store->Url() + "/" + o.key));
    r.key = o.key;
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(),
            [](const GcRecord& a, const GcRecord& b) { return a.key < b.key; });
  return out;
}

std::vector<Id> CondemnedPacks(const std::vector<GcRecord>& records) {
  std::vector<Id> out;
  for (const auto& r : records) out.insert(out.end(), r.packs.begin(), r.packs.end());
  return out;
}

}  // namespace dr
