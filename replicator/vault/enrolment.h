// Admitting an agent: the checks on its namespace and rights, and the
// namespace's repository, created when the first agent with the backup right
// is enrolled (so `drvault enrol` leaves a vault ready to take backups).
#pragma once

#include <string>

#include "core/status.h"
#include "replicator/vault/agent_registry.h"
#include "replicator/vault/vault_config.h"

namespace dr {

// How a namespace's repository is made when an enrolment creates it.
struct NewNamespace {
  bool encrypt = false;
  std::string escrow_key_file;  // where the master key goes (namespace_keys.h)
};

struct EnrolResult {
  std::string created_repository;  // URL of a repository made for this enrolment, or ""
};

// Validates `entry` (a namespace name, or "*" with exactly the replicate
// right), creates the namespace's repository if the agent may back up and
// none exists, and adds the key to the registry. InvalidArgument names the
// field at fault; AlreadyExists if the name or key is enrolled.
// `create.encrypt` asks for an encrypted namespace: refused unless the
// enrolment creates it (encryption is chosen once, at creation).
Result<EnrolResult> EnrolAgent(const VaultConfig& config, const AgentEntry& entry,
                               const NewNamespace& create = {});

// For a dir:// repository URL, creates its directory (and parents); other
// stores need nothing made first.
Status CreateRepositoryDirectory(const std::string& url);

// Creates the repository of namespace `ns` under the vault's repository URL
// unless it exists. Returns its URL when it was created, "" when it existed.
Result<std::string> EnsureNamespaceRepository(const VaultConfig& config, const std::string& ns,
                                              const NewNamespace& create = {});

}  // namespace dr
