// NamespaceGate: keeps a keyless prune of a namespace (catalog/keyless_prune.h)
// and the replicating peer's puts into that namespace apart, within the
// vault that does both. The prune closes the gate for its run; a put finds
// it closed and is refused as transient (the peer tries again next cycle),
// so the vault's loop never waits on a prune.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace dr {

class NamespaceGate {
 public:
  // Blocks until a put in progress into `ns` is done; the gate stays
  // closed while the lock is held.
  std::unique_lock<std::mutex> Close(const std::string& ns) {
    return std::unique_lock<std::mutex>(MutexOf(ns));
  }
  // An owning lock unless a prune has the gate of `ns` closed.
  std::unique_lock<std::mutex> TryPass(const std::string& ns) {
    return std::unique_lock<std::mutex>(MutexOf(ns), std::try_to_lock);
  }

 private:
  std::mutex& MutexOf(const std::string& ns) {
    std::lock_guard l(mu_);
    auto& m = gates_[ns];
    if (!m) m = std::make_unique<std::mutex>();
    return *m;
  }

  std::mutex mu_;
  std::map<std::string, std::unique_ptr<std::mutex>> gates_;  // GUARDED_BY(mu_)
};

}  // namespace dr
