// FaultStore: wraps another ObjectStore and injects failures, for tests only.
// Example: fail every Put from the 5th on with NoSpace to simulate a full disk.
#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include "catalog/store/object_store.h"

namespace dr {

class FaultStore : public ObjectStore {
 public:
  explicit FaultStore(ObjectStore* base) : base_(base) {}

  // Puts numbered >= n (1-based, counting from now) fail with `status`;
  // nothing is written for them.
  void FailPutsFrom(int n, Status status);
  // Only Puts whose key starts with `prefix` count and fail (default: all).
  void OnlyKeysWithPrefix(std::string prefix) { prefix_ = std::move(prefix); }
  int puts_seen() const { return puts_seen_.load(); }

  Status Put(const std::string& key, std::string_view data) override;
  Status PutIfAbsent(const std::string& key, std::string_view data) override {
    return base_->PutIfAbsent(key, data);
  }
  Result<std::string> Get(const std::string& key) override { return base_->Get(key); }
  Result<std::string> GetRange(const std::string& key, uint64_t offset, uint64_t length) override {
    return base_->GetRange(key, offset, length);
  }
  Status ReadRangeInto(const std::string& key, uint64_t offset, uint64_t length,
                       char* out) override {
    return base_->ReadRangeInto(key, offset, length, out);
  }
  Result<std::vector<ObjectInfo>> List(const std::string& prefix) override {
    return base_->List(prefix);
  }
  Status Delete(const std::string& key) override { return base_->Delete(key); }
  Result<uint64_t> Size(const std::string& key) override { return base_->Size(key); }
  std::string Url() const override { return base_->Url(); }
  Result<int> RemoveLeftovers(std::chrono::seconds min_age) override {
    return base_->RemoveLeftovers(min_age);
  }

 private:
  ObjectStore* base_;
  std::string prefix_;
  std::atomic<int> puts_seen_{0};
  int fail_from_ = 0;  // 0 = never
  Status fail_status_;
};

}  // namespace dr
