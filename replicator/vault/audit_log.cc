#include "replicator/vault/audit_log.h"

#include <unistd.h>

#include "core/timefmt.h"
#include "replicator/vault/enrolment.h"
#include "replicator/vault/vault_log.h"

namespace dr {

namespace {

constexpr char kPrefix[] = "audit/";

LogLayout AuditLayout(const std::string& state_dir) {
  return {kPrefix,
          // Where a record someone without the vault's key put in the log's
          // way is kept: "audit-planted/<10-digit number>-<Unix ns when moved>".
          "audit-planted/", "dr-audit-1", "audit record", state_dir + "/audit.head",
          state_dir + "/audit.lock", "", "drvault audit --verify"};
}

}  // namespace

Result<std::string> AuditLogUrl(const VaultConfig& config) {
  return NamespaceRepositoryUrl(config.repository, "_audit");
}

std::string VaultSigningKeyPath(const VaultConfig& config) {
  return config.state_dir + "/audit.key";
}

Result<std::unique_ptr<AuditLog>> AuditLog::Open(const VaultConfig& config) {
  ASSIGN_OR_RETURN(std::string url, AuditLogUrl(config));
  RETURN_IF_ERROR(CreateRepositoryDirectory(url));
  ASSIGN_OR_RETURN(auto store, OpenObjectStore(url));
  const std::string key_path = VaultSigningKeyPath(config);
  if (::access(key_path.c_str(), F_OK) != 0) {
    // A new key would call every record so far forged.
    ASSIGN_OR_RETURN(auto records, store->List(kPrefix));
    if (!records.empty()) {
      return Status::NotFound(key_path + " is missing but " + url + " holds " +
                              std::to_string(records.size()) +
                              " audit records: restore the key from the state directory's "
                              "backup (a new key would make them all look forged)");
    }
  }
  ASSIGN_OR_RETURN(SigningKey key, SigningKey::LoadOrCreate(key_path));
  auto log = std::make_unique<AuditLog>(std::move(store), config.state_dir, std::move(key));
  log->set_on_failure([](const LogRecord& e, const Status& st) {
    LogEvent("audit_failed",
             {{"action", e.action}, {"subject", e.subject}, {"error", st.message()}});
  });
  return log;
}

AuditLog::AuditLog(std::unique_ptr<ObjectStore> store, const std::string& state_dir, SigningKey key)
    : SignedLog(std::move(store), AuditLayout(state_dir), std::move(key)) {}

void AuditOrLog(AuditLog* log, const std::string& actor, const std::string& action,
                const std::string& subject, nlohmann::json details) {
  if (!log) return;
  log->Post(NewLogRecord(actor, action, subject, std::move(details)));
}

}  // namespace dr
