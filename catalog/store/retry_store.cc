#include "catalog/store/retry_store.h"

#include <thread>

namespace dr {

namespace {
const Status& StatusOf(const Status& s) { return s; }
template <typename T>
const Status& StatusOf(const Result<T>& r) {
  return r.status();
}
}  // namespace

template <typename Fn>
auto RetryStore::Retry(Fn fn) -> decltype(fn()) {
  auto delay = policy_.first_delay;
  for (int attempt = 1;; ++attempt) {
    auto r = fn();
    const Status& s = StatusOf(r);
    if (s.ok() || !s.IsRetryable() || attempt >= policy_.attempts) return r;
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, policy_.max_delay);
  }
}

Status RetryStore::Put(const std::string& key, std::string_view data) {
  return Retry([&] { return base_->Put(key, data); });
}
Status RetryStore::PutIfAbsent(const std::string& key, std::string_view data) {
  bool retried = false;
  Status s = Retry([&] {
    Status attempt = base_->PutIfAbsent(key, data);
    if (attempt.IsRetryable()) retried = true;
    return attempt;
  });
  // An attempt whose reply was lost may have been applied: then the key now
  // holds our bytes, and "already exists" is about our own write.
  if (s.code() == Code::kAlreadyExists && retried) {
    auto have = Retry([&] { return base_->Get(key); });
    if (have.ok() && *have == data) return Status::OK();
  }
  return s;
}
Result<std::string> RetryStore::Get(const std::string& key) {
  return Retry([&] { return base_->Get(key); });
}
Result<std::string> RetryStore::GetRange(const std::string& key, uint64_t offset, uint64_t length) {
  return Retry([&] { return base_->GetRange(key, offset, length); });
}
Status RetryStore::ReadRangeInto(const std::string& key, uint64_t offset, uint64_t length,
                                 char* out) {
  return Retry([&] { return base_->ReadRangeInto(key, offset, length, out); });
}
Result<std::vector<ObjectInfo>> RetryStore::List(const std::string& prefix) {
  return Retry([&] { return base_->List(prefix); });
}
Status RetryStore::Delete(const std::string& key) {
  return Retry([&] { return base_->Delete(key); });
}
Result<uint64_t> RetryStore::Size(const std::string& key) {
  return Retry([&] { return base_->Size(key); });
}

}  // namespace dr
