#include "policies/policy_yaml.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <charconv>
#include <sstream>

#include "policies/duration.h"

namespace dr::policy_yaml {

namespace {

constexpr size_t kQuoteMax = 60;  // bytes of a value shown in a message

// Control bytes written as escapes: an error is one line whatever the input.
std::string EscapeControls(std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string Join(std::initializer_list<std::string_view> names) {
  std::string out;
  for (std::string_view n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// The known key an unknown one was probably meant to be: the same up to
// case and '_' for '-' (keys are kebab-case, people write snake_case), or
// within two typos. Empty when nothing is close.
std::string_view Suggestion(std::string_view key, std::initializer_list<std::string_view> known) {
  std::string folded(key);
  for (char& c : folded) {
    if (c == '_') c = '-';
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  std::string_view best;
  size_t best_distance = folded.size() > 3 ? 3 : 2;
  for (std::string_view k : known) {
    const size_t d = EditDistance(folded, k);
    if (d < best_distance) best = k, best_distance = d;
  }
  return best;
}

// 0-based yaml-cpp marks to the 1-based positions editors show.
std::string Position(const YAML::Mark& mark) {
  return std::to_string(std::max(mark.line, 0) + 1) + ":" +
         std::to_string(std::max(mark.column, 0) + 1);
}

// Where each document's root starts and whether it is empty, without
// building anything.
class DocumentScan : public YAML::EventHandler {
 public:
  struct Document {
    YAML::Mark mark;
    bool has_root = false, empty = false;
  };
  std::vector<Document> documents;

  void OnDocumentStart(const YAML::Mark& mark) override { documents.push_back({mark}); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { Root(mark, true); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { Root(mark, false); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Root(mark, false);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Root(mark, false);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Root(mark, false);
  }
  void OnMapEnd() override {}

 private:
  void Root(const YAML::Mark& mark, bool empty) {
    if (documents.empty() || documents.back().has_root) return;
    documents.back() = {mark, true, empty};
  }
};

}  // namespace

const Value* Fields::Find(std::string_view key) const {
  for (const auto& [name, value] : entries) {
    if (name == key) return &value;
  }
  return nullptr;
}

std::string Child(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string Item(const std::string& path, size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

std::string Quote(std::string_view text) {
  std::string_view shown = text;
  if (shown.size() > kQuoteMax) {
    size_t cut = kQuoteMax;
    // Never split a UTF-8 sequence: back up over continuation bytes.
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xc0) == 0x80) --cut;
    shown = text.substr(0, cut);
  }
  std::string out = "\"";
  for (char c : shown) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out = EscapeControls(out) + "\"";
  if (shown.size() < text.size()) out += "...";
  return out;
}

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return Quote(node.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "nothing";
  }
}

Status Reader::Error(const YAML::Mark& mark, std::string_view field,
                     std::string_view message) const {
  std::string line = file_ + ":" + Position(mark) + ": ";
  if (!field.empty()) line += std::string(field) + ": ";
  line += message;
  return Status::InvalidArgument(EscapeControls(line));
}

Result<YAML::Node> Reader::LoadDocument(std::string_view text) const {
  const std::string input(text);
  DocumentScan scan;
  {
    // Not YAML::LoadAll: on input the parser cannot move past ("," alone)
    // yaml-cpp 0.7 returns empty documents forever and LoadAll collects
    // them until memory runs out (fixed upstream in jbeder/yaml-cpp#1319).
    // Three documents are enough to tell one (perhaps followed by an empty
    // one, a trailing "---") from more, and a stuck parser from both.
    std::istringstream in(input);
    YAML::Parser parser(in);
    for (int i = 0; i < 3 && parser.HandleNextDocument(scan); ++i) {
    }
  }
  const std::vector<DocumentScan::Document>& docs = scan.documents;
  for (size_t i = 1; i < docs.size(); ++i) {
    const YAML::Mark& at = docs[i].mark;
    if (docs[i].empty && at.pos == docs[i - 1].mark.pos) {
      const bool shown = at.pos >= 0 && static_cast<size_t>(at.pos) < text.size() &&
                         text[at.pos] > ' ' && text[at.pos] < 0x7f;
      return Error(at, "",
                   shown ? "unexpected " + Quote(text.substr(at.pos, 1))
                         : std::string("cannot be parsed here"));
    }
  }
  if (docs.empty() || docs[0].empty)
    return Error(YAML::Mark(), "",
                 "empty document; a policy needs at least name, sources and schedule");
  if (docs.size() > 2 || (docs.size() == 2 && !docs[1].empty))
    return Error(docs[1].mark, "", "a second YAML document; write one policy per file");
  return YAML::Load(input);
}

Status Reader::Missing(const Fields& map, std::string_view key) const {
  return Error(map.self.mark, Child(map.self.path, key), "required, but missing");
}

Result<Fields> Reader::Map(const Value& v, std::initializer_list<std::string_view> known) const {
  if (!v.node.IsMap())
    return Error(v, "expected a mapping (keys " + Join(known) + "), found " + Describe(v.node));
  Fields fields{v, {}};
  std::vector<YAML::Mark> key_marks;
  for (auto it = v.node.begin(); it != v.node.end(); ++it) {
    const YAML::Node key = it->first, value = it->second;
    // A null, list or mapping key ("? [a]: b") has no name to look up.
    if (!key.IsScalar())
      return Error(key.Mark(), v.path, "a key must be a plain name, found " + Describe(key));
    const std::string& name = key.Scalar();
    const std::string path = Child(v.path, name);
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      if (name == "<<") return Error(key.Mark(), path, "YAML merge keys are not supported");
      const std::string_view hint = Suggestion(name, known);
      return Error(key.Mark(), path,
                   hint.empty() ? "unknown key (known here: " + Join(known) + ")"
                                : "unknown key; did you mean \"" + std::string(hint) + "\"?");
    }
    // yaml-cpp keeps both pairs of a repeated key and lookups see only the
    // first, so a second "every:" would be silently ignored.
    for (size_t i = 0; i < fields.entries.size(); ++i) {
      if (fields.entries[i].first == name)
        return Error(key.Mark(), path,
                     "given twice (first on line " + std::to_string(key_marks[i].line + 1) + ")");
    }
    // An empty value's mark is that of the next token, often on a later
    // line; the key is where the reader looks.
    fields.entries.emplace_back(name,
                                Value{value, value.IsNull() ? key.Mark() : value.Mark(), path});
    key_marks.push_back(key.Mark());
  }
  return fields;
}

Result<std::vector<Value>> Reader::List(const Value& v) const {
  if (!v.node.IsSequence())
    return Error(v, "expected a list (e.g. [a, b]), found " + Describe(v.node));
  std::vector<Value> items;
  for (auto it = v.node.begin(); it != v.node.end(); ++it) {
    const YAML::Node item = *it;
    items.push_back(Value{item, item.IsNull() ? v.mark : item.Mark(), Item(v.path, items.size())});
  }
  return items;
}

Result<std::string> Reader::String(const Value& v) const {
  if (!v.node.IsScalar()) return Error(v, "expected a string, found " + Describe(v.node));
  return v.node.Scalar();
}

Result<std::string> Reader::Text(const Value& v) const {
  ASSIGN_OR_RETURN(std::string s, String(v));
  if (s.empty()) return Error(v, "must not be empty");
  if (s.find('\0') != std::string::npos) return Error(v, "contains a NUL byte");
  return s;
}

Result<std::vector<std::string>> Reader::TextList(const Value& v) const {
  ASSIGN_OR_RETURN(std::vector<Value> items, List(v));
  std::vector<std::string> out;
  for (const Value& item : items) {
    ASSIGN_OR_RETURN(std::string s, Text(item));
    out.push_back(std::move(s));
  }
  return out;
}

Result<bool> Reader::Bool(const Value& v) const {
  bool b = false;
  if (!v.node.IsScalar() || !YAML::convert<bool>::decode(v.node, b))
    return Error(v, "expected true or false, found " + Describe(v.node));
  return b;
}

Result<int> Reader::Count(const Value& v) const {
  const std::string what = "expected a whole number, or -1 for unlimited, found ";
  if (!v.node.IsScalar()) return Error(v, what + Describe(v.node));
  const std::string& s = v.node.Scalar();
  int n = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size())
    return Error(v, what + Quote(s));
  if (n < -1) return Error(v, "must be -1 (unlimited) or more, found " + s);
  return n;
}

Result<int64_t> Reader::Duration(const Value& v) const {
  ASSIGN_OR_RETURN(std::string text, Text(v));
  auto seconds = ParseDuration(text);
  if (!seconds.ok()) return Error(v, seconds.status().message());
  return *seconds;
}

Result<TimeZone> Reader::Zone(const Value& v) const {
  ASSIGN_OR_RETURN(std::string name, Text(v));
  auto zone = TimeZone::Load(name);
  if (!zone.ok()) return Error(v, zone.status().message());
  return *zone;
}

bool TabIndented(std::string_view text, int line) {
  size_t at = 0;
  for (int i = 0; i < line && at != std::string_view::npos; ++i) {
    at = text.find('\n', at);
    if (at != std::string_view::npos) ++at;
  }
  if (line < 0 || at == std::string_view::npos) return false;
  for (; at < text.size() && (text[at] == ' ' || text[at] == '\t'); ++at) {
    if (text[at] == '\t') return true;
  }
  return false;
}

Result<std::string> ReadSmallFile(const std::string& path, std::string_view what) {
  constexpr size_t kMaxBytes = 1 << 20;
  const std::string name = std::string(what) + " " + path;
  // O_NONBLOCK: a FIFO named *.yaml must not hang the loader in open().
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return Status::FromErrno(errno, name);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::FromErrno(errno, name);
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(name + ": not a regular file");
  if (static_cast<uint64_t>(st.st_size) > kMaxBytes)
    return Status::InvalidArgument(name + ": " + std::to_string(st.st_size) + " bytes; a " +
                                   std::string(what) + " may have at most 1 MiB");
  std::string text;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, name);
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxBytes)  // it grew while being read
      return Status::InvalidArgument(name + ": more than 1 MiB");
  }
  return text;
}

}  // namespace dr::policy_yaml
