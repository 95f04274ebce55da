#include "replicator/vault/enrolment.h"

#include <filesystem>

#include "catalog/format/repo_config.h"
#include "catalog/repository.h"
#include "catalog/store/object_store.h"
#include "replicator/vault/namespace_keys.h"

namespace dr {

Status CreateRepositoryDirectory(const std::string& url) {
  if (url.rfind("dir://", 0) != 0) return Status::OK();
  std::error_code ec;
  std::filesystem::create_directories(url.substr(6), ec);
  if (ec) return Status::FromErrno(ec.value(), "create repository directory " + url.substr(6));
  return Status::OK();
}

Result<std::string> EnsureNamespaceRepository(const VaultConfig& config, const std::string& ns,
                                              const NewNamespace& create) {
  ASSIGN_OR_RETURN(std::string url, NamespaceRepositoryUrl(config.repository, ns));
  RETURN_IF_ERROR(CreateRepositoryDirectory(url));
  ASSIGN_OR_RETURN(auto store, OpenObjectStore(url));
  auto existing = store->Get("config");
  if (existing.ok()) {
    if (!create.encrypt) return std::string();
    ASSIGN_OR_RETURN(RepoConfig repo_config,
                     RepoConfig::Decode(*existing, "config of namespace " + ns));
    if (!repo_config.encrypted()) {
      return Status::InvalidArgument("namespace " + ns +
                                     " exists unencrypted; encryption is chosen when a namespace "
                                     "is created (use a new namespace)");
    }
    // Nothing is written before the agent is enrolled: another escrow copy
    // is its own, audited, command.
    if (!create.escrow_key_file.empty()) {
      return Status::InvalidArgument("namespace " + ns +
                                     " exists encrypted; write another escrow copy with "
                                     "'drvault key export " +
                                     ns + " --out FILE'");
    }
    return std::string();
  }
  if (!existing.status().IsNotFound()) return existing.status();
  if (create.encrypt) {
    RETURN_IF_ERROR(CreateEncryptedNamespace(config, ns, store.get(), create.escrow_key_file));
  } else {
    RETURN_IF_ERROR(SetAsideUnusedKeyFile(config, ns));
    RETURN_IF_ERROR(Repository::Init(store.get(), InitOptions{}));
  }
  return store->Url();
}

Result<EnrolResult> EnrolAgent(const VaultConfig& config, const AgentEntry& entry,
                               const NewNamespace& create) {
  if (entry.nspace == "*") {
    if (entry.rights != kRightReplicate)
      return Status::InvalidArgument(
          "namespace * is for replicating vaults: --rights replicate only");
  } else {
    if (!IsValidNamespace(entry.nspace))
      return Status::InvalidArgument("namespace '" + entry.nspace +
                                     "' is not valid (lower-case letters, digits, - and _)");
    if (entry.rights & kRightReplicate)
      return Status::InvalidArgument("the replicate right goes with --namespace '*'");
  }
  if (create.encrypt && !(entry.rights & kRightBackup)) {
    return Status::InvalidArgument(
        "--encrypt creates the namespace: it goes with the backup right");
  }
  EnrolResult result;
  if (entry.rights & kRightBackup) {
    ASSIGN_OR_RETURN(result.created_repository,
                     EnsureNamespaceRepository(config, entry.nspace, create));
  }
  AgentRegistry registry(config.registry_path());
  RETURN_IF_ERROR(registry.Enrol(entry));
  return result;
}

}  // namespace dr
