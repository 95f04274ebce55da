// The vault's audit log (docs/format/audit-log.md): the administrative
// actions at a vault (enrolments, revocations, policy changes; the forgets
// and prunes the vault makes; the restores and drills agents run through it)
// appended to the vault's store as write-once records "audit/<10-digit
// number>". Each record names the BLAKE2b-256 digest of the one before it
// and carries the vault's Ed25519 signature (STATE/audit.key), so the
// storage operators can neither edit nor forge one. The newest record's
// number and digest are also kept in the state directory (STATE/audit.head):
// a log cut short at the store is caught as well.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "catalog/signed_log.h"
#include "catalog/signing.h"
#include "catalog/store/object_store.h"
#include "core/status.h"
#include "replicator/vault/vault_config.h"

namespace dr {

using AuditEntry = LogRecord;
using AuditReading = LogReading;

// Where a vault keeps its log: the vault repository's `_audit` namespace
// (no namespace name starts with '_', so no agent's repository is there).
Result<std::string> AuditLogUrl(const VaultConfig& config);

// The vault's Ed25519 key, STATE/audit.key: it signs the audit log and every
// namespace's sealed history (history_log.h).
std::string VaultSigningKeyPath(const VaultConfig& config);

class AuditLog : public SignedLog {
 public:
  // The log of the vault `config` describes; makes its signing key on first
  // use. A failure of a posted record is logged as the event `audit_failed`.
  static Result<std::unique_ptr<AuditLog>> Open(const VaultConfig& config);
  // The log in `store`, its head and lock in `state_dir`.
  AuditLog(std::unique_ptr<ObjectStore> store, const std::string& state_dir, SigningKey key);
};

// Posts to `log` (when there is one); a failure is logged as the event
// `audit_failed` (the action itself has happened and stays done).
void AuditOrLog(AuditLog* log, const std::string& actor, const std::string& action,
                const std::string& subject, nlohmann::json details);

}  // namespace dr
