#include "catalog/store/testing/fault_store.h"

namespace dr {

void FaultStore::FailPutsFrom(int n, Status status) {
  puts_seen_ = 0;
  fail_from_ = n;
  fail_status_ = std::move(status);
}

Status FaultStore::Put(const std::string& key, std::string_view data) {
  if (key.rfind(prefix_, 0) == 0) {
    int n = ++puts_seen_;
    if (fail_from_ > 0 && n >= fail_from_) return fail_status_.WithContext(Url() + "/" + key);
  }
  return base_->Put(key, data);
}

}  // namespace dr
