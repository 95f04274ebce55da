// A line diff of two texts, for `drvault policy diff` (policy_store.h): the
// longest common subsequence of their lines, printed in the unified format
// of diff -u, so an admin reads it like any other diff.
//
// Lines are compared with their line ends, so a text whose last line lost
// its newline differs from one that has it, and the output says so as
// diff(1) does ("\ No newline at end of file"). The common head and tail of
// the two texts are matched first; what remains between them is compared in
// full only while that costs at most kMaxDiffCells table cells. A larger
// middle is shown as all of its old lines removed, then all of its new lines
// added: still a correct diff, just not the shortest one.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace dr {

inline constexpr size_t kMaxDiffCells = size_t{4} << 20;

enum class DiffOp { kSame, kRemoved, kAdded };

struct DiffLine {
  DiffOp op = DiffOp::kSame;
  std::string_view text;  // the line as in its text, line end included (if it has one)
};

// The lines of `a` and `b` as a sequence of edits turning `a` into `b`;
// within one change, removals come before additions. The views point into
// `a` and `b`.
std::vector<DiffLine> DiffLines(std::string_view a, std::string_view b);

// "--- A_LABEL\n+++ B_LABEL\n" and hunks of changed lines ("@@ -3,7 +3,8 @@"),
// each change with up to `context` unchanged lines around it; longer runs
// of unchanged lines are left out between hunks. Empty when a == b.
std::string UnifiedDiff(std::string_view a, std::string_view b, const std::string& a_label,
                        const std::string& b_label, size_t context = 3);

}  // namespace dr
