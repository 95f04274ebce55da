// File-level backup: walks source trees, stores what changed, commits a
// snapshot.
//
// Pipeline: the calling thread walks (openat/fstatat), reads, chunks and
// hashes, and hands every chunk to a BackupTarget, which stores those it
// lacks (compressed by one worker per core) in a local repository or sends
// them to a vault. The snapshot is committed only after everything it
// references is durable.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "catalog/format/snapshot.h"
#include "catalog/repository.h"
#include "core/progress.h"
#include "core/status.h"
#include "replicator/capture/backup_target.h"

namespace dr {

struct BackupOptions {
  std::vector<std::string> paths;     // made absolute by the caller or here
  std::vector<std::string> excludes;  // glob; without '/', matches any name
  bool one_file_system = false;
  std::vector<std::string> tags;
  std::string policy;                 // recorded in the snapshot (policies/policy.h)
  std::string host;                   // default: this machine's host name
  std::optional<std::string> parent;  // default: latest of same host and paths
  bool force_reread = false;          // ignore the parent's metadata
  int threads = 0;                    // compression workers; 0 = one per core
  // Read the files from read-only btrfs snapshots of the subvolumes holding
  // the paths (taken at the start, deleted at the end), not the live tree.
  bool btrfs_snapshot = false;
  // Shell commands run before the capture (before the btrfs snapshots) and
  // after it (right after the snapshots, or after reading the live tree).
  std::string pre_hook, post_hook;
  ProgressCounters* progress = nullptr;
};

struct BackupResult {
  Snapshot snapshot;
  std::vector<std::string> warnings;  // unreadable paths and files, files changed while read
};

// Errors that abort the backup (no snapshot is written): repository write
// failures, no source path existing at all. Problems with single paths or
// files become warnings and mark the snapshot partial.
Result<BackupResult> RunBackup(BackupTarget& target, const BackupOptions& options);
// The same into a local repository.
Result<BackupResult> RunBackup(Repository& repo, const BackupOptions& options);

// This machine's host name: the default --host.
std::string LocalHostName();

// What every backup run records the same way: start time, host, user,
// program version, the first 100 warnings, and `stats` completed with what
// `target` stored and how long the run took (since `started`). The caller
// adds what it backed up (paths, tree, parent, ...).
Snapshot NewSnapshot(int64_t start_ns, std::chrono::steady_clock::time_point started,
                     const std::string& host, const std::vector<std::string>& warnings,
                     SnapshotStats stats, const BackupTarget& target);

// Whether `path` (absolute, display form) with final component `name` is
// excluded by `patterns`.
bool IsExcluded(const std::vector<std::string>& patterns, const std::string& path,
                const std::string& name);

}  // namespace dr
