// MemStore: an in-memory ObjectStore for tests. Same contract as DirStore,
// except durability ends with the process.
#pragma once

#include <map>
#include <mutex>

#include "catalog/store/object_store.h"

namespace dr {

class MemStore : public ObjectStore {
 public:
  Status Put(const std::string& key, std::string_view data) override;
  Status PutIfAbsent(const std::string& key, std::string_view data) override;
  Result<std::string> Get(const std::string& key) override;
  Result<std::string> GetRange(const std::string& key, uint64_t offset, uint64_t length) override;
  Result<std::vector<ObjectInfo>> List(const std::string& prefix) override;
  Status Delete(const std::string& key) override;
  Result<uint64_t> Size(const std::string& key) override;
  std::string Url() const override { return "mem://"; }

  // Test helper: direct access to an object's bytes (to corrupt it).
  std::string* Mutable(const std::string& key);

 private:
  std::mutex mu_;
  std::map<std::string, std::string> objects_;  // GUARDED_BY(mu_)
};

}  // namespace dr
