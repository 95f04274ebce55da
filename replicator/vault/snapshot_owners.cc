#include "replicator/vault/snapshot_owners.h"

#include "core/timefmt.h"

namespace dr {

void SnapshotOwners::Add(const Snapshot& s) {
  owners_[s.id] = Owner{s.identity, s.host, s.agent_time_ns, s.tree};
  if (!s.identity.empty()) host_identity_.emplace(s.host, s.identity);
}

std::optional<Id> SnapshotOwners::TreeIfOwnedBy(const Id& id, const std::string& identity) const {
  auto it = owners_.find(id);
  if (it == owners_.end() || identity.empty() || it->second.identity != identity)
    return std::nullopt;
  return it->second.tree;
}

std::optional<Id> SnapshotOwners::FindResend(const Snapshot& sent,
                                             const std::string& identity) const {
  for (const auto& [id, o] : owners_)
    if (o.identity == identity && o.agent_time_ns == sent.time_ns && o.tree == sent.tree &&
        o.host == sent.host)
      return id;
  return std::nullopt;
}

Status SnapshotOwners::CheckCommit(const Snapshot& sent, const std::string& identity,
                                   int64_t now_ns) const {
  if (sent.time_ns > now_ns + kMaxAgentClockAheadNs) {
    return Status::InvalidArgument("the snapshot's time " + FormatRfc3339Utc(sent.time_ns) +
                                   " is more than an hour ahead of this vault's clock (" +
                                   FormatRfc3339Utc(now_ns) + "); fix the agent's clock");
  }
  if (sent.parent && !TreeIfOwnedBy(*sent.parent, identity)) {
    return Status::PermissionDenied("parent snapshot " + sent.parent->Hex() +
                                    " was not written by agent '" + identity + "'");
  }
  auto host = host_identity_.find(sent.host);
  if (host != host_identity_.end() && host->second != identity) {
    return Status::PermissionDenied("host '" + sent.host + "' is backed up by agent '" +
                                    host->second + "'; agent '" + identity +
                                    "' may not commit snapshots for it");
  }
  return Status::OK();
}

Snapshot SnapshotOwners::Stamp(Snapshot sent, const std::string& identity, int64_t now_ns) {
  sent.agent_time_ns = sent.time_ns;
  sent.time_ns = now_ns;
  sent.identity = identity;
  return sent;
}

}  // namespace dr
