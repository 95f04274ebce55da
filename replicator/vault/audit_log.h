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

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "catalog/signing.h"
#include "catalog/store/object_store.h"
#include "core/status.h"
#include "replicator/vault/vault_config.h"

namespace dr {

struct AuditEntry {
  uint64_t seq = 0;
  int64_t time_ns = 0;
  std::string actor;    // "admin USER" (a drvault command), "vault", or "agent NAME"
  std::string action;   // "enrol", "revoke", "policy-apply", "forget", "restore", ...
  std::string subject;  // what it was done to: an agent, a policy, a snapshot id
  nlohmann::json details = nlohmann::json::object();
  std::string digest;  // hex BLAKE2b-256 of the stored record (filled when read or appended)
};

// Where a vault keeps its log: the vault repository's `_audit` namespace
// (no namespace name starts with '_', so no agent's repository is there).
Result<std::string> AuditLogUrl(const VaultConfig& config);

class AuditLog {
 public:
  // The log of the vault `config` describes; makes its signing key on first
  // use.
  static Result<std::unique_ptr<AuditLog>> Open(const VaultConfig& config);
  AuditLog(std::unique_ptr<ObjectStore> store, std::string state_dir, SigningKey key);

  ~AuditLog();  // appends what was posted first

  // Appends `entry` as the next record (its seq and digest are filled in).
  // Safe from several threads and from several processes on the vault host
  // (a lock file in the state directory orders them).
  Result<AuditEntry> Append(AuditEntry entry);
  // Appends `entry` soon, in posting order, on a thread of its own: for the
  // vault's threads, which must not wait on the store or on a drvault
  // command holding the log's lock. A failure is logged as `audit_failed`.
  void Post(AuditEntry entry);

  struct Reading {
    std::vector<AuditEntry> entries;    // by number; those at or after `since_ns`
    std::vector<std::string> problems;  // empty: every record checks out
  };
  // Reads and checks the whole log: names from 1 without gaps, each
  // record's format, number, predecessor digest and signature by this
  // vault's key, and the head the state directory remembers. An error only
  // when the store cannot be read.
  Result<Reading> Read(int64_t since_ns = 0);

  const std::string& public_key() const { return key_.public_hex(); }

 private:
  std::unique_ptr<ObjectStore> store_;
  std::string state_dir_;
  SigningKey key_;
  std::mutex mu_;  // one Append at a time in this process

  void WriterLoop();
  std::mutex posted_mu_;
  std::condition_variable posted_cv_;
  std::deque<AuditEntry> posted_;  // GUARDED_BY(posted_mu_)
  bool stopping_ = false;          // GUARDED_BY(posted_mu_)
  std::thread writer_;             // started by the first Post
};

// Posts to `log` (when there is one); a failure is logged as the event
// `audit_failed` (the action itself has happened and stays done).
void AuditOrLog(AuditLog* log, const std::string& actor, const std::string& action,
                const std::string& subject, nlohmann::json details);

}  // namespace dr
