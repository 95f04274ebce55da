// A vault's side of each namespace's sealed history (catalog/history.h,
// docs/format/history.md): the log in the namespace's repository, signed
// with the vault's key (STATE/audit.key), its head and lock in
// STATE/history/NS.head and NS.lock.
#pragma once

#include <memory>
#include <string>

#include "catalog/signed_log.h"
#include "core/status.h"
#include "replicator/vault/vault_config.h"

namespace dr {

// Namespace `ns`'s history log at this vault. The key must exist (the vault
// makes it when it starts): a history is never begun under a new key.
Result<std::unique_ptr<SignedLog>> OpenHistoryLog(const VaultConfig& config, const std::string& ns);

// Appends "accept" for snapshot `id_hex` whose stored bytes are `bytes`,
// `actor` having sent it. Before the vault answers, so a crash leaves the
// sender without an answer, and its resend comes to SealAgain.
Status SealAccepted(SignedLog& log, const std::string& actor, const std::string& id_hex,
                    const std::string& bytes);
// For a resent commit or copy of a stored snapshot: seals it unless the
// history already accepted it.
Status SealAgain(SignedLog& log, const std::string& actor, const std::string& id_hex,
                 const std::string& bytes);
// Appends "forget" for snapshot `id_hex` (stored as `bytes`), before it is
// deleted; details say why.
Status SealForget(SignedLog& log, const std::string& id_hex, const std::string& bytes,
                  nlohmann::json details);

}  // namespace dr
