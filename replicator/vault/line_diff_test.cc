// The line diff behind `drvault policy diff` (line_diff.h): exact unified
// output for the cases an admin meets (one changed line, changes far apart,
// a lost final newline, a text added from nothing), and that the edits are
// a shortest one when the texts are small.
#include "replicator/vault/line_diff.h"

#include <gtest/gtest.h>

namespace dr {
namespace {

// "1\n2\n...N\n", with line `change` (1-based) replaced by `with`.
std::string Numbered(int n, int change = 0, const std::string& with = "") {
  std::string out;
  for (int i = 1; i <= n; i++) out += (i == change ? with : std::to_string(i)) + "\n";
  return out;
}

TEST(LineDiff, IdenticalTextsGiveNothing) {
  EXPECT_EQ(UnifiedDiff("", "", "a", "b"), "");
  EXPECT_EQ(UnifiedDiff(Numbered(10), Numbered(10), "a", "b"), "");
}

TEST(LineDiff, OneChangedLineWithThreeLinesOfContext) {
  EXPECT_EQ(UnifiedDiff(Numbered(10), Numbered(10, 5, "five"), "a", "b"),
            "--- a\n+++ b\n"
            "@@ -2,7 +2,7 @@\n"
            " 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
}

TEST(LineDiff, ChangesFarApartAreSeparateHunks) {
  std::string b = Numbered(20, 2, "two");
  b.replace(b.find("18\n"), 3, "eighteen\n");
  EXPECT_EQ(UnifiedDiff(Numbered(20), b, "a", "b"),
            "--- a\n+++ b\n"
            "@@ -1,5 +1,5 @@\n"
            " 1\n-2\n+two\n 3\n 4\n 5\n"
            "@@ -15,6 +15,6 @@\n"
            " 15\n 16\n 17\n-18\n+eighteen\n 19\n 20\n");
}

TEST(LineDiff, ChangesCloseTogetherShareAHunk) {
  // Six unchanged lines between two changes: both contexts touch, one hunk.
  std::string b = Numbered(12, 2, "two");
  b.replace(b.find("9\n"), 2, "nine\n");
  EXPECT_EQ(UnifiedDiff(Numbered(12), b, "a", "b"),
            "--- a\n+++ b\n"
            "@@ -1,12 +1,12 @@\n"
            " 1\n-2\n+two\n 3\n 4\n 5\n 6\n 7\n 8\n-9\n+nine\n 10\n 11\n 12\n");
}

TEST(LineDiff, AddedAndRemovedLines) {
  EXPECT_EQ(UnifiedDiff("", "x\n", "a", "b"), "--- a\n+++ b\n@@ -0,0 +1,1 @@\n+x\n");
  EXPECT_EQ(UnifiedDiff("x\ny\n", "x\n", "a", "b"), "--- a\n+++ b\n@@ -1,2 +1,1 @@\n x\n-y\n");
}

TEST(LineDiff, LostFinalNewlineIsShown) {
  EXPECT_EQ(UnifiedDiff("x\n", "x", "a", "b"),
            "--- a\n+++ b\n@@ -1,1 +1,1 @@\n-x\n+x\n\\ No newline at end of file\n");
}

TEST(LineDiff, EditsAreShortest) {
  // a b c d e -> a c d x e: one removal, one addition, the rest kept.
  const auto lines = DiffLines("a\nb\nc\nd\ne\n", "a\nc\nd\nx\ne\n");
  std::string ops;
  for (const DiffLine& l : lines)
    ops += l.op == DiffOp::kSame ? ' ' : l.op == DiffOp::kRemoved ? '-' : '+';
  EXPECT_EQ(ops, " -  + ");
}

TEST(LineDiff, LargeMiddleStillGivesACorrectDiff) {
  // Past kMaxDiffCells the middle is shown as removed then added; applying
  // the edits must still turn a into b.
  std::string a, b;
  for (int i = 0; i < 3000; i++) {
    a += "a" + std::to_string(i) + "\n";
    b += "b" + std::to_string(i) + "\n";
  }
  a = "head\n" + a + "tail\n";
  b = "head\n" + b + "tail\n";
  std::string old_side, new_side;
  for (const DiffLine& l : DiffLines(a, b)) {
    if (l.op != DiffOp::kAdded) old_side += l.text;
    if (l.op != DiffOp::kRemoved) new_side += l.text;
  }
  EXPECT_EQ(old_side, a);
  EXPECT_EQ(new_side, b);
}

}  // namespace
}  // namespace dr
