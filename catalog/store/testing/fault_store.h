// FaultStore: wraps another ObjectStore and injects failures, for tests only.
// Example: fail every Put from the 5th on with NoSpace to simulate a full disk;
// fail the first 2 Gets with Unavailable to simulate a timeout; report the
// first PutIfAbsent as Unavailable after it was applied (a lost reply).
#pragma once

#include <array>
#include <atomic>
#include <climits>
#include <functional>
#include <memory>
#include <mutex>

#include "catalog/store/object_store.h"

namespace dr {

// The operations a FaultStore can fail, each with its own call counter.
enum class StoreOp { kPut, kPutIfAbsent, kGet, kGetRange, kReadRangeInto, kList, kDelete, kSize };
inline constexpr int kStoreOpCount = 8;
const char* StoreOpName(StoreOp op);

class FaultStore : public ObjectStore {
 public:
  explicit FaultStore(ObjectStore* base) : base_(base) {}

  // Whether a failing call reaches the base store first.
  enum class Apply {
    kNo,   // nothing happens (the request never arrived)
    kYes,  // the base store carries it out, then the caller gets the error
           // instead of its result (the reply was lost, e.g. a timeout after
           // the OSD applied the write)
  };
  // Calls of `op` numbered first .. first+count-1 (1-based, counting from
  // now: the counter of `op` restarts at 0) fail with `status`. Replaces any
  // earlier rule for `op`. count 0 removes the rule.
  void FailCalls(StoreOp op, int first, int count, Status status, Apply apply = Apply::kNo);
  // Puts numbered >= n (1-based, counting from now) fail with `status`;
  // nothing is written for them. Same as FailCalls(kPut, n, INT_MAX, status).
  void FailPutsFrom(int n, Status status);
  // Only calls whose key (for List: prefix) starts with `prefix` count and
  // fail (default: all).
  void OnlyKeysWithPrefix(std::string prefix);
  // Calls of `op` counted since the last FailCalls for it (or since creation).
  int calls(StoreOp op) const;
  int puts_seen() const { return calls(StoreOp::kPut); }

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

 private:
  struct Rule {
    int first = 0;
    int count = 0;  // 0 = no rule
    Status status;
    Apply apply = Apply::kNo;
  };
  struct Decision {
    bool fail = false;
    Apply apply = Apply::kNo;
    Status status;
  };
  // Counts this call and says whether it fails.
  Decision Next(StoreOp op, const std::string& key);
  // Runs `fn` (the call on the base store) unless the call fails; see Apply.
  template <typename Fn>
  auto Call(StoreOp op, const std::string& key, Fn fn) -> decltype(fn());

  ObjectStore* base_;
  mutable std::mutex mu_;
  std::string prefix_;                      // GUARDED_BY(mu_)
  std::array<Rule, kStoreOpCount> rules_;   // GUARDED_BY(mu_)
  std::array<int, kStoreOpCount> calls_{};  // GUARDED_BY(mu_)
};

}  // namespace dr
