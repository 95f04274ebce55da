// Who wrote each snapshot of a namespace, as the vault knows it: the
// identity it stamped, the host the agent claimed, the agent's clock and the
// root tree. The vault consults it so that an agent with only the backup
// right sees, and builds on, nothing but its own snapshots:
//  - it lists and reads only snapshots it wrote (its parent candidates);
//  - it reads only trees reachable from those (see Session::readable_trees);
//  - its commit may name only one of them as parent, may not claim a host
//    another identity backs up, and may not come from a clock far ahead.
// Snapshots without an identity (local backups, or written before vaults
// stamped them) belong to no agent.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

#include "catalog/format/snapshot.h"
#include "core/hash.h"
#include "core/status.h"

namespace dr {

// An agent's clock may run this far ahead of the vault's; a snapshot claiming
// a later start is refused (its time would sort it after every honest one).
inline constexpr int64_t kMaxAgentClockAheadNs = 3600LL * 1000000000LL;

class SnapshotOwners {
 public:
  void Add(const Snapshot& s);
  // The root tree of snapshot `id` if `identity` wrote it.
  std::optional<Id> TreeIfOwnedBy(const Id& id, const std::string& identity) const;
  // A snapshot `identity` already committed from `sent` (the same agent
  // clock and tree): the answer to a commit resent after a lost reply.
  std::optional<Id> FindResend(const Snapshot& sent, const std::string& identity) const;
  // Whether `identity` may commit `sent` (as the agent sent it) at vault
  // time `now_ns`; PermissionDenied or InvalidArgument saying why not.
  Status CheckCommit(const Snapshot& sent, const std::string& identity, int64_t now_ns) const;
  // `sent` as the vault stores it: identity and vault time stamped, the
  // agent's clock kept beside.
  static Snapshot Stamp(Snapshot sent, const std::string& identity, int64_t now_ns);
  size_t size() const { return owners_.size(); }

 private:
  struct Owner {
    std::string identity, host;
    std::optional<int64_t> agent_time_ns;
    Id tree;
  };
  std::unordered_map<Id, Owner, IdHash> owners_;
  std::unordered_map<std::string, std::string> host_identity_;  // first identity per host
};

}  // namespace dr
