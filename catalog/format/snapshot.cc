#include "catalog/format/snapshot.h"

#include <cstdint>
#include <nlohmann/json.hpp>

#include "catalog/format/block_map.h"
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

// Either form, at most kMaxSnapshotTextBytes once decoded.
bool PathFromJson(const json& j, std::string* out) {
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (s.size() > kMaxSnapshotTextBytes) return false;
    *out = s;
    return true;
  }
  if (!j.is_object() || !j.contains("hex") || !j.at("hex").is_string()) return false;
  const auto& hex = j.at("hex").get_ref<const std::string&>();
  if (hex.size() % 2 || hex.size() / 2 > kMaxSnapshotTextBytes) return false;
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
  static constexpr const char* kExpected = "a string or {\"hex\": ...}, at most 64 KiB";
  static json ToJson(const std::string& s) { return PathToJson(s); }
  static bool FromJson(const json& j, std::string* s) { return PathFromJson(j, s); }
};
struct TextListForm {
  static constexpr const char* kExpected =
      "an array of strings or {\"hex\": ...}, each at most 64 KiB";
  static json ToJson(const std::vector<std::string>& v) {
    json a = json::array();
    for (const auto& s : v) a.push_back(PathToJson(s));
    return a;
  }
  static bool FromJson(const json& j, std::vector<std::string>* v) {
    if (!j.is_array()) return false;
    v->clear();
    for (const auto& e : j) {
      std::string s;
      if (!PathFromJson(e, &s)) return false;
      v->push_back(std::move(s));
    }
    return true;
  }
};
struct IdForm {  // 32 hex
  static constexpr const char* kExpected = "32 lower-case hex digits";
  static json ToJson(const Id& id) { return id.Hex(); }
  static bool FromJson(const json& j, Id* id) {
    return j.is_string() && Id::FromHex(j.get_ref<const std::string&>(), id);
  }
};
struct ParentForm {  // null or 32 hex
  static constexpr const char* kExpected = "null or 32 lower-case hex digits";
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
  a.Check(s.duration_s >= 0, "duration_s is negative");
}

// Block counts are those of the map the snapshot names: a power-of-two
// block size in the block map's range, a length that fits an off_t, exactly
// the blocks that length needs, and no more zero, changed or unread blocks
// than that.
template <class A, codec::Of<BlockInfo> B>
void BlockFields(A& a, B& b) {
  a.Field("source_kind", b.source_kind);
  a.Number("block_size", b.block_size, kMinBlockSize, kMaxBlockSize);
  a.Check((b.block_size & (b.block_size - 1)) == 0,
          [&] { return "block_size " + std::to_string(b.block_size) + " is not a power of two"; });
  a.Number("length", b.length, uint64_t{0}, uint64_t{INT64_MAX});
  a.Field("blocks", b.blocks);
  a.Check(b.block_size > 0 && b.blocks == BlockMap::BlockCountFor(b.length, b.block_size), [&] {
    return "blocks " + std::to_string(b.blocks) + " is not what length " +
           std::to_string(b.length) + " needs in blocks of " + std::to_string(b.block_size);
  });
  auto at_most_blocks = [&](const char* name, uint64_t v) {
    a.Check(v <= b.blocks, [&] {
      return std::string(name) + " " + std::to_string(v) + " is more than blocks " +
             std::to_string(b.blocks);
    });
  };
  a.Field("zero_blocks", b.zero_blocks);
  at_most_blocks("zero_blocks", b.zero_blocks);
  a.Field("changed_blocks", b.changed_blocks);
  at_most_blocks("changed_blocks", b.changed_blocks);
  a.Field("blocks_not_read", b.blocks_not_read);
  at_most_blocks("blocks_not_read", b.blocks_not_read);
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
  // *text*: it can name btrfs subvolume paths, which are raw bytes.
  a.OmitEmpty("consistency", s.consistency, TextForm{});
  a.OmitEmpty("identity", s.identity);
  a.OmitEmpty("policy", s.policy);
  a.OptionalValue("agent_time_ns", s.agent_time_ns);
  a.Optional("block", s.block, [](auto& o, auto& b) { BlockFields(o, b); });
  a.Check(!s.block || !s.paths.empty(), "block snapshot has no paths (its source)");
}

}  // namespace

std::string SnapshotKey(const Id& id) { return "snapshots/" + id.Hex(); }
std::string ForgottenKey(const Id& id) { return "forgotten/" + id.Hex(); }

bool SnapshotIdFromKey(std::string_view key, Id* out) {
  constexpr std::string_view kPrefix = "snapshots/";
  if (key.size() != kPrefix.size() + 32 || key.substr(0, kPrefix.size()) != kPrefix) return false;
  return Id::FromHex(key.substr(kPrefix.size()), out);
}

std::string EncodeSnapshot(const Snapshot& s) {
  json j = json::object();
  jsonfields::JsonWriter w(&j);
  SnapshotFields(w, s);
  // Raw-byte members use the *text* form; a plain string member that is not
  // UTF-8 (program_version, identity, block source_kind and method) has its
  // bad bytes replaced by U+FFFD rather than making dump() throw. Valid UTF-8
  // dumps to the same bytes either way.
  return SealEnvelope(EnvelopeKind::kSnapshot,
                      j.dump(-1, ' ', false, json::error_handler_t::replace));
}

Result<Snapshot> DecodeSnapshot(std::string_view object, const std::string& what) {
  ASSIGN_OR_RETURN(std::string payload, OpenEnvelope(EnvelopeKind::kSnapshot, object, what));
  Snapshot s;
  try {
    const json j = json::parse(payload);
    if (!j.is_object()) throw jsonfields::BadField("not a JSON object");
    jsonfields::JsonReader r(j, kMaxSnapshotTextBytes);
    SnapshotFields(r, s);
  } catch (const std::exception& e) {
    return Status::Corruption(what + ": " + e.what());
  }
  return s;
}

}  // namespace dr
