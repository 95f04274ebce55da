// Reading policy YAML safely (internal to policies/): every node's shape is
// checked before anything is read from it, so no yaml-cpp conversion or
// subscript can throw, and every mistake comes back as one line
// "FILE:LINE:COLUMN: FIELD: message" pointing at the offending node.
#pragma once

#include <yaml-cpp/depthguard.h>
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

// Whether line `line` (0-based) of `text` is indented with a tab.
bool TabIndented(std::string_view text, int line);

// The file at `path` (`what` names it in errors: "policy file"), which must
// be a regular file of at most 1 MiB; a YAML file this large is the wrong
// file. A FIFO never blocks the open.
Result<std::string> ReadSmallFile(const std::string& path, std::string_view what);

// `read` given the one document of `yaml`, which must be a mapping (of
// `keys`, for the message); yaml-cpp's exceptions become the one error format.
template <class T, class F>
Result<T> ReadDocument(const Reader& r, std::string_view yaml, std::string_view keys, F read) {
  try {
    ASSIGN_OR_RETURN(const YAML::Node root, r.LoadDocument(yaml));
    if (!root.IsMap())
      return r.Error(root.Mark(), "",
                     "expected a mapping of " + std::string(keys) + ", found " + Describe(root));
    return read(root);
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp reports its nesting limit as "bad file".
    return r.Error(e.mark, "", "nested too deeply");
  } catch (const YAML::Exception& e) {
    if (TabIndented(yaml, e.mark.line))
      return r.Error(e.mark, "", e.msg + " (indent with spaces: YAML does not allow tabs)");
    return r.Error(e.mark, "", e.msg);
  } catch (const std::exception& e) {
    return r.Error(YAML::Mark(), "", std::string("cannot be read as YAML: ") + e.what());
  }
}

}  // namespace dr::policy_yaml
