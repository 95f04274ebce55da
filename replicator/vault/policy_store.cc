#include "replicator/vault/policy_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <nlohmann/json.hpp>

#include "core/env/dir.h"
#include "core/env/fd.h"
#include "core/env/file_io.h"
#include "core/env/line_log.h"
#include "core/timefmt.h"
#include "replicator/vault/line_diff.h"
#include "replicator/vault/vault_config.h"

namespace dr {

namespace {

constexpr char kYamlSuffix[] = ".yaml";

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix.data(), suffix.size()) == 0;
}

// The policies directory, by VaultConfig's one definition of the layout.
std::string PoliciesDirOf(const std::string& state_dir) {
  VaultConfig c;
  c.state_dir = state_dir;
  return c.policies_dir();
}

// Creates the policies directory if missing (not the state directory: a
// missing one means the vault was never initialised, which mkdir -p would hide).
Status EnsureDir(const std::string& state_dir, const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0) return FsyncDir(state_dir);
  if (errno == EEXIST) return Status::OK();
  Status s = Status::FromErrno(errno, "create " + dir);
  if (s.IsNotFound()) return s.WithContext("no state directory (drvault init makes it)");
  return s;
}

// The stored text of a policy file; nullopt when there is none.
Result<std::optional<std::string>> ReadIfPresent(const std::string& path) {
  auto text = ReadWholeFile(path);
  if (text.ok()) return std::optional<std::string>(std::move(text).value());
  if (text.status().IsNotFound()) return std::optional<std::string>();
  return text.status();
}

nlohmann::json ChangeJson(const PolicyChange& c) {
  nlohmann::json j = {{"time_ns", c.time_ns}, {"who", c.who},      {"action", c.action},
                      {"policy", c.policy},   {"namespace", c.ns}, {"text", c.text}};
  if (!c.previous.empty()) j["previous"] = c.previous;
  return j;
}

Result<PolicyChange> DecodeChange(std::string_view line) {
  auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  auto bad = [](const std::string& why) {
    return Status::Corruption("not a policy change: " + why);
  };
  if (!j.is_object()) return bad("not a JSON object");
  PolicyChange c;
  auto time = j.find("time_ns");
  if (time == j.end() || !time->is_number_integer()) return bad("time_ns missing");
  c.time_ns = time->get<int64_t>();
  const std::pair<const char*, std::string*> texts[] = {
      {"who", &c.who},      {"action", &c.action}, {"policy", &c.policy},
      {"namespace", &c.ns}, {"text", &c.text},     {"previous", &c.previous}};
  for (const auto& [name, out] : texts) {
    auto it = j.find(name);
    if (it == j.end() && std::string_view(name) == "previous") continue;  // optional
    if (it == j.end() || !it->is_string()) return bad(std::string(name) + " missing");
    *out = it->get<std::string>();
  }
  if (c.action != "apply" && c.action != "remove")
    return bad("unknown action \"" + c.action + "\"");
  return c;
}

}  // namespace

PolicyStore::PolicyStore(const std::string& state_dir)
    : state_dir_(state_dir), dir_(PoliciesDirOf(state_dir)) {}

Status PolicyStore::CheckName(const std::string& name) {
  // The parser allows only these names already; checked again because the
  // name becomes a path, and Remove/Get take it from the command line.
  auto ok_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  };
  const bool ok = !name.empty() && name.size() <= 64 && name[0] != '.' && name[0] != '_' &&
                  name[0] != '-' && std::all_of(name.begin(), name.end(), ok_char) &&
                  name.find('/') == std::string::npos;
  if (ok) return Status::OK();
  return Status::InvalidArgument("\"" + name +
                                 "\" is not a policy name (lower-case letters, digits, '.', "
                                 "'_', '-'; starting with a letter or digit; at most 64)");
}

Result<Policy> PolicyStore::Validate(const std::string& file, std::string_view yaml) {
  if (yaml.size() > kMaxAppliedPolicyBytes)
    return Status::InvalidArgument(file + ": " + std::to_string(yaml.size()) +
                                   " bytes; a policy may have at most 1 MiB");
  ASSIGN_OR_RETURN(Policy p, ParsePolicy(yaml, file));
  if (p.ns.empty())
    return Status::InvalidArgument(file + ": namespace: required for a policy applied at a vault");
  RETURN_IF_ERROR(CheckName(p.name).WithContext(file + ": name"));
  return p;
}

Result<ApplyOutcome> PolicyStore::Apply(const std::string& file, std::string_view yaml,
                                        const std::string& who) {
  if (who.empty()) return Status::InvalidArgument("apply " + file + ": who applies it is unknown");
  ASSIGN_OR_RETURN(Policy p, Validate(file, yaml));
  RETURN_IF_ERROR(EnsureDir(state_dir_, dir_));
  ASSIGN_OR_RETURN(UniqueFd lock, LockFile(dir_ + "/.lock"));
  const std::string path = PathOf(p.name);
  ASSIGN_OR_RETURN(std::optional<std::string> previous, ReadIfPresent(path));
  ApplyOutcome outcome{p.name, true, !previous.has_value()};
  if (previous && *previous == yaml) {
    outcome.changed = false;
    return outcome;
  }
  RETURN_IF_ERROR(WriteFileAtomically(path, yaml));
  PolicyChange change{NowUnixNs(),          who, "apply", p.name, p.ns, std::string(yaml),
                      previous.value_or("")};
  RETURN_IF_ERROR(AppendChange(change).WithContext("policy " + p.name + " applied, but"));
  return outcome;
}

Status PolicyStore::Remove(const std::string& name, const std::string& who) {
  RETURN_IF_ERROR(CheckName(name));
  if (who.empty()) return Status::InvalidArgument("remove " + name + ": who removes it is unknown");
  struct stat st;
  if (::stat(dir_.c_str(), &st) != 0 && errno == ENOENT)
    return Status::NotFound("no policy " + name + " is applied at this vault");
  ASSIGN_OR_RETURN(UniqueFd lock, LockFile(dir_ + "/.lock"));
  const std::string path = PathOf(name);
  ASSIGN_OR_RETURN(std::optional<std::string> previous, ReadIfPresent(path));
  if (!previous) return Status::NotFound("no policy " + name + " is applied at this vault");
  if (::unlink(path.c_str()) != 0) return Status::FromErrno(errno, "remove " + path);
  RETURN_IF_ERROR(FsyncDir(dir_));
  // The namespace is recorded for the history's readers; a text that no
  // longer parses is removed all the same.
  auto old = ParsePolicy(*previous, path);
  PolicyChange change{NowUnixNs(),         who, "remove", name, old.ok() ? old->ns : "", "",
                      std::move(*previous)};
  return AppendChange(change).WithContext("policy " + name + " removed, but");
}

Status PolicyStore::AppendChange(const PolicyChange& change) {
  return AppendLogLine(
      HistoryPath(),
      ChangeJson(change).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

Result<PolicyListing> PolicyStore::List() const {
  ASSIGN_OR_RETURN(PolicyListing listing, Applied());
  // Who applied each policy last, and when. An unreadable history costs
  // only that column, not the listing.
  auto history = History();
  if (!history.ok()) {
    listing.errors.push_back(history.status().message());
    return listing;
  }
  std::map<std::string, const PolicyChange*> last_apply;
  for (const PolicyChange& c : history->changes)
    if (c.action == "apply") last_apply[c.policy] = &c;
  for (AppliedPolicy& applied : listing.policies) {
    if (auto it = last_apply.find(applied.policy.name); it != last_apply.end()) {
      applied.applied_ns = it->second->time_ns;
      applied.applied_by = it->second->who;
    }
  }
  return listing;
}

Result<PolicyListing> PolicyStore::Applied() const {
  PolicyListing listing;
  UniqueFd dir(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) {
    if (errno == ENOENT) return listing;
    return Status::FromErrno(errno, "open " + dir_);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> names, ReadDirNames(dir.get(), dir_));
  for (const std::string& entry : names) {
    // Hidden files are the lock and WriteFileAtomically's temporary files.
    if (entry[0] == '.' || !EndsWith(entry, kYamlSuffix)) continue;
    const std::string name = entry.substr(0, entry.size() - (sizeof kYamlSuffix - 1));
    const std::string path = dir_ + "/" + entry;
    auto text = ReadWholeFile(path);
    if (!text.ok()) {
      listing.errors.push_back(text.status().message());
      continue;
    }
    auto p = Validate(path, *text);
    if (!p.ok()) {
      listing.errors.push_back(p.status().message());
      continue;
    }
    if (p->name != name) {
      listing.errors.push_back(path + ": name: \"" + p->name +
                               "\" does not match the file name (a file renamed by hand?)");
      continue;
    }
    AppliedPolicy applied;
    applied.policy = std::move(p).value();
    listing.policies.push_back(std::move(applied));
  }
  return listing;
}

Result<std::string> PolicyStore::AppliedText(const std::string& name) const {
  RETURN_IF_ERROR(CheckName(name));
  ASSIGN_OR_RETURN(std::optional<std::string> text, ReadIfPresent(PathOf(name)));
  if (!text) return Status::NotFound("no policy " + name + " is applied at this vault");
  return std::move(*text);
}

Result<Policy> PolicyStore::Get(const std::string& name) const {
  ASSIGN_OR_RETURN(std::string text, AppliedText(name));
  return ParsePolicy(text, PathOf(name));
}

Result<PolicyHistory> PolicyStore::History(const std::optional<std::string>& name) const {
  PolicyHistory history;
  RETURN_IF_ERROR(ReadLogLines(
      HistoryPath(),
      [&](std::string_view line) {
        ASSIGN_OR_RETURN(PolicyChange c, DecodeChange(line));
        if (!name || c.policy == *name) history.changes.push_back(std::move(c));
        return Status::OK();
      },
      &history.warnings));
  return history;
}

Result<std::string> PolicyStore::Diff(const std::string& name, std::string_view new_text,
                                      const std::string& new_label) const {
  ASSIGN_OR_RETURN(std::string applied, AppliedText(name));
  return UnifiedDiff(applied, new_text, "applied " + name, new_label);
}

}  // namespace dr
