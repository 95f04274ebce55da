#include "catalog/store/testing/fault_store.h"

namespace dr {

const char* StoreOpName(StoreOp op) {
  switch (op) {
    case StoreOp::kPut:
      return "Put";
    case StoreOp::kPutIfAbsent:
      return "PutIfAbsent";
    case StoreOp::kGet:
      return "Get";
    case StoreOp::kGetRange:
      return "GetRange";
    case StoreOp::kReadRangeInto:
      return "ReadRangeInto";
    case StoreOp::kList:
      return "List";
    case StoreOp::kDelete:
      return "Delete";
    case StoreOp::kSize:
      return "Size";
  }
  return "?";
}

void FaultStore::FailCalls(StoreOp op, int first, int count, Status status, Apply apply) {
  std::lock_guard l(mu_);
  const auto i = static_cast<size_t>(op);
  calls_[i] = 0;
  rules_[i] = Rule{first, first > 0 ? count : 0, std::move(status), apply};
}

void FaultStore::FailPutsFrom(int n, Status status) {
  FailCalls(StoreOp::kPut, n, INT_MAX, std::move(status));
}

void FaultStore::OnlyKeysWithPrefix(std::string prefix) {
  std::lock_guard l(mu_);
  prefix_ = std::move(prefix);
}

int FaultStore::calls(StoreOp op) const {
  std::lock_guard l(mu_);
  return calls_[static_cast<size_t>(op)];
}

FaultStore::Decision FaultStore::Next(StoreOp op, const std::string& key) {
  std::lock_guard l(mu_);
  if (key.rfind(prefix_, 0) != 0) return {};
  const auto i = static_cast<size_t>(op);
  const int n = ++calls_[i];
  const Rule& r = rules_[i];
  // n - first < count, written so that count == INT_MAX cannot overflow.
  if (r.count <= 0 || n < r.first || n - r.first >= r.count) return {};
  return {true, r.apply, r.status};
}

template <typename Fn>
auto FaultStore::Call(StoreOp op, const std::string& key, Fn fn) -> decltype(fn()) {
  Decision d = Next(op, key);
  if (!d.fail) return fn();
  if (d.apply == Apply::kYes) (void)fn();  // done, but the caller never hears of it
  return d.status.WithContext(Url() + "/" + key + " (" + StoreOpName(op) + ", injected)");
}

Status FaultStore::Put(const std::string& key, std::string_view data) {
  return Call(StoreOp::kPut, key, [&] { return base_->Put(key, data); });
}
Status FaultStore::PutIfAbsent(const std::string& key, std::string_view data) {
  return Call(StoreOp::kPutIfAbsent, key, [&] { return base_->PutIfAbsent(key, data); });
}
Result<std::string> FaultStore::Get(const std::string& key) {
  return Call(StoreOp::kGet, key, [&] { return base_->Get(key); });
}
Result<std::string> FaultStore::GetRange(const std::string& key, uint64_t offset, uint64_t length) {
  return Call(StoreOp::kGetRange, key, [&] { return base_->GetRange(key, offset, length); });
}
Status FaultStore::ReadRangeInto(const std::string& key, uint64_t offset, uint64_t length,
                                 char* out) {
  return Call(StoreOp::kReadRangeInto, key,
              [&] { return base_->ReadRangeInto(key, offset, length, out); });
}
Result<std::vector<ObjectInfo>> FaultStore::List(const std::string& prefix) {
  return Call(StoreOp::kList, prefix, [&] { return base_->List(prefix); });
}
Status FaultStore::Delete(const std::string& key) {
  return Call(StoreOp::kDelete, key, [&] { return base_->Delete(key); });
}
Result<uint64_t> FaultStore::Size(const std::string& key) {
  return Call(StoreOp::kSize, key, [&] { return base_->Size(key); });
}

}  // namespace dr
