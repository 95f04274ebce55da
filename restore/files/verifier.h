// Verify-only mode: compare a snapshot with a live directory tree (the
// original source, or a restore target) without changing anything, and list
// every difference: missing or extra entries, type, content (whole-file
// digest), size, mode, owner, mtime, extended attributes, link targets.
#pragma once

#include <string>
#include <vector>

#include "catalog/repository.h"
#include "core/progress.h"

namespace dr {

struct Difference {
  std::string path;  // path in the snapshot
  std::string what;  // "missing", "extra", "type", "content", "mode", ...
};

struct VerifyResult {
  uint64_t entries_checked = 0;
  uint64_t files_checked = 0;
  uint64_t bytes_checked = 0;
  std::vector<Difference> differences;
  double seconds = 0;
};

// Snapshot path P is compared with `live_root` + P. `include_paths` limits
// the comparison as in restore.
Result<VerifyResult> VerifyAgainst(Repository& repo, const Snapshot& snapshot,
                                   const std::string& live_root,
                                   const std::vector<std::string>& include_paths,
                                   ProgressCounters* progress);

}  // namespace dr
