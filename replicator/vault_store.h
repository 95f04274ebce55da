// VaultStore: a read-only ObjectStore whose objects are those of one
// namespace at a vault, read over a VaultClient session. With it a
// Repository, and so every read command (snapshots, ls, diff, check, restore,
// verify), works through either site's vault exactly as on a local
// repository. Large reads are split into parallel 4 MiB requests.
//
// Writes are refused: agents add data only through the backup protocol.
#pragma once

#include <memory>

#include "catalog/object_store.h"
#include "replicator/vault_client.h"

namespace dr {

class VaultStore : public ObjectStore {
 public:
  explicit VaultStore(std::shared_ptr<VaultClient> client);

  Status Put(const std::string& key, std::string_view data) override;
  Status PutIfAbsent(const std::string& key, std::string_view data) override;
  Result<std::string> Get(const std::string& key) override;
  Result<std::string> GetRange(const std::string& key, uint64_t offset, uint64_t length) override;
  Result<std::vector<ObjectInfo>> List(const std::string& prefix) override;
  Status Delete(const std::string& key) override;
  Result<uint64_t> Size(const std::string& key) override;
  std::string Url() const override { return url_; }
  int PreferredConcurrency() const override { return 8; }

 private:
  std::shared_ptr<VaultClient> client_;
  std::string url_;
};

// Opens vault://HOST:PORT/NAMESPACE?key=...&server-key=... as a read-only store.
Result<std::unique_ptr<ObjectStore>> OpenVaultStore(const std::string& url);

}  // namespace dr
