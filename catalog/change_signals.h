// Change signals: how a file snapshot differs from the one before it in its
// group, measured where the snapshot is stored (a vault, or drctl on its own
// repository), never taken from the agent: ransomware on the production host
// controls the agent. Ransomware leaves a mark no ordinary week of work does:
// many files rewritten at once whose content went from compressible to
// incompressible (encrypted), often renamed to a new extension, or many
// files deleted. JudgeChange weighs a snapshot's signals against floors and
// against the group's own recent history, so a share of churn that is normal
// for one policy is not an alarm and a jump for it is.
//
// Each measured snapshot gets a record (change_record.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/repository.h"
#include "core/hash.h"
#include "core/status.h"

namespace dr {

struct ChangeSignals {
  uint64_t files_before = 0;  // regular files in the base snapshot
  uint64_t files_after = 0;   // regular files in the measured snapshot
  uint64_t changed = 0;       // same path, other content
  uint64_t added = 0;         // new paths that are not a rename
  uint64_t deleted = 0;       // gone paths that are not a rename
  // Gone, and in the same directory a file of the same name under another
  // extension ("a.docx" -> "a.docx.locked" or "a.enc").
  uint64_t renamed = 0;
  uint64_t rewritten = 0;  // changed, plus renamed with other content
  // Rewritten files whose old content compressed (stored below 90 % of its
  // size, at least kMinWeighedBytes), and of those, the ones whose new
  // content does not (stored at 98 % or more: zstd found nothing to take).
  uint64_t weighed = 0;
  uint64_t became_incompressible = 0;
};

// Files smaller than this are not weighed: a few hundred bytes compress
// poorly whatever they hold.
inline constexpr uint64_t kMinWeighedBytes = 512;

// Diffs the file trees `base` and `tree` in `repo`, skipping subtrees whose
// ids are equal. `files_before` is the base's file count when known (the
// base's own record), otherwise the base is walked once to count it.
Result<ChangeSignals> MeasureChange(Repository& repo, const Id& base, const Id& tree,
                                    std::optional<uint64_t> files_before);

// The regular files in the file tree `tree`.
Result<uint64_t> CountFiles(Repository& repo, const Id& tree);

struct ChangeThresholds {
  uint64_t min_files = 20;  // fewer files than this never flag
  // Encryption: files that went from compressible to incompressible, at
  // least this share of the files, among rewrites of at least
  // `rewritten_share` of the files, at least `incompressible_share` of the
  // rewrites weighed.
  double incompressible_floor = 0.02;
  double rewritten_share = 0.05;
  double incompressible_share = 0.5;
  double renamed_share = 0.05;  // of files_before
  double deleted_share = 0.25;  // of files_before
  // A signal flags only above this many times its highest share in the
  // group's recent unflagged history (a policy whose data churns a lot sets
  // its own baseline), a baseline counted at most up to the signal's floor:
  // a run of snapshots just under a floor cannot raise the bar further.
  double history_factor = 3.0;
};

struct ChangeVerdict {
  bool suspicious = false;
  std::vector<std::string> reasons;  // one sentence per signal over its threshold
};

// `history`: the signals of the group's recent snapshots that were not
// flagged (any order). In a `partial` snapshot files that could not be read
// look deleted: its deletions are not judged. Pure.
ChangeVerdict JudgeChange(const ChangeSignals& now, const std::vector<ChangeSignals>& history,
                          bool partial = false, const ChangeThresholds& thresholds = {});

}  // namespace dr
