// Snapshots: small objects "snapshots/<id>" naming a root tree and what was
// backed up. A snapshot is written last, only after every pack and index
// segment it depends on is durable (Repository::CommitSnapshot enforces it).
// Byte layout: docs/format/snapshot.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/hash.h"
#include "core/status.h"

namespace dr {

// The longest string a snapshot may hold (any text, path, tag, warning or
// plain string member, in raw bytes), docs/format/snapshot.md.
inline constexpr size_t kMaxSnapshotTextBytes = 64u << 10;

struct SnapshotStats {
  uint64_t files_new = 0, files_changed = 0, files_unchanged = 0;
  uint64_t dirs = 0, others = 0;
  uint64_t bytes_total = 0;  // logical size of all files in the snapshot
  uint64_t bytes_read = 0;   // read from the source during this backup
  uint64_t bytes_added = 0;  // stored (compressed) bytes this backup added
  uint64_t blobs_added = 0;
  uint64_t errors = 0;
  double duration_s = 0;
};

// What a block snapshot (disk image or block device) captured; its map is
// the snapshot's `tree` (catalog/format/block_map.h).
struct BlockInfo {
  std::string source_kind;  // "image" or "device"
  uint32_t block_size = 0;
  uint64_t length = 0;
  uint64_t blocks = 0, zero_blocks = 0;
  uint64_t changed_blocks = 0;   // differ from the parent's map (all, without a parent)
  uint64_t blocks_not_read = 0;  // known unchanged or holes without reading them
  std::string method;            // how changes were found: "extent-compare" or "read-all"
};

struct Snapshot {
  Id id;  // derived from the encoded bytes; not part of them
  // When the snapshot was taken: at a vault, the vault's clock when it
  // accepted the commit; in a local repository, the backup's start.
  int64_t time_ns = 0;
  // Who wrote it: the enrolled agent a vault accepted it from, stamped by the
  // vault (empty for a backup written directly into a repository). `host`
  // and `username` are what the agent says about itself.
  std::string identity;
  // The agent's own clock at the backup's start, kept beside the vault's
  // `time_ns` (absent for local backups, where time_ns is that clock).
  std::optional<int64_t> agent_time_ns;
  std::string host, username;
  std::vector<std::string> paths;  // absolute source paths (raw bytes)
  std::vector<std::string> tags;
  // The policy that took it (policies/policy.h); empty for a backup run by
  // hand. Retention groups snapshots by it.
  std::string policy;
  std::optional<Id> parent;
  Id tree;                         // root tree, or the block map head of a block snapshot
  std::optional<BlockInfo> block;  // set for block snapshots
  // What consistency the capture obtained (hooks, reflink copy, btrfs
  // snapshot, or none), for the operator; empty in older snapshots.
  std::string consistency;
  bool partial = false;               // some sources or files could not be read
  std::vector<std::string> warnings;  // the first few, for the operator
  SnapshotStats stats;
  std::string program_version;

  std::string ShortId() const { return id.Hex().substr(0, 8); }
};

std::string SnapshotKey(const Id& id);
// "forgotten/<32 hex>": left by forget where the snapshot object was, so a
// replicating peer never sends back what this site deliberately forgot.
std::string ForgottenKey(const Id& id);
// Parses "snapshots/<32 hex>" back to the snapshot id; false for other keys.
bool SnapshotIdFromKey(std::string_view key, Id* out);
// Returns the sealed object bytes; the id is the keyed hash of them.
std::string EncodeSnapshot(const Snapshot& s);
Result<Snapshot> DecodeSnapshot(std::string_view object, const std::string& what);

}  // namespace dr
