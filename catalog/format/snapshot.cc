#include "catalog/format/snapshot.h"

#include <nlohmann/json.hpp>

#include "core/envelope.h"

namespace dr {

using json = nlohmann::json;

namespace {

bool IsValidUtf8(const std::string& s) {
  try {
    (void)json(s).dump();
    return true;
  } catch (const json::exception&) {
    return false;
  }
}

// Paths are raw bytes; JSON strings must be UTF-8. A path that is not valid
// UTF-8 is stored as {"hex": "..."} so it round-trips exactly.
json PathToJson(const std::string& p) {
  if (IsValidUtf8(p)) return p;
  return json{{"hex", ToHex(p)}};
}

bool PathFromJson(const json& j, std::string* out) {
  if (j.is_string()) {
    *out = j.get<std::string>();
    return true;
  }
  std::string hex = j.at("hex").get<std::string>();
  if (hex.size() % 2) return false;
  auto nib = [](char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
  };
  out->clear();
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = nib(hex[i]), lo = nib(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi << 4 | lo));
  }
  return true;
}

}  // namespace

std::string SnapshotKey(const Id& id) { return "snapshots/" + id.Hex(); }

std::string EncodeSnapshot(const Snapshot& s) {
  json paths = json::array();
  for (const auto& p : s.paths) paths.push_back(PathToJson(p));
  json tags = json::array();
  for (const auto& t : s.tags) tags.push_back(PathToJson(t));
  json warnings = json::array();
  for (const auto& w : s.warnings) warnings.push_back(PathToJson(w));
  const SnapshotStats& st = s.stats;
  json j = {
      {"time_ns", s.time_ns},
      {"host", PathToJson(s.host)},
      {"username", PathToJson(s.username)},
      {"paths", paths},
      {"tags", tags},
      {"parent", s.parent ? json(s.parent->Hex()) : json(nullptr)},
      {"tree", s.tree.Hex()},
      {"partial", s.partial},
      {"warnings", warnings},
      {"stats",
       {{"files_new", st.files_new},
        {"files_changed", st.files_changed},
        {"files_unchanged", st.files_unchanged},
        {"dirs", st.dirs},
        {"others", st.others},
        {"bytes_total", st.bytes_total},
        {"bytes_read", st.bytes_read},
        {"bytes_added", st.bytes_added},
        {"blobs_added", st.blobs_added},
        {"errors", st.errors},
        {"duration_s", st.duration_s}}},
      {"program_version", s.program_version},
  };
  if (!s.consistency.empty()) j["consistency"] = s.consistency;
  if (s.block) {
    const BlockInfo& b = *s.block;
    j["block"] = {{"source_kind", b.source_kind},
                  {"block_size", b.block_size},
                  {"length", b.length},
                  {"blocks", b.blocks},
                  {"zero_blocks", b.zero_blocks},
                  {"changed_blocks", b.changed_blocks},
                  {"blocks_not_read", b.blocks_not_read},
                  {"method", b.method}};
  }
  return SealEnvelope(EnvelopeKind::kSnapshot, j.dump());
}

Result<Snapshot> DecodeSnapshot(std::string_view object, const std::string& what) {
  ASSIGN_OR_RETURN(std::string payload, OpenEnvelope(EnvelopeKind::kSnapshot, object, what));
  Snapshot s;
  try {
    json j = json::parse(payload);
    s.time_ns = j.at("time_ns").get<int64_t>();
    if (!PathFromJson(j.at("host"), &s.host) || !PathFromJson(j.at("username"), &s.username)) {
      return Status::Corruption(what + ": bad host or user name");
    }
    for (const auto& p : j.at("paths")) {
      std::string path;
      if (!PathFromJson(p, &path)) return Status::Corruption(what + ": bad path");
      s.paths.push_back(path);
    }
    for (const auto& t : j.at("tags")) {
      std::string tag;
      if (!PathFromJson(t, &tag)) return Status::Corruption(what + ": bad tag");
      s.tags.push_back(tag);
    }
    if (!j.at("parent").is_null()) {
      Id parent;
      if (!Id::FromHex(j.at("parent").get<std::string>(), &parent)) {
        return Status::Corruption(what + ": bad parent id");
      }
      s.parent = parent;
    }
    if (!Id::FromHex(j.at("tree").get<std::string>(), &s.tree)) {
      return Status::Corruption(what + ": bad tree id");
    }
    s.partial = j.at("partial").get<bool>();
    for (const auto& w : j.at("warnings")) {
      std::string text;
      if (!PathFromJson(w, &text)) return Status::Corruption(what + ": bad warning text");
      s.warnings.push_back(text);
    }
    const json& st = j.at("stats");
    SnapshotStats& o = s.stats;
    o.files_new = st.at("files_new");
    o.files_changed = st.at("files_changed");
    o.files_unchanged = st.at("files_unchanged");
    o.dirs = st.at("dirs");
    o.others = st.at("others");
    o.bytes_total = st.at("bytes_total");
    o.bytes_read = st.at("bytes_read");
    o.bytes_added = st.at("bytes_added");
    o.blobs_added = st.at("blobs_added");
    o.errors = st.at("errors");
    o.duration_s = st.at("duration_s");
    s.program_version = j.value("program_version", "");
    s.consistency = j.value("consistency", "");
    if (j.contains("block")) {
      const json& b = j.at("block");
      BlockInfo info;
      info.source_kind = b.at("source_kind").get<std::string>();
      info.block_size = b.at("block_size");
      info.length = b.at("length");
      info.blocks = b.at("blocks");
      info.zero_blocks = b.at("zero_blocks");
      info.changed_blocks = b.at("changed_blocks");
      info.blocks_not_read = b.at("blocks_not_read");
      info.method = b.at("method").get<std::string>();
      s.block = info;
    }
  } catch (const std::exception& e) {
    return Status::Corruption(what + ": " + e.what());
  }
  return s;
}

}  // namespace dr
