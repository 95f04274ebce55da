// RetryStore: a decorator that retries operations failing with a retryable
// (Unavailable) status, with exponential back-off, and gives up after a
// bounded total wait with the last error. Permanent errors pass through at once.
#pragma once

#include <chrono>
#include <memory>

#include "catalog/store/object_store.h"

namespace dr {

struct RetryPolicy {
  int attempts = 6;
  std::chrono::milliseconds first_delay{200};
  std::chrono::milliseconds max_delay{5000};
};

class RetryStore : public ObjectStore {
 public:
  RetryStore(std::unique_ptr<ObjectStore> base, RetryPolicy policy = {})
      : base_(std::move(base)), policy_(policy) {}

  Status Put(const std::string& key, std::string_view data) override;
  Status PutIfAbsent(const std::string& key, std::string_view data) override;
  Result<std::string> Get(const std::string& key) override;
  Result<std::string> GetRange(const std::string& key, uint64_t offset, uint64_t length) override;
  Status ReadRangeInto(const std::string& key, uint64_t offset, uint64_t length,
                       char* out) override;
  Result<std::vector<ObjectInfo>> List(const std::string& prefix) override;
  Status Delete(const std::string& key) override;
  Result<uint64_t> Size(const std::string& key) override;
  std::string Url() const override { return base_->Url(); }
  Result<int> RemoveLeftovers(std::chrono::seconds min_age) override {
    return base_->RemoveLeftovers(min_age);
  }
  int PreferredConcurrency() const override { return base_->PreferredConcurrency(); }
  uint64_t MaxObjectBytes() const override { return base_->MaxObjectBytes(); }

 private:
  template <typename Fn>
  auto Retry(Fn fn) -> decltype(fn());
  std::unique_ptr<ObjectStore> base_;
  RetryPolicy policy_;
};

}  // namespace dr
