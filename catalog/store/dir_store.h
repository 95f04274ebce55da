// DirStore: the embedded default backend, objects as files under a directory.
//
// Put writes a temporary file ".tmp.*" beside the target, fsyncs it, renames it
// into place and fsyncs the directory, so an object is whole or absent after a
// crash and OK means durable. Leftover ".tmp.*" files from a crash are ignored
// by List and removed by RemoveLeftovers() once they are old enough.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "catalog/store/object_store.h"

namespace dr {

class DirStore : public ObjectStore {
 public:
  explicit DirStore(std::string root);

  Status Put(const std::string& key, std::string_view data) override;
  Status PutIfAbsent(const std::string& key, std::string_view data) override;
  Result<std::string> Get(const std::string& key) override;
  Result<std::string> GetRange(const std::string& key, uint64_t offset, uint64_t length) override;
  Status ReadRangeInto(const std::string& key, uint64_t offset, uint64_t length,
                       char* out) override;
  Result<std::vector<ObjectInfo>> List(const std::string& prefix) override;
  ~DirStore() override;
  Status Delete(const std::string& key) override;
  Result<uint64_t> Size(const std::string& key) override;
  std::string Url() const override { return "dir://" + root_; }

  Result<int> RemoveLeftovers(std::chrono::seconds min_age) override;

 private:
  std::string PathOf(const std::string& key) const { return root_ + "/" + key; }
  Status EnsureDir(const std::string& dir);
  Status Write(const std::string& key, std::string_view data, bool exclusive);
  std::string root_;
  // Read-only descriptors of recently read objects (restore reads many
  // blobs from each pack); objects are immutable, Delete evicts.
  // Returns a new descriptor (the caller closes it) duplicated from the cache.
  Result<int> CachedReadFd(const std::string& path);
  std::mutex fds_mu_;
  std::map<std::string, int> read_fds_;  // GUARDED_BY(fds_mu_)
  std::mutex dirs_mu_;
  std::set<std::string> durable_dirs_;  // GUARDED_BY(dirs_mu_): entries fsynced in their parent
};

}  // namespace dr
