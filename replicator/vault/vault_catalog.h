// VaultCatalog: the catalog (catalog/index/) of every namespace a vault
// holds, kept current after each snapshot arrives, and the answers to the
// catalog questions agents with the restore right ask (catalog-query).
//
// One SQLite file per namespace, STATE/catalog/<namespace>.db, synced on
// its own thread after each nudge (a commit, a replicated snapshot, the
// vault's start), so a commit never waits for it. The site is named after
// the vault's config (same-city or off-site). Like any catalog it is derived
// and can be deleted: the next sync rebuilds it.
#pragma once

#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "core/status.h"
#include "replicator/vault/vault_config.h"

namespace dr {

class VaultCatalog {
 public:
  explicit VaultCatalog(VaultConfig config);
  ~VaultCatalog();
  // Snapshots arrived (or left) in `ns`: sync its catalog soon.
  void Nudge(const std::string& ns);
  // Answers `request` (catalog/index/catalog_query.h) from `ns`'s catalog.
  Result<std::string> Answer(const std::string& ns, const std::string& request);

 private:
  void Loop();
  std::string FileOf(const std::string& ns) const;
  const char* Site() const;

  const VaultConfig config_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::string> pending_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace dr
