// The vault's configuration file (YAML), e.g. /etc/drvault/vault.yaml:
//
//   listen: tcp://0.0.0.0:7400          # agents connect here (CurveZMQ)
//   state: /var/lib/drvault             # server key, agent registry, replication cursors
//   repository: rados://backups?conf=/etc/ceph/ceph.conf   # or dir:///srv/vault
//   metrics: tcp://127.0.0.1:9400       # Prometheus text on GET /metrics (optional)
//   credit_mib: 32                      # unacknowledged bytes one agent may have in flight
//   site: same-city                     # or off-site: which retention rules apply here
//   prune_every: 24h                    # prune each namespace this often (off: never)
//   prune_grace: 24h                    # without a key: delete what a run condemned this much
//   later offsite:                            # optional: feed an independent copy
//     endpoint: tcp://dr-offsite:7400
//     server_key: /etc/drvault/offsite-server.pub   # a key file or the Z85 key
//     interval_s: 5
//
// Each namespace (department) is its own repository under `repository`:
// dir://PATH/<ns>, or RADOS namespace <ns> in the pool.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace dr {

struct OffsiteConfig {
  std::string endpoint;
  std::string server_key;  // Z85
  int interval_s = 5;
};

// Which of a policy's retention rule sets this vault applies.
enum class VaultSiteKind { kSameCity, kOffsite };

struct VaultConfig {
  std::string listen;
  std::string state_dir;
  std::string repository;
  std::string metrics;  // empty: no metrics endpoint
  uint64_t credit_bytes = 32ull << 20;
  VaultSiteKind site = VaultSiteKind::kSameCity;
  int64_t prune_every_s = 24 * 3600;  // 0: no scheduled prune (vault_prune.h)
  // A keyless prune (catalog/keyless_prune.h) deletes a pack it condemned at
  // the first run this long after; 0: in the same run.
  int64_t prune_grace_s = 24 * 3600;
  std::optional<OffsiteConfig> offsite;

  std::string server_key_path() const { return state_dir + "/server.key"; }
  std::string registry_path() const { return state_dir + "/agents.json"; }
  // The policies applied here and their history (policy_store.h).
  std::string policies_dir() const { return state_dir + "/policies"; }
  // The key this vault presents to its off-site peer (generated with the server key).
  std::string offsite_client_key_path() const { return state_dir + "/offsite-client.key"; }
};

// Errors name the file and the field: "vault.yaml: listen: missing".
Result<VaultConfig> LoadVaultConfig(const std::string& path);
// The same from the file's text (`name` stands for the file in errors); never
// throws, whatever the text. `public_key_from_arg` resolves offsite.server_key
// (default PublicKeyFromArg, which reads a key file when the value is not a
// key itself; the fuzzer passes one that touches no file).
using PublicKeyResolver = std::function<Result<std::string>(const std::string& arg)>;
Result<VaultConfig> ParseVaultConfig(std::string_view text, const std::string& name,
                                     const PublicKeyResolver& public_key_from_arg = nullptr);
// The repository URL of namespace `ns` under `base` (see above).
Result<std::string> NamespaceRepositoryUrl(const std::string& base, const std::string& ns);

}  // namespace dr
