// Restore a snapshot (all of it, or chosen paths) into a target directory.
//
// Every file's content is checked chunk by chunk against the chunk ids and as
// a whole against its digest; metadata (owner, mode incl. setuid/setgid/
// sticky, xattrs/ACLs, ns mtimes), holes and hard links are recreated.
// Restoring onto an existing target only rewrites what differs: a file whose
// existing bytes already hash to the snapshot's chunk ids is not rewritten.
// A damaged chunk fails only the files that use it; the rest is restored.
// Another local user writing in the target meanwhile cannot redirect any of
// it outside the target (see restore/files/README.md, Invariants), and what
// is restored is fsynced before RestoreSnapshot returns.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "catalog/repository.h"
#include "core/progress.h"

namespace dr {

// Points in a restore where a hostile user with write access to the target
// could race it; RestoreOptions::test_hook is called at each, so tests can
// stage the race deterministically instead of by timing.
enum class RestoreStep {
  kBeforeCreate,    // the entry at `path` is created (or linked) next
  kBeforeMetadata,  // `path` exists (a directory: with its entries); metadata comes next
  kSynced,          // `path` was fsynced; "" is the target's parent directory, last of all
};

struct RestoreOptions {
  std::string target;
  std::vector<std::string> include_paths;  // absolute paths in the snapshot; empty = all
  int threads = 0;                         // parallel file writers; 0 = automatic
  // For a target that follows a source from sync to sync (drctl migrate):
  // the tree of the snapshot last restored into it. An entry equal to the
  // base's (content and metadata), whose size and mtime in the target still
  // say so, is left alone without being read; a file that changed is updated
  // in place, rewriting only the chunks that differ.
  std::optional<Id> base_tree;
  // Removes what the snapshot does not have from every directory it restores
  // at or below one of the snapshot's paths (never above them), so the
  // target mirrors the source, as rsync --delete does.
  bool mirror = false;
  ProgressCounters* progress = nullptr;
  // Tests only. Called with the entry's path in the snapshot, from the walker
  // and from the writer threads (so it must be thread-safe).
  std::function<void(RestoreStep, const std::string& path)> test_hook;
};

struct RestoreResult {
  uint64_t files = 0, dirs = 0, others = 0, hardlinks = 0;
  uint64_t bytes_total = 0;         // logical bytes of restored files
  uint64_t bytes_written = 0;       // bytes actually written
  uint64_t bytes_kept = 0;          // bytes already correct in the target
  uint64_t files_verified = 0;      // whole-file digest matched
  uint64_t files_unchanged = 0;     // left alone: equal to the base (RestoreOptions::base_tree)
  uint64_t entries_removed = 0;     // not in the snapshot (RestoreOptions::mirror)
  std::vector<std::string> errors;  // one line per path that could not be restored exactly
  double seconds = 0;
  // Thread-busy seconds, summed over the writers: reading and checking
  // chunks from the repository, and writing them to the target. A drill
  // splits the restore's wall time in this proportion.
  double fetch_busy_s = 0, write_busy_s = 0;
};

// Fails (without touching the target) when the target cannot be created or
// opened or an include path is not in the snapshot; per-path problems land in
// RestoreResult::errors.
Result<RestoreResult> RestoreSnapshot(Repository& repo, const Snapshot& snapshot,
                                      const RestoreOptions& options);

}  // namespace dr
