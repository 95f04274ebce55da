// Reading policy YAML safely (internal to policies/): every node's shape is
// checked before anything is read from it, so no yaml-cpp conversion or
// subscript can throw, and every mistake comes back as one line
// "FILE:LINE:COLUMN: FIELD: message" pointing at the offending node.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "policies/time_zone.h"

namespace dr::policy_yaml {

// A node together with its dotted field path ("retention.off-site.keep-daily",
// "sources.paths[1]") and the mark errors about it point at.
struct Value {
  YAML::Node node;
  YAML::Mark mark;
  std::string path;
};

// A mapping whose keys were checked: plain strings, all known, none twice.
struct Fields {
  Value self;
  std::vector<std::pair<std::string, Value>> entries;
  const Value* Find(std::string_view key) const;
};

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  // The one error format. Control bytes anywhere in it (a quoted "\n" in a
  // value, a file name) are escaped so the message stays on one line.
  Status Error(const YAML::Mark& mark, std::string_view field, std::string_view message) const;
  Status Error(const Value& v, std::string_view message) const {
    return Error(v.mark, v.path, message);
  }
  // The one document of `text`; an error for none (nothing but comments),
  // more than one, or input yaml-cpp cannot get past. Syntax errors are
  // thrown as YAML::Exception.
  Result<YAML::Node> LoadDocument(std::string_view text) const;
  // `key` is required in `map` but absent: points at the mapping.
  Status Missing(const Fields& map, std::string_view key) const;

  Result<Fields> Map(const Value& v, std::initializer_list<std::string_view> known) const;
  Result<std::vector<Value>> List(const Value& v) const;
  // Any scalar, possibly empty.
  Result<std::string> String(const Value& v) const;
  // A non-empty scalar without NUL bytes: commands, patterns.
  Result<std::string> Text(const Value& v) const;
  Result<std::vector<std::string>> TextList(const Value& v) const;
  Result<bool> Bool(const Value& v) const;
  // A keep-* count: a whole number >= -1.
  Result<int> Count(const Value& v) const;
  Result<int64_t> Duration(const Value& v) const;
  Result<TimeZone> Zone(const Value& v) const;

 private:
  std::string file_;
};

// Child paths: Child("schedule", "every"), Item("sources.paths", 1).
std::string Child(const std::string& path, std::string_view key);
std::string Item(const std::string& path, size_t index);
// What a node is, for "expected X, found Y": "a list", "nothing", "\"daily\"".
std::string Describe(const YAML::Node& node);
// `text` in double quotes, shortened, for messages.
std::string Quote(std::string_view text);

}  // namespace dr::policy_yaml
