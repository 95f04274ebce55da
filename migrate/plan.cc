#include "migrate/plan.h"

#include <charconv>
#include <map>

#include "core/timefmt.h"
#include "policies/policy.h"
#include "policies/policy_yaml.h"

namespace dr {

using policy_yaml::Fields;
using policy_yaml::Quote;
using policy_yaml::Reader;
using policy_yaml::Value;

namespace {

constexpr char kNameRule[] =
    "lower-case letters, digits, '.', '_', '-'; starting with a letter or digit; at most 64";

Result<std::string> ReadName(const Reader& r, const Value& v) {
  ASSIGN_OR_RETURN(std::string s, r.String(v));
  if (!IsPolicyName(s)) return r.Error(v, Quote(s) + " is not a valid name (" + kNameRule + ")");
  return s;
}

// An absolute path without "..", normalised ("/srv//a/./b/" is "/srv/a/b"),
// so paths compare as the file system would.
Result<std::string> ReadAbsolutePath(const Reader& r, const Value& v) {
  ASSIGN_OR_RETURN(std::string path, r.Text(v));
  if (path.front() != '/')
    return r.Error(v, Quote(path) + " is not an absolute path (it must start with /)");
  std::string normal;
  for (size_t start = 0; start <= path.size();) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string_view part(path.data() + start, end - start);
    if (part == "..") return r.Error(v, Quote(path) + " must not contain \"..\"");
    if (!part.empty() && part != ".") (normal += '/') += part;
    start = end + 1;
  }
  return normal.empty() ? "/" : normal;
}

// Whether `inner` is `outer` or below it (both normalised).
bool Within(const std::string& inner, const std::string& outer) {
  return outer == "/" || inner == outer ||
         (inner.size() > outer.size() && inner.compare(0, outer.size(), outer) == 0 &&
          inner[outer.size()] == '/');
}

Result<int> ReadWave(const Reader& r, const Value& v) {
  ASSIGN_OR_RETURN(std::string s, r.String(v));
  int wave = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), wave);
  if (ec != std::errc() || end != s.data() + s.size() || wave < 1 || wave > 1000)
    return r.Error(v, Quote(s) + " is not a wave number (a whole number from 1 to 1000)");
  return wave;
}

// "START/END", each as drctl takes times ("2027-01-16 22:00", a trailing Z
// for UTC).
Status ReadWindow(const Reader& r, const Value& v, MigrationSystem* s) {
  ASSIGN_OR_RETURN(std::string text, r.Text(v));
  const size_t slash = text.find('/');
  if (slash == std::string::npos)
    return r.Error(v, Quote(text) + " is not a window (START/END, e.g. 2027-01-16 22:00/" +
                          "2027-01-17 02:00)");
  auto start = ParseTimeArg(text.substr(0, slash));
  auto end = ParseTimeArg(text.substr(slash + 1));
  if (!start.ok()) return r.Error(v, start.status().message());
  if (!end.ok()) return r.Error(v, end.status().message());
  if (*end <= *start) return r.Error(v, Quote(text) + " ends before it starts");
  s->window_start_ns = *start;
  s->window_end_ns = *end;
  return Status::OK();
}

Status ReadSources(const Reader& r, const Value& v, MigrationSystem* s) {
  ASSIGN_OR_RETURN(Fields f, r.Map(v, {"paths", "images", "devices"}));
  std::map<std::string, std::string> seen;  // path -> field that named it first
  std::vector<std::string> block;
  for (const char* key : {"paths", "images", "devices"}) {
    const Value* list = f.Find(key);
    if (!list) continue;
    ASSIGN_OR_RETURN(std::vector<Value> items, r.List(*list));
    for (const Value& item : items) {
      ASSIGN_OR_RETURN(std::string path, ReadAbsolutePath(r, item));
      const auto [it, fresh] = seen.emplace(path, item.path);
      if (!fresh) return r.Error(item, Quote(path) + " is already listed as " + it->second);
      if (std::string_view(key) == "paths") {
        s->paths.push_back(std::move(path));
        continue;
      }
      if (!s->image.empty() || !s->device.empty())
        return r.Error(item,
                       "a system has at most one disk image or block device (split it "
                       "into systems, one per disk)");
      (std::string_view(key) == "images" ? s->image : s->device) = std::move(path);
    }
  }
  if (!s->HasFiles() && !s->HasBlock())
    return r.Error(f.self, "needs at least one path, image or device");
  return Status::OK();
}

Status ReadTarget(const Reader& r, const Value& v, MigrationSystem* s) {
  ASSIGN_OR_RETURN(Fields f, r.Map(v, {"directory", "image", "rbd"}));
  if (const Value* d = f.Find("directory")) {
    ASSIGN_OR_RETURN(s->directory, ReadAbsolutePath(r, *d));
  }
  const Value *image = f.Find("image"), *rbd = f.Find("rbd");
  if (image && rbd) return r.Error(*rbd, "give image or rbd for the block target, not both");
  if (image) {
    ASSIGN_OR_RETURN(s->image_target, ReadAbsolutePath(r, *image));
  }
  if (rbd) {
    ASSIGN_OR_RETURN(s->rbd, r.Text(*rbd));
    if (s->rbd.rfind("rbd://", 0) != 0)
      return r.Error(*rbd, Quote(s->rbd) + " is not an RBD image (rbd://POOL/IMAGE)");
  }
  if (s->HasFiles() && s->directory.empty())
    return r.Error(f.self, "needs directory: the system has file sources (sources.paths)");
  if (!s->HasFiles() && !s->directory.empty())
    return r.Error(*f.Find("directory"), "the system has no file sources to put there");
  if (s->HasBlock() && s->BlockTarget().empty())
    return r.Error(f.self, "needs image or rbd: the system has a disk image or block device");
  if (!s->HasBlock() && !s->BlockTarget().empty())
    return r.Error(image ? *image : *rbd, "the system has no disk image or block device");
  if (!s->image_target.empty() && s->image_target == s->BlockSource())
    return r.Error(*image, "the target must not be the source itself");
  // A copy inside what it copies would be captured again by every sync.
  for (const auto& p : s->paths) {
    if (!s->directory.empty() && (Within(s->directory, p) || Within(p, s->directory)))
      return r.Error(*f.Find("directory"),
                     Quote(s->directory) + " overlaps the system's own source " + p);
    if (!s->image_target.empty() && Within(s->image_target, p))
      return r.Error(*image, Quote(s->image_target) + " is inside the system's own source " + p);
  }
  return Status::OK();
}

Status ReadHooks(const Reader& r, const Value& v, MigrationHooks* h) {
  ASSIGN_OR_RETURN(Fields f, r.Map(v, {"quiesce", "start", "health-check", "rollback"}));
  const std::pair<const char*, std::string*> hooks[] = {{"quiesce", &h->quiesce},
                                                        {"start", &h->start},
                                                        {"health-check", &h->health_check},
                                                        {"rollback", &h->rollback}};
  for (const auto& [key, out] : hooks) {
    if (const Value* c = f.Find(key)) {
      ASSIGN_OR_RETURN(*out, r.Text(*c));
    }
  }
  return Status::OK();
}

Result<MigrationSystem> ReadSystem(const Reader& r, const Value& v) {
  ASSIGN_OR_RETURN(Fields f, r.Map(v, {"name", "department", "kind", "cloud", "wave", "sources",
                                       "target", "source-agent", "cutover-window", "hooks"}));
  MigrationSystem s;
  for (const char* key : {"name", "department", "cloud", "sources", "target"}) {
    if (!f.Find(key)) return r.Missing(f, key);
  }
  ASSIGN_OR_RETURN(s.name, ReadName(r, *f.Find("name")));
  ASSIGN_OR_RETURN(s.department, ReadName(r, *f.Find("department")));
  ASSIGN_OR_RETURN(s.cloud, ReadName(r, *f.Find("cloud")));
  if (const Value* kind = f.Find("kind")) {
    ASSIGN_OR_RETURN(s.kind, r.Text(*kind));
  }
  if (const Value* wave = f.Find("wave")) {
    ASSIGN_OR_RETURN(s.wave, ReadWave(r, *wave));
  }
  if (const Value* agent = f.Find("source-agent")) {
    ASSIGN_OR_RETURN(s.source_agent, r.Text(*agent));
  }
  RETURN_IF_ERROR(ReadSources(r, *f.Find("sources"), &s));
  RETURN_IF_ERROR(ReadTarget(r, *f.Find("target"), &s));
  if (const Value* w = f.Find("cutover-window")) RETURN_IF_ERROR(ReadWindow(r, *w, &s));
  if (const Value* h = f.Find("hooks")) RETURN_IF_ERROR(ReadHooks(r, *h, &s.hooks));
  return s;
}

Result<MigrationPlan> FromYaml(const Reader& r, const YAML::Node& root) {
  ASSIGN_OR_RETURN(Fields top, r.Map(Value{root, root.Mark(), ""},
                                     {"migration", "repository", "state", "systems"}));
  MigrationPlan plan;
  for (const char* key : {"migration", "systems"}) {
    if (!top.Find(key)) return r.Missing(top, key);
  }
  ASSIGN_OR_RETURN(plan.name, ReadName(r, *top.Find("migration")));
  if (const Value* repository = top.Find("repository")) {
    ASSIGN_OR_RETURN(plan.repository, r.Text(*repository));
  }
  if (const Value* state = top.Find("state")) {
    ASSIGN_OR_RETURN(plan.state_dir, ReadAbsolutePath(r, *state));
  } else {
    plan.state_dir = "/var/lib/drmigrate/" + plan.name;
  }
  ASSIGN_OR_RETURN(std::vector<Value> items, r.List(*top.Find("systems")));
  if (items.empty()) return r.Error(*top.Find("systems"), "lists no system");
  // Two systems writing one target would each undo the other's syncs.
  std::map<std::string, std::string> targets;  // target -> system
  for (const Value& item : items) {
    ASSIGN_OR_RETURN(MigrationSystem s, ReadSystem(r, item));
    if (plan.Find(s.name)) return r.Error(item, "system " + Quote(s.name) + " is listed twice");
    for (const std::string* t : {&s.directory, &s.image_target, &s.rbd}) {
      if (t->empty()) continue;
      // Nested directories would each mirror away the other's files.
      for (const auto& [other, owner] : targets) {
        const bool paths = t->front() == '/' && other.front() == '/';
        if (*t == other || (paths && (Within(*t, other) || Within(other, *t))))
          return r.Error(item, "target " + Quote(*t) + " overlaps system " + Quote(owner) +
                                   "'s target " + Quote(other));
      }
      targets.emplace(*t, s.name);
    }
    plan.systems.push_back(std::move(s));
  }
  return plan;
}

}  // namespace

const MigrationSystem* MigrationPlan::Find(std::string_view name) const {
  for (const auto& s : systems)
    if (s.name == name) return &s;
  return nullptr;
}

std::vector<const MigrationSystem*> MigrationPlan::Wave(int wave) const {
  std::vector<const MigrationSystem*> out;
  for (const auto& s : systems)
    if (s.wave == wave) out.push_back(&s);
  return out;
}

Result<MigrationPlan> ParseMigrationPlan(std::string_view yaml, const std::string& file) {
  const Reader r(file);
  return policy_yaml::ReadDocument<MigrationPlan>(
      r, yaml, "plan keys (migration, repository, state, systems)",
      [&](const YAML::Node& root) -> Result<MigrationPlan> {
        ASSIGN_OR_RETURN(MigrationPlan plan, FromYaml(r, root));
        plan.file = file;
        return plan;
      });
}

Result<MigrationPlan> LoadMigrationPlan(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, policy_yaml::ReadSmallFile(path, "migration plan"));
  return ParseMigrationPlan(text, path);
}

}  // namespace dr
