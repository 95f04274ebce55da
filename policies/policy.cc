#include "policies/policy.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <utility>

#include <yaml-cpp/depthguard.h>

#include "policies/duration.h"
#include "policies/policy_yaml.h"

namespace dr {

using policy_yaml::Fields;
using policy_yaml::Quote;
using policy_yaml::Reader;
using policy_yaml::Value;

namespace {

// Below this, `every` would start runs faster than cron's resolution and
// faster than a backup can finish.
constexpr int64_t kMinEvery = 60;

bool IsLowerOrDigit(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }

// [first][first or punct]{0,max-1}.
bool MatchesName(std::string_view s, bool upper, std::string_view punct, size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool ok = IsLowerOrDigit(c) || (upper && IsUpper(c)) ||
                    (i > 0 && punct.find(c) != std::string_view::npos);
    if (!ok) return false;
  }
  return true;
}

// The vault's own rule (IsValidNamespace in replicator/vault, which this
// folder may not include): a namespace it would refuse must fail here.
bool IsNamespace(std::string_view s) { return MatchesName(s, false, "_-", 63); }
// Host names keep their case and dots.
bool IsAgentName(std::string_view s) { return MatchesName(s, true, "._-", 64); }

// Tags are shown comma-separated and given on command lines.
bool IsTag(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  return std::none_of(s.begin(), s.end(), [](char c) {
    return c == ',' || c == ' ' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
}

std::string Lowered(std::string s) {
  for (char& c : s) {
    if (IsUpper(c)) c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

Result<std::string> ReadName(const Reader& r, const Value& v, bool (*valid)(std::string_view),
                             const char* rule) {
  ASSIGN_OR_RETURN(std::string s, r.String(v));
  if (!valid(s)) return r.Error(v, Quote(s) + " is not a valid name (" + rule + ")");
  return s;
}

constexpr char kPolicyNameRule[] =
    "lower-case letters, digits, '.', '_', '-'; starting with a letter or digit; at most 64";

Result<std::vector<std::string>> ReadTags(const Reader& r, const Value& v) {
  ASSIGN_OR_RETURN(std::vector<Value> items, r.List(v));
  std::vector<std::string> tags;
  for (const Value& item : items) {
    ASSIGN_OR_RETURN(std::string tag, r.String(item));
    if (!IsTag(tag))
      return r.Error(item, Quote(tag) +
                               " is not a valid tag (1 to 128 bytes, no spaces, commas or "
                               "control characters)");
    tags.push_back(std::move(tag));
  }
  return tags;
}

Status CheckAbsolutePath(const Reader& r, const Value& v, const std::string& path) {
  if (path.front() != '/')
    return r.Error(v, Quote(path) + " is not an absolute path (it must start with /)");
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (path.compare(start, end - start, "..") == 0)
      return r.Error(v, Quote(path) + " must not contain \"..\"");
    start = end + 1;
  }
  return Status::OK();
}

// HH:MM-HH:MM, 24-hour clock, two digits each.
bool ParseWindow(std::string_view s, StartWindow* w) {
  auto time_of_day = [](std::string_view t, int* minute) {
    if (t.size() != 5 || t[2] != ':') return false;
    for (size_t i : {0, 1, 3, 4}) {
      if (t[i] < '0' || t[i] > '9') return false;
    }
    const int h = (t[0] - '0') * 10 + (t[1] - '0'), m = (t[3] - '0') * 10 + (t[4] - '0');
    if (h > 23 || m > 59) return false;
    *minute = h * 60 + m;
    return true;
  };
  return s.size() == 11 && s[5] == '-' && time_of_day(s.substr(0, 5), &w->start_minute) &&
         time_of_day(s.substr(6), &w->end_minute);
}

Result<Schedule> ReadSchedule(const Reader& r, const Value& v, const TimeZone& default_zone) {
  ASSIGN_OR_RETURN(Fields f, r.Map(v, {"cron", "every", "time-zone", "window", "jitter"}));
  Schedule s;
  s.zone = default_zone;
  const Value *cron = f.Find("cron"), *every = f.Find("every");
  if (cron && every) {
    // Point at whichever of the two the reader meets second.
    const Value* second = cron;
    for (const auto& [name, value] : f.entries) {
      if (name == "cron" || name == "every") second = &value;
    }
    return r.Error(*second, "give either cron or every, not both");
  }
  if (!cron && !every)
    return r.Error(f.self, "needs either cron (e.g. \"0 2 * * *\") or every (e.g. 15m)");
  if (cron) {
    ASSIGN_OR_RETURN(std::string text, r.Text(*cron));
    auto expr = ParseCron(text);
    if (!expr.ok()) return r.Error(*cron, expr.status().message());
    s.cron = std::move(*expr);
  } else {
    ASSIGN_OR_RETURN(s.every_s, r.Duration(*every));
    if (s.every_s < kMinEvery)
      return r.Error(*every, "must be at least " + FormatDuration(kMinEvery) + ", found " +
                                 FormatDuration(s.every_s));
  }
  if (const Value* zone = f.Find("time-zone")) {
    ASSIGN_OR_RETURN(s.zone, r.Zone(*zone));
  }
  if (const Value* window = f.Find("window")) {
    ASSIGN_OR_RETURN(std::string text, r.String(*window));
    StartWindow w;
    const std::string format = "expected HH:MM-HH:MM on a 24-hour clock (e.g. \"22:00-06:00\")";
    if (!ParseWindow(text, &w)) return r.Error(*window, format + ", found " + Quote(text));
    // Equal ends could mean "never" or "always"; neither is worth a window.
    if (w.start_minute == w.end_minute)
      return r.Error(*window, "start and end are the same; leave window out to allow any time");
    s.window = w;
  }
  if (const Value* jitter = f.Find("jitter")) {
    ASSIGN_OR_RETURN(s.jitter_s, r.Duration(*jitter));
    // A delay as long as the interval would push a run onto the next one.
    if (s.every_s > 0 && s.jitter_s >= s.every_s)
      return r.Error(*jitter, FormatDuration(s.jitter_s) + " must be shorter than every (" +
                                  FormatDuration(s.every_s) + ")");
  }
  return s;
}

// Ten years: longer than any records schedule asks of a backup.
constexpr int64_t kMaxLockForS = int64_t{10} * 366 * 86400;

Result<RetentionRules> ReadRules(const Reader& r, const Value& v, const TimeZone& zone) {
  ASSIGN_OR_RETURN(
      Fields f, r.Map(v, {"keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly",
                          "keep-yearly", "keep-within", "keep-tag", "lock-for"}));
  RetentionRules rules;
  rules.zone = zone;
  const std::pair<const char*, int*> counts[] = {
      {"keep-last", &rules.last},       {"keep-hourly", &rules.hourly},
      {"keep-daily", &rules.daily},     {"keep-weekly", &rules.weekly},
      {"keep-monthly", &rules.monthly}, {"keep-yearly", &rules.yearly}};
  for (const auto& [key, out] : counts) {
    if (const Value* n = f.Find(key)) {
      ASSIGN_OR_RETURN(*out, r.Count(*n));
    }
  }
  if (const Value* within = f.Find("keep-within")) {
    ASSIGN_OR_RETURN(rules.within_s, r.Duration(*within));
  }
  if (const Value* tags = f.Find("keep-tag")) {
    ASSIGN_OR_RETURN(rules.tags, ReadTags(r, *tags));
  }
  if (const Value* lock = f.Find("lock-for")) {
    ASSIGN_OR_RETURN(rules.lock_for_s, r.Duration(*lock));
    // A lock can never be taken back: a slip of the finger ("100y" for
    // "100d") would pin every snapshot, and its data, for good.
    if (rules.lock_for_s <= 0 || rules.lock_for_s > kMaxLockForS)
      return r.Error(*lock, "must be more than 0s and at most 3660d (ten years)");
  }
  return rules;
}

Status ReadRetention(const Reader& r, const Value& v, Policy* p) {
  ASSIGN_OR_RETURN(Fields f, r.Map(v, {"time-zone", "same-city", "off-site"}));
  TimeZone zone = p->schedule.zone;
  if (const Value* z = f.Find("time-zone")) {
    ASSIGN_OR_RETURN(zone, r.Zone(*z));
  }
  p->same_city.zone = p->off_site.zone = zone;
  if (const Value* same_city = f.Find("same-city")) {
    ASSIGN_OR_RETURN(p->same_city, ReadRules(r, *same_city, zone));
  }
  if (const Value* off_site = f.Find("off-site")) {
    ASSIGN_OR_RETURN(p->off_site, ReadRules(r, *off_site, zone));
  }
  return Status::OK();
}

Status ReadSources(const Reader& r, const Value& v, Policy* p) {
  ASSIGN_OR_RETURN(Fields f, r.Map(v, {"paths", "images", "devices"}));
  // One path in two places would be backed up twice and restored over itself.
  std::map<std::string, std::string> seen;  // path -> field that named it first
  const std::pair<const char*, std::vector<std::string>*> lists[] = {
      {"paths", &p->paths}, {"images", &p->images}, {"devices", &p->devices}};
  for (const auto& [key, out] : lists) {
    const Value* list = f.Find(key);
    if (!list) continue;
    ASSIGN_OR_RETURN(std::vector<Value> items, r.List(*list));
    for (const Value& item : items) {
      ASSIGN_OR_RETURN(std::string path, r.Text(item));
      RETURN_IF_ERROR(CheckAbsolutePath(r, item, path));
      const auto [it, fresh] = seen.emplace(path, item.path);
      if (!fresh) return r.Error(item, Quote(path) + " is already listed as " + it->second);
      out->push_back(std::move(path));
    }
  }
  if (p->paths.empty() && p->images.empty() && p->devices.empty())
    return r.Error(f.self, "needs at least one path, image or device");
  return Status::OK();
}

Result<std::vector<DrillSpec>> ReadDrills(const Reader& r, const Value& v,
                                          const TimeZone& default_zone) {
  ASSIGN_OR_RETURN(std::vector<Value> items, r.List(v));
  std::vector<DrillSpec> drills;
  for (const Value& item : items) {
    ASSIGN_OR_RETURN(Fields f, r.Map(item, {"name", "schedule", "site", "checks", "rto"}));
    DrillSpec d;
    const Value* name = f.Find("name");
    if (!name) return r.Missing(f, "name");
    ASSIGN_OR_RETURN(d.name, ReadName(r, *name, IsPolicyName, kPolicyNameRule));
    for (const DrillSpec& other : drills) {
      if (other.name == d.name) return r.Error(*name, "another drill is named " + Quote(d.name));
    }
    const Value* schedule = f.Find("schedule");
    if (!schedule) return r.Missing(f, "schedule");
    ASSIGN_OR_RETURN(d.schedule, ReadSchedule(r, *schedule, default_zone));
    if (const Value* site = f.Find("site")) {
      ASSIGN_OR_RETURN(d.site, r.String(*site));
      if (d.site != "same-city" && d.site != "off-site")
        return r.Error(*site, "expected same-city or off-site, found " + Quote(d.site));
    }
    if (const Value* checks = f.Find("checks")) {
      ASSIGN_OR_RETURN(d.checks, r.TextList(*checks));
    }
    if (const Value* rto = f.Find("rto")) {
      ASSIGN_OR_RETURN(d.rto_s, r.Duration(*rto));
      if (d.rto_s <= 0) return r.Error(*rto, "must be more than 0s (leave rto out for none)");
    }
    drills.push_back(std::move(d));
  }
  return drills;
}

Result<Policy> FromYaml(const Reader& r, const YAML::Node& root, YAML::Mark* name_mark) {
  ASSIGN_OR_RETURN(Fields top, r.Map(Value{root, root.Mark(), ""},
                                     {"name", "namespace", "description", "agents", "sources",
                                      "excludes", "one-file-system", "btrfs-snapshot", "tags",
                                      "hooks", "schedule", "retention", "rpo", "alert", "drills"}));
  Policy p;
  const Value* name = top.Find("name");
  if (!name) return r.Missing(top, "name");
  ASSIGN_OR_RETURN(p.name, ReadName(r, *name, IsPolicyName, kPolicyNameRule));
  *name_mark = name->mark;
  if (const Value* ns = top.Find("namespace")) {
    ASSIGN_OR_RETURN(p.ns, ReadName(r, *ns, IsNamespace,
                                    "lower-case letters, digits, '_', '-'; starting with a "
                                    "letter or digit; at most 63"));
  }
  if (const Value* description = top.Find("description")) {
    ASSIGN_OR_RETURN(p.description, r.String(*description));
  }
  if (const Value* agents = top.Find("agents")) {
    ASSIGN_OR_RETURN(std::vector<Value> items, r.List(*agents));
    for (const Value& item : items) {
      ASSIGN_OR_RETURN(std::string agent,
                       ReadName(r, item, IsAgentName,
                                "letters, digits, '.', '_', '-'; starting with a letter or "
                                "digit; at most 64"));
      for (const std::string& other : p.agents) {
        if (Lowered(other) == Lowered(agent))
          return r.Error(item, Quote(agent) + " is listed twice");
      }
      p.agents.push_back(std::move(agent));
    }
  }
  const Value* sources = top.Find("sources");
  if (!sources) return r.Missing(top, "sources");
  RETURN_IF_ERROR(ReadSources(r, *sources, &p));
  // These shape a file walk; on an image or device they would do nothing,
  // which is not what whoever wrote them expects.
  if (const Value* excludes = top.Find("excludes")) {
    ASSIGN_OR_RETURN(p.excludes, r.TextList(*excludes));
    if (!p.excludes.empty() && p.paths.empty())
      return r.Error(*excludes, "applies to sources.paths only, and there are none");
  }
  const std::pair<const char*, bool*> flags[] = {{"one-file-system", &p.one_file_system},
                                                 {"btrfs-snapshot", &p.btrfs_snapshot}};
  for (const auto& [key, out] : flags) {
    if (const Value* flag = top.Find(key)) {
      ASSIGN_OR_RETURN(*out, r.Bool(*flag));
      if (*out && p.paths.empty())
        return r.Error(*flag, "applies to sources.paths only, and there are none");
    }
  }
  if (const Value* tags = top.Find("tags")) {
    ASSIGN_OR_RETURN(p.tags, ReadTags(r, *tags));
  }
  if (const Value* hooks = top.Find("hooks")) {
    ASSIGN_OR_RETURN(Fields h, r.Map(*hooks, {"pre", "post"}));
    if (const Value* pre = h.Find("pre")) {
      ASSIGN_OR_RETURN(p.pre_hook, r.Text(*pre));
    }
    if (const Value* post = h.Find("post")) {
      ASSIGN_OR_RETURN(p.post_hook, r.Text(*post));
    }
  }
  const Value* schedule = top.Find("schedule");
  if (!schedule) return r.Missing(top, "schedule");
  ASSIGN_OR_RETURN(p.schedule, ReadSchedule(r, *schedule, TimeZone()));
  p.same_city.zone = p.off_site.zone = p.schedule.zone;
  if (const Value* retention = top.Find("retention")) {
    RETURN_IF_ERROR(ReadRetention(r, *retention, &p));
  }
  if (const Value* rpo = top.Find("rpo")) {
    ASSIGN_OR_RETURN(p.rpo_s, r.Duration(*rpo));
    if (p.rpo_s <= 0) return r.Error(*rpo, "must be more than 0s (leave rpo out for none)");
    // The newest snapshot is as old as the gap between two runs plus the
    // time a run takes, so an RPO no longer than the gap is always missed.
    const int64_t every = p.schedule.every_s, jitter = p.schedule.jitter_s;
    if (every > 0 && p.rpo_s <= every + jitter)
      return r.Error(*rpo, FormatDuration(p.rpo_s) + " can never be met: runs start every " +
                               FormatDuration(every) +
                               (jitter > 0 ? " plus up to " + FormatDuration(jitter) + " of jitter"
                                           : std::string()));
  }
  if (const Value* alert = top.Find("alert")) {
    ASSIGN_OR_RETURN(p.alert_command, r.Text(*alert));
  }
  if (const Value* drills = top.Find("drills")) {
    ASSIGN_OR_RETURN(p.drills, ReadDrills(r, *drills, p.schedule.zone));
  }
  return p;
}

// Whether line `line` (0-based) is indented with a tab, which yaml-cpp
// reports only as some unrelated-looking syntax error.
// ParsePolicy, also giving where the name is (for LoadPolicies' duplicates).
Result<Policy> Parse(std::string_view yaml, const std::string& file, YAML::Mark* name_mark) {
  const Reader r(file);
  return policy_yaml::ReadDocument<Policy>(r, yaml, "policy keys (name, sources, schedule, ...)",
                                           [&](const YAML::Node& root) -> Result<Policy> {
                                             ASSIGN_OR_RETURN(Policy p,
                                                              FromYaml(r, root, name_mark));
                                             p.file = file;
                                             p.source_text = std::string(yaml);
                                             return p;
                                           });
}

Result<std::string> ReadPolicyFile(const std::string& path) {
  return policy_yaml::ReadSmallFile(path, "policy file");
}

}  // namespace

namespace {
bool IsPolicyFileName(const std::string& name) {
  auto ends_with = [&](std::string_view suffix) {
    return name.size() > suffix.size() &&
           name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  // Hidden files are editors' (".#a.yaml" locks) and tools' leftovers.
  return name[0] != '.' && (ends_with(".yaml") || ends_with(".yml"));
}

}  // namespace

Result<std::vector<std::string>> PolicyFiles(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Status::FromErrno(errno, "policies " + path);
  if (!S_ISDIR(st.st_mode)) return std::vector<std::string>{path};
  DIR* dir = ::opendir(path.c_str());
  if (!dir) return Status::FromErrno(errno, "policy directory " + path);
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* e = ::readdir(dir)) {
    if (IsPolicyFileName(e->d_name)) names.emplace_back(e->d_name);
    errno = 0;
  }
  const int err = errno;
  ::closedir(dir);
  if (err != 0) return Status::FromErrno(err, "policy directory " + path);
  std::sort(names.begin(), names.end());
  const std::string prefix = path.back() == '/' ? path : path + "/";
  std::vector<std::string> files;
  for (const std::string& name : names) {
    const std::string file = prefix + name;
    if (::stat(file.c_str(), &st) != 0) return Status::FromErrno(errno, "policy file " + file);
    if (S_ISDIR(st.st_mode)) continue;  // not recursive
    files.push_back(file);
  }
  return files;
}

std::string PolicySource::Label() const {
  switch (kind) {
    case Kind::kImage:
      return "image:" + (paths.empty() ? std::string() : paths[0]);
    case Kind::kDevice:
      return "device:" + (paths.empty() ? std::string() : paths[0]);
    case Kind::kFiles:
      break;
  }
  return "files";
}

std::vector<PolicySource> Policy::Sources() const {
  std::vector<PolicySource> out;
  if (!paths.empty()) out.push_back(PolicySource{PolicySource::Kind::kFiles, paths});
  for (const std::string& image : images)
    out.push_back(PolicySource{PolicySource::Kind::kImage, {image}});
  for (const std::string& device : devices)
    out.push_back(PolicySource{PolicySource::Kind::kDevice, {device}});
  return out;
}

bool Policy::AppliesTo(const std::string& agent) const {
  if (agents.empty()) return true;
  // Host names are case-insensitive (RFC 4343); "FIN-APP-01" in a policy
  // is the machine that calls itself fin-app-01.
  const std::string wanted = Lowered(agent);
  return std::any_of(agents.begin(), agents.end(),
                     [&](const std::string& a) { return Lowered(a) == wanted; });
}

Result<Policy> ParsePolicy(std::string_view yaml, const std::string& file) {
  YAML::Mark name_mark;
  return Parse(yaml, file, &name_mark);
}

Result<std::vector<Policy>> LoadPolicies(const std::string& path) {
  ASSIGN_OR_RETURN(std::vector<std::string> files, PolicyFiles(path));
  std::vector<Policy> policies;
  std::map<std::string, std::string> defined;  // name -> "FILE:LINE:COLUMN" of its name
  for (const std::string& file : files) {
    ASSIGN_OR_RETURN(std::string text, ReadPolicyFile(file));
    YAML::Mark name_mark;
    ASSIGN_OR_RETURN(Policy p, Parse(text, file, &name_mark));
    const Reader r(file);
    const std::string where = file + ":" + std::to_string(name_mark.line + 1) + ":" +
                              std::to_string(name_mark.column + 1);
    const auto [it, fresh] = defined.emplace(p.name, where);
    if (!fresh)
      return r.Error(name_mark, "name",
                     "policy " + Quote(p.name) + " is already defined at " + it->second);
    policies.push_back(std::move(p));
  }
  return policies;
}

bool IsPolicyName(std::string_view s) { return MatchesName(s, false, "._-", 64); }

}  // namespace dr
