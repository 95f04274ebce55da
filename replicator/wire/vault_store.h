// VaultStore: a read-only ObjectStore whose objects are those of one
// namespace at a vault, read over a VaultClient session. With it a
// Repository, and so every read command (snapshots, ls, diff, check, restore,
// verify), works through either site's vault exactly as on a local
// repository. Large reads are split into parallel 4 MiB requests; small ones
// (a restore reads one blob at a time, mostly in pack order) are served from
// a cache of 4 MiB windows of the objects, so a restore costs one round trip
// per window instead of one per blob, and the window after the one fetched
// is asked for at once, so it is on its way while this one is decoded.
//
// Writes are refused, but for a drill's record (drills/N), which the vault
// stores only as the next link of the site's drill history: agents add data
// only through the backup protocol.
#pragma once

#include <deque>
#include <future>
#include <list>
#include <map>
#include <memory>
#include <mutex>

#include "catalog/repository.h"
#include "catalog/store/object_store.h"
#include "replicator/wire/vault_client.h"

namespace dr {

class VaultStore : public ObjectStore {
 public:
  explicit VaultStore(std::shared_ptr<VaultClient> client);

  Status Put(const std::string& key, std::string_view data) override;
  Status PutIfAbsent(const std::string& key, std::string_view data) override;
  Result<std::string> Get(const std::string& key) override;
  Result<std::string> GetRange(const std::string& key, uint64_t offset, uint64_t length) override;
  Status ReadRangeInto(const std::string& key, uint64_t offset, uint64_t length,
                       char* out) override;
  Result<std::vector<ObjectInfo>> List(const std::string& prefix) override;
  Status Delete(const std::string& key) override;
  Result<uint64_t> Size(const std::string& key) override;
  std::string Url() const override { return url_; }
  int PreferredConcurrency() const override { return 4; }

 private:
  using Window = std::shared_ptr<const std::string>;
  // The cached window of `key` starting at `start` (fetched once even when
  // several threads ask at the same time).
  Result<Window> GetWindow(const std::string& key, uint64_t start);
  Result<std::string> FetchRange(const std::string& key, uint64_t offset, uint64_t length);
  static std::string WindowName(const std::string& key, uint64_t start);
  // Asks for the window at `start` unless it is cached or on its way.
  void ReadAhead(const std::string& key, uint64_t start);  // REQUIRES(mu_)
  // The answer to an earlier ReadAhead of `name`, if one was asked.
  std::future<Result<wire::Message>> TakeReadAhead(const std::string& name);  // REQUIRES(mu_)

  std::shared_ptr<VaultClient> client_;
  std::string url_;
  std::mutex mu_;
  std::list<std::pair<std::string, Window>> lru_;  // GUARDED_BY(mu_); front = newest
  std::map<std::string, std::shared_future<Result<Window>>> fetching_;  // GUARDED_BY(mu_)
  // Windows asked for ahead of their readers, oldest first.
  std::deque<std::pair<std::string, std::future<Result<wire::Message>>>>
      read_ahead_;  // GUARDED_BY(mu_)
};

// Opens vault://HOST:PORT/NAMESPACE?key=...&server-key=... as a read-only store.
Result<std::unique_ptr<ObjectStore>> OpenVaultStore(const std::string& url);

// Opens the repository at `url`: a store URL, or a vault:// URL read through
// the vault (no session marker: the vault's own session stands for it). A
// key given is used (the escrowed master key, at an off-site vault that
// holds ciphertext only); given none, an encrypted namespace opens with the
// keyring the vault hands its own agents.
Result<std::unique_ptr<Repository>> OpenRepositoryAt(const std::string& url,
                                                     const std::string& session_kind,
                                                     KeySource keys);

}  // namespace dr
