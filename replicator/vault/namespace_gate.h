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
    Gate& g = GateOf(ns);
    std::unique_lock<std::mutex> closed(g.mu);
    // Counted once closed: a put that passes later sees the new count.
    std::lock_guard l(mu_);
    g.closings++;
    return closed;
  }
  // An owning lock unless a prune has the gate of `ns` closed.
  std::unique_lock<std::mutex> TryPass(const std::string& ns) {
    return std::unique_lock<std::mutex>(GateOf(ns).mu, std::try_to_lock);
  }
  // How often the gate of `ns` was closed: what a passer learnt about the
  // namespace's packs holds while this count stays the same.
  uint64_t Closings(const std::string& ns) {
    Gate& g = GateOf(ns);
    std::lock_guard l(mu_);
    return g.closings;
  }

 private:
  struct Gate {
    std::mutex mu;
    uint64_t closings = 0;  // GUARDED_BY(NamespaceGate::mu_)
  };
  Gate& GateOf(const std::string& ns) {
    std::lock_guard l(mu_);
    auto& g = gates_[ns];
    if (!g) g = std::make_unique<Gate>();
    return *g;
  }

  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Gate>> gates_;  // GUARDED_BY(mu_)
};

}  // namespace dr
