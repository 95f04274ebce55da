#include "replicator/vault/agent_registry.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "catalog/store/dir_store.h"
#include "core/timefmt.h"
#include "replicator/vault/vault_log.h"

namespace dr {

bool IsValidNamespace(const std::string& ns) {
  if (ns.empty() || ns.size() > 63) return false;
  for (size_t i = 0; i < ns.size(); ++i) {
    char c = ns[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i > 0 && (c == '-' || c == '_'));
    if (!ok) return false;
  }
  return true;
}

Status AgentRegistry::ReloadIfChanged() {
  struct stat st;
  if (::stat(path_.c_str(), &st) != 0) {
    if (errno != ENOENT) return Status::FromErrno(errno, "agent registry " + path_);
    entries_.clear();
    loaded_mtime_ns_ = loaded_size_ = -1;
    return Status::OK();
  }
  const int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  if (mtime == loaded_mtime_ns_ && st.st_size == loaded_size_) return Status::OK();
  std::ifstream in(path_);
  std::stringstream text;
  text << in.rdbuf();
  ASSIGN_OR_RETURN(auto entries, ParseAgentRegistry(text.str(), path_));
  entries_ = std::move(entries);
  loaded_mtime_ns_ = mtime;
  loaded_size_ = st.st_size;
  return Status::OK();
}

std::optional<AgentEntry> AgentRegistry::Find(const std::string& public_key) {
  std::lock_guard l(mu_);
  // A registry that cannot be read admits nobody new; the last good copy
  // stays in memory so a bad edit does not lock everyone out.
  Status reloaded = ReloadIfChanged();
  if (reloaded.ok()) {
    last_reload_error_.clear();
  } else if (reloaded.message() != last_reload_error_) {
    LogEvent("registry_unreadable", {{"error", reloaded.message()}, {"using", "last good copy"}});
    last_reload_error_ = reloaded.message();
  }
  for (const auto& e : entries_)
    if (e.public_key == public_key) return e;
  return std::nullopt;
}

Result<std::vector<AgentEntry>> AgentRegistry::All() {
  std::lock_guard l(mu_);
  RETURN_IF_ERROR(ReloadIfChanged());
  return entries_;
}

Status AgentRegistry::Save(const std::vector<AgentEntry>& entries) {
  // DirStore's Put is the atomic, durable replace we need (temp, fsync, rename).
  const std::filesystem::path path(path_);
  return DirStore(path.parent_path().string())
      .Put(path.filename().string(), AgentRegistryText(entries))
      .WithContext("agent registry");
}

Status AgentRegistry::Enrol(const AgentEntry& entry) {
  std::lock_guard l(mu_);
  RETURN_IF_ERROR(ReloadIfChanged());
  for (const auto& e : entries_) {
    if (e.name == entry.name)
      return Status::AlreadyExists("an agent named '" + entry.name + "' is already enrolled");
    if (e.public_key == entry.public_key)
      return Status::AlreadyExists("key " + entry.public_key + " is already enrolled as '" +
                                   e.name + "'");
  }
  auto entries = entries_;
  AgentEntry e = entry;
  if (e.enrolled_at.empty()) e.enrolled_at = FormatRfc3339Utc(NowUnixNs());
  entries.push_back(std::move(e));
  RETURN_IF_ERROR(Save(entries));
  loaded_mtime_ns_ = -1;  // re-read our own write next time
  return Status::OK();
}

Status AgentRegistry::Revoke(const std::string& name_or_key) {
  std::lock_guard l(mu_);
  RETURN_IF_ERROR(ReloadIfChanged());
  auto entries = entries_;
  for (auto& e : entries) {
    if (e.name == name_or_key || e.public_key == name_or_key) {
      if (e.revoked) return Status::OK();
      e.revoked = true;
      e.revoked_at = FormatRfc3339Utc(NowUnixNs());
      RETURN_IF_ERROR(Save(entries));
      loaded_mtime_ns_ = -1;
      return Status::OK();
    }
  }
  return Status::NotFound("no enrolled agent named or keyed '" + name_or_key + "'");
}

}  // namespace dr
