// A vault's side of each namespace's sealed history (catalog/history.h,
// docs/format/history.md): the log in the namespace's repository, signed
// with the vault's key (STATE/audit.key), its head and lock in
// STATE/history/NS.head and NS.lock.
//
// Sealing a snapshot the vault stores is journaled: what it is about to
// write (id, and the digest of the bytes it encoded or received) goes to
// STATE/history/NS.pending first, the snapshot is written, the seal is
// appended, and the journal removed. A journal left behind (a crash, a
// failed seal) is settled before the next snapshot is written and when the
// namespace is opened: the snapshot is sealed if it is stored with exactly
// those bytes. Nothing else is ever sealed after the fact, so a snapshot
// someone puts into the storage is never vouched for.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "catalog/signed_log.h"
#include "core/status.h"
#include "replicator/vault/vault_config.h"

namespace dr {

class NamespaceHistory {
 public:
  // Namespace `ns`'s history at this vault. The key must exist (the vault
  // makes it when it starts): a history is never begun under a new key.
  static Result<std::unique_ptr<NamespaceHistory>> Open(const VaultConfig& config,
                                                        const std::string& ns);

  // Before storing snapshot `id_hex` as `bytes` on behalf of `actor`: the
  // journal left by an earlier one is settled (an error if it cannot be),
  // then this one journaled.
  Status Begin(const std::string& actor, const std::string& id_hex, const std::string& bytes);
  // After it is stored (or found stored, for a resend): seals what the
  // journal names. Before the sender is answered, so a crash leaves it
  // without an answer.
  Status Settle();

  // Appends "forget" for snapshot `id_hex` (stored as `bytes`) just before
  // it is deleted (after the last retention-lock check).
  Status Forget(const std::string& id_hex, const std::string& bytes, nlohmann::json details);

  SignedLog& log() { return *log_; }

 private:
  NamespaceHistory(std::unique_ptr<SignedLog> log, std::string ns, std::string pending_path)
      : log_(std::move(log)), ns_(std::move(ns)), pending_path_(std::move(pending_path)) {}
  Status Append(const std::string& actor, const char* action, const std::string& id_hex,
                const std::string& digest, nlohmann::json details);

  std::unique_ptr<SignedLog> log_;
  const std::string ns_;
  const std::string pending_path_;
};

}  // namespace dr
