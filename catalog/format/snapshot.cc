#include "catalog/format/snapshot.h"

#include <nlohmann/json.hpp>

#include "catalog/format/json_fields.h"
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

// The forms of docs/format/snapshot.md that are not plain JSON values.
struct TextForm {  // *path* / *text*: a string, or {"hex": ...}
  static json ToJson(const std::string& s) { return PathToJson(s); }
  static bool FromJson(const json& j, std::string* s) { return PathFromJson(j, s); }
};
struct TextListForm {
  static json ToJson(const std::vector<std::string>& v) {
    json a = json::array();
    for (const auto& s : v) a.push_back(PathToJson(s));
    return a;
  }
  static bool FromJson(const json& j, std::vector<std::string>* v) {
    for (const auto& e : j) {
      std::string s;
      if (!PathFromJson(e, &s)) return false;
      v->push_back(std::move(s));
    }
    return true;
  }
};
struct IdForm {  // 32 hex
  static json ToJson(const Id& id) { return id.Hex(); }
  static bool FromJson(const json& j, Id* id) { return Id::FromHex(j.get<std::string>(), id); }
};
struct ParentForm {  // null or 32 hex
  static json ToJson(const std::optional<Id>& id) { return id ? json(id->Hex()) : json(nullptr); }
  static bool FromJson(const json& j, std::optional<Id>* id) {
    if (j.is_null()) return true;
    Id parent;
    if (!IdForm::FromJson(j, &parent)) return false;
    *id = parent;
    return true;
  }
};

// The snapshot object of docs/format/snapshot.md, for jsonfields::JsonWriter
// (EncodeSnapshot) and JsonReader (DecodeSnapshot).
template <class A, codec::Of<SnapshotStats> S>
void StatsFields(A& a, S& s) {
  a.Field("files_new", s.files_new);
  a.Field("files_changed", s.files_changed);
  a.Field("files_unchanged", s.files_unchanged);
  a.Field("dirs", s.dirs);
  a.Field("others", s.others);
  a.Field("bytes_total", s.bytes_total);
  a.Field("bytes_read", s.bytes_read);
  a.Field("bytes_added", s.bytes_added);
  a.Field("blobs_added", s.blobs_added);
  a.Field("errors", s.errors);
  a.Field("duration_s", s.duration_s);
}

template <class A, codec::Of<BlockInfo> B>
void BlockFields(A& a, B& b) {
  a.Field("source_kind", b.source_kind);
  a.Field("block_size", b.block_size);
  a.Field("length", b.length);
  a.Field("blocks", b.blocks);
  a.Field("zero_blocks", b.zero_blocks);
  a.Field("changed_blocks", b.changed_blocks);
  a.Field("blocks_not_read", b.blocks_not_read);
  a.Field("method", b.method);
}

template <class A, codec::Of<Snapshot> S>
void SnapshotFields(A& a, S& s) {
  a.Field("time_ns", s.time_ns);
  a.Field("host", s.host, TextForm{});
  a.Field("username", s.username, TextForm{});
  a.Field("paths", s.paths, TextListForm{});
  a.Field("tags", s.tags, TextListForm{});
  a.Field("parent", s.parent, ParentForm{});
  a.Field("tree", s.tree, IdForm{});
  a.Field("partial", s.partial);
  a.Field("warnings", s.warnings, TextListForm{});
  a.Object("stats", [&](auto& o) { StatsFields(o, s.stats); });
  a.Defaulted("program_version", s.program_version);
  a.OmitEmpty("consistency", s.consistency);
  a.OmitEmpty("identity", s.identity);
  a.OptionalValue("agent_time_ns", s.agent_time_ns);
  a.Optional("block", s.block, [](auto& o, auto& b) { BlockFields(o, b); });
}

}  // namespace

std::string SnapshotKey(const Id& id) { return "snapshots/" + id.Hex(); }

std::string EncodeSnapshot(const Snapshot& s) {
  json j = json::object();
  jsonfields::JsonWriter w(&j);
  SnapshotFields(w, s);
  return SealEnvelope(EnvelopeKind::kSnapshot, j.dump());
}

Result<Snapshot> DecodeSnapshot(std::string_view object, const std::string& what) {
  ASSIGN_OR_RETURN(std::string payload, OpenEnvelope(EnvelopeKind::kSnapshot, object, what));
  Snapshot s;
  try {
    const json j = json::parse(payload);
    jsonfields::JsonReader r(j);
    SnapshotFields(r, s);
  } catch (const std::exception& e) {
    return Status::Corruption(what + ": " + e.what());
  }
  return s;
}

}  // namespace dr
