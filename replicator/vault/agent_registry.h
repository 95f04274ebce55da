// AgentRegistry: which CurveZMQ keys a vault admits, and what each may do.
//
// Kept as a JSON file in the vault's state directory, edited by `drvault
// enrol` / `drvault revoke` (atomically: temp file + rename) and re-read by a
// running vault whenever the file changes, so a revocation takes effect on the
// next connection without a restart.
//
// Rights: backup (add snapshots to its namespace, read its snapshot list and
// trees for incrementals), restore (read every object of its namespace),
// replicate (a peer vault: write-once objects into any namespace; namespace
// "*"). Nothing grants delete or overwrite.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace dr {

enum Right : unsigned { kRightBackup = 1, kRightRestore = 2, kRightReplicate = 4 };

struct AgentEntry {
  std::string name;
  std::string public_key;  // Z85
  std::string nspace;      // a namespace, or "*" for a replicating peer
  unsigned rights = 0;
  bool revoked = false;
  std::string enrolled_at, revoked_at;  // RFC 3339, for the record
};

// "backup,restore" -> bits; InvalidArgument naming an unknown right.
Result<unsigned> ParseRights(const std::string& list);
std::string RightsToString(unsigned rights);
// Namespaces are directory and RADOS-namespace names: [a-z0-9][a-z0-9_-]{0,62}.
bool IsValidNamespace(const std::string& ns);

// The registry file's text, as Find reads it (`name` stands for the file in
// errors; never throws, whatever the text), and as Enrol and Revoke write it.
Result<std::vector<AgentEntry>> ParseAgentRegistry(std::string_view text, const std::string& name);
std::string AgentRegistryText(const std::vector<AgentEntry>& entries);

class AgentRegistry {
 public:
  explicit AgentRegistry(std::string path) : path_(std::move(path)) {}

  // The entry for `public_key` as of the file's current contents.
  std::optional<AgentEntry> Find(const std::string& public_key);
  Result<std::vector<AgentEntry>> All();

  // Edits (each a read-modify-write of the file).
  Status Enrol(const AgentEntry& entry);  // AlreadyExists for a known name or key
  Status Revoke(const std::string& name_or_key);

 private:
  Status ReloadIfChanged();  // REQUIRES: mu_ held
  Status Save(const std::vector<AgentEntry>& entries);

  const std::string path_;
  std::mutex mu_;
  std::string last_reload_error_;    // GUARDED_BY(mu_): logged once per distinct error
  std::vector<AgentEntry> entries_;  // GUARDED_BY(mu_)
  int64_t loaded_mtime_ns_ = -1;     // GUARDED_BY(mu_)
  int64_t loaded_size_ = -1;         // GUARDED_BY(mu_)
};

}  // namespace dr
