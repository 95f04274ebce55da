// What `dragent run` runs: the policies applied at its vault for it,
// fetched with `getpolicies` and kept in a local directory, so a vault that
// is down for a while does not stop the schedule.
#pragma once

#include <string>

#include "core/status.h"
#include "replicator/wire/vault_client.h"

namespace dr::cli {

struct PolicySync {
  size_t policies = 0;   // now in `dir`
  bool changed = false;  // a file was written or removed
};

// For the service's own calls (its policies, the snapshot list the RPO is
// measured from): a vault outage fails them in seconds, so the schedule,
// a reload and a stop are never held up for the minutes a backup waits.
VaultClientOptions ServiceCallOptions();

// Fetches the policies from the vault of `vault_url` and makes `dir` hold
// exactly them (NAME.yaml each, written atomically). A policy whose text
// does not parse, or whose name is not the one it was sent under, is an
// error and nothing in `dir` changes.
Result<PolicySync> SyncPoliciesFromVault(const std::string& vault_url, const std::string& dir);

}  // namespace dr::cli
