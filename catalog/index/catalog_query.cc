#include "catalog/index/catalog_query.h"

#include <nlohmann/json.hpp>

#include "core/hash.h"

namespace dr {

namespace {

using json = nlohmann::json;

bool Unhex(const std::string& hex, std::string* out) {
  if (hex.size() % 2) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  out->clear();
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi << 4 | lo));
  }
  return true;
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

Status BadRequest(const std::string& why) {
  return Status::InvalidArgument("catalog request: " + why);
}

// The raw path in `j[key]` (hex); an error names the member.
Result<std::string> RawText(const json& j, const char* key) {
  std::string raw;
  if (!j.contains(key) || !j[key].is_string() || !Unhex(j[key].get<std::string>(), &raw))
    return BadRequest(std::string("'") + key + "' must be hex text");
  return raw;
}

json VersionRow(const FileVersion& v) {
  return {{"path", ToHex(v.path)},
          {"type", static_cast<int>(v.type)},
          {"size", v.size},
          {"mtime_ns", v.mtime_ns},
          {"digest", v.digest},
          {"link_target", ToHex(v.link_target)},
          {"first_time_ns", v.first_time_ns},
          {"last_time_ns", v.last_time_ns},
          {"first_snapshot", v.first_snapshot},
          {"last_snapshot", v.last_snapshot},
          {"snapshots", v.snapshots},
          {"sites", v.sites}};
}

json PointRow(const RecoveryPoint& p) {
  json paths = json::array();
  for (const auto& path : p.paths) paths.push_back(ToHex(path));
  return {{"site", p.site},
          {"id", p.id},
          {"time_ns", p.time_ns},
          {"host", p.host},
          {"identity", p.identity},
          {"policy", p.policy},
          {"kind", p.kind},
          {"paths", paths},
          {"tags", p.tags},
          {"bytes_total", p.bytes_total},
          {"bytes_added", p.bytes_added},
          {"files", p.files},
          {"partial", p.partial}};
}

}  // namespace

std::string VersionsRequest(const std::string& path) {
  return Dump({{"query", "versions"}, {"path", ToHex(path)}});
}

std::string FindRequest(const FindQuery& q) {
  json j = {
      {"query", "find"}, {"pattern", ToHex(q.pattern)}, {"changed", q.changed}, {"limit", q.limit}};
  if (q.since_ns) j["since_ns"] = *q.since_ns;
  if (q.until_ns) j["until_ns"] = *q.until_ns;
  return Dump(j);
}

std::string RecoveryPointsRequest(const std::string& site) {
  return Dump({{"query", "recovery-points"}, {"site", site}});
}

Result<std::string> AnswerCatalogRequest(Catalog& catalog, std::string_view request) {
  if (request.size() > kMaxCatalogRequestBytes) return BadRequest("over 64 KiB");
  const json j = json::parse(request, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("query") || !j["query"].is_string())
    return BadRequest("not a JSON object with a 'query'");
  const std::string query = j["query"].get<std::string>();
  try {
    if (query == "versions") {
      ASSIGN_OR_RETURN(std::string path, RawText(j, "path"));
      ASSIGN_OR_RETURN(auto versions, catalog.Versions(path));
      json rows = json::array();
      for (const auto& v : versions) rows.push_back(VersionRow(v));
      return Dump({{"versions", rows}});
    }
    if (query == "find") {
      FindQuery q;
      ASSIGN_OR_RETURN(q.pattern, RawText(j, "pattern"));
      q.changed = j.value("changed", false);
      q.limit = j.value("limit", size_t{0});
      if (j.contains("since_ns")) q.since_ns = j["since_ns"].get<int64_t>();
      if (j.contains("until_ns")) q.until_ns = j["until_ns"].get<int64_t>();
      ASSIGN_OR_RETURN(auto versions, catalog.Find(q));
      json rows = json::array();
      for (const auto& v : versions) rows.push_back(VersionRow(v));
      return Dump({{"versions", rows}});
    }
    if (query == "recovery-points") {
      ASSIGN_OR_RETURN(auto points, catalog.RecoveryPoints(j.value("site", std::string())));
      json rows = json::array();
      for (const auto& p : points) rows.push_back(PointRow(p));
      return Dump({{"recovery_points", rows}});
    }
  } catch (const json::exception& e) {
    return BadRequest(std::string("a member has the wrong type (") + e.what() + ")");
  }
  return BadRequest("unknown query '" + query + "'");
}

Result<std::vector<FileVersion>> VersionsFromAnswer(std::string_view answer) {
  const json j = json::parse(answer, nullptr, false);
  auto bad = [] { return Status::Corruption("the vault's catalog answer is not a version list"); };
  if (j.is_discarded() || !j.is_object() || !j.contains("versions") || !j["versions"].is_array())
    return bad();
  std::vector<FileVersion> out;
  try {
    for (const json& r : j["versions"]) {
      FileVersion v;
      if (!Unhex(r.at("path").get<std::string>(), &v.path) ||
          !Unhex(r.at("link_target").get<std::string>(), &v.link_target))
        return bad();
      const int type = r.at("type").get<int>();
      if (type < 1 || type > 7) return bad();
      v.type = static_cast<NodeType>(type);
      v.size = r.at("size").get<uint64_t>();
      v.mtime_ns = r.at("mtime_ns").get<int64_t>();
      v.digest = r.at("digest").get<std::string>();
      v.first_time_ns = r.at("first_time_ns").get<int64_t>();
      v.last_time_ns = r.at("last_time_ns").get<int64_t>();
      v.first_snapshot = r.at("first_snapshot").get<std::string>();
      v.last_snapshot = r.at("last_snapshot").get<std::string>();
      v.snapshots = r.at("snapshots").get<int>();
      v.sites = r.at("sites").get<std::vector<std::string>>();
      out.push_back(std::move(v));
    }
  } catch (const json::exception&) {
    return bad();
  }
  return out;
}

Result<std::vector<RecoveryPoint>> RecoveryPointsFromAnswer(std::string_view answer) {
  const json j = json::parse(answer, nullptr, false);
  auto bad = [] {
    return Status::Corruption("the vault's catalog answer is not a list of recovery points");
  };
  if (j.is_discarded() || !j.is_object() || !j.contains("recovery_points") ||
      !j["recovery_points"].is_array())
    return bad();
  std::vector<RecoveryPoint> out;
  try {
    for (const json& r : j["recovery_points"]) {
      RecoveryPoint p;
      p.site = r.at("site").get<std::string>();
      p.id = r.at("id").get<std::string>();
      p.time_ns = r.at("time_ns").get<int64_t>();
      p.host = r.at("host").get<std::string>();
      p.identity = r.at("identity").get<std::string>();
      p.policy = r.at("policy").get<std::string>();
      p.kind = r.at("kind").get<std::string>();
      for (const json& path : r.at("paths")) {
        std::string raw;
        if (!Unhex(path.get<std::string>(), &raw)) return bad();
        p.paths.push_back(std::move(raw));
      }
      p.tags = r.at("tags").get<std::vector<std::string>>();
      p.bytes_total = r.at("bytes_total").get<uint64_t>();
      p.bytes_added = r.at("bytes_added").get<uint64_t>();
      p.files = r.at("files").get<uint64_t>();
      p.partial = r.at("partial").get<bool>();
      out.push_back(std::move(p));
    }
  } catch (const json::exception&) {
    return bad();
  }
  return out;
}

}  // namespace dr
