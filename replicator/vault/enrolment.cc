#include "replicator/vault/enrolment.h"

#include <filesystem>

#include "catalog/repository.h"
#include "catalog/store/object_store.h"

namespace dr {

Status CreateRepositoryDirectory(const std::string& url) {
  if (url.rfind("dir://", 0) != 0) return Status::OK();
  std::error_code ec;
  std::filesystem::create_directories(url.substr(6), ec);
  if (ec) return Status::FromErrno(ec.value(), "create repository directory " + url.substr(6));
  return Status::OK();
}

Result<std::string> EnsureNamespaceRepository(const VaultConfig& config, const std::string& ns) {
  ASSIGN_OR_RETURN(std::string url, NamespaceRepositoryUrl(config.repository, ns));
  RETURN_IF_ERROR(CreateRepositoryDirectory(url));
  ASSIGN_OR_RETURN(auto store, OpenObjectStore(url));
  auto config_size = store->Size("config");
  if (config_size.ok()) return std::string();
  if (!config_size.status().IsNotFound()) return config_size.status();
  RETURN_IF_ERROR(Repository::Init(store.get(), InitOptions{}));
  return store->Url();
}

Result<EnrolResult> EnrolAgent(const VaultConfig& config, const AgentEntry& entry) {
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
  EnrolResult result;
  if (entry.rights & kRightBackup) {
    ASSIGN_OR_RETURN(result.created_repository, EnsureNamespaceRepository(config, entry.nspace));
  }
  AgentRegistry registry(config.registry_path());
  RETURN_IF_ERROR(registry.Enrol(entry));
  return result;
}

}  // namespace dr
