#include "catalog/change_record.h"

#include <gtest/gtest.h>

namespace dr {
namespace {

ChangeSignals Churn(uint64_t files, uint64_t changed, uint64_t renamed, uint64_t deleted) {
  ChangeSignals s;
  s.files_before = files;
  s.changed = changed;
  s.rewritten = changed;
  s.weighed = changed;
  s.became_incompressible = changed / 4;  // appends of random bytes
  s.renamed = renamed;
  s.deleted = deleted;
  return s;
}

ChangeSignals Encrypted(uint64_t files, uint64_t encrypted) {
  ChangeSignals s = Churn(files, 10, 0, 0);
  s.renamed = encrypted;
  s.rewritten += encrypted;
  s.weighed += encrypted * 9 / 10;  // some were incompressible already
  s.became_incompressible += encrypted * 9 / 10;
  return s;
}

TEST(JudgeChange, OrdinaryChurnIsNotFlaggedWithOrWithoutHistory) {
  EXPECT_FALSE(JudgeChange(Churn(5000, 50, 8, 5), {}).suspicious);
  EXPECT_FALSE(JudgeChange(Churn(5000, 50, 8, 5), {Churn(5000, 40, 6, 9)}).suspicious);
  // Nothing at all before (an empty base) cannot divide by zero.
  EXPECT_FALSE(JudgeChange(ChangeSignals{}, {}).suspicious);
  // A small tree: every file rewritten is still fewer than min_files.
  ChangeSignals tiny = Encrypted(12, 12);
  EXPECT_FALSE(JudgeChange(tiny, {}).suspicious);
}

TEST(JudgeChange, EncryptionRenamesAndDeletionsAreEachNamed) {
  ChangeVerdict v = JudgeChange(Encrypted(5000, 1000), {Churn(5000, 50, 8, 5)});
  ASSERT_TRUE(v.suspicious);
  ASSERT_EQ(v.reasons.size(), 2u);
  EXPECT_NE(v.reasons[0].find("1010 of 5000 files (20.2 %) rewritten"), std::string::npos)
      << v.reasons[0];
  EXPECT_NE(v.reasons[0].find("that compressed no longer do (encrypted?)"), std::string::npos);
  EXPECT_NE(v.reasons[1].find("1000 of 5000 files (20.0 %) renamed to another extension"),
            std::string::npos)
      << v.reasons[1];
  EXPECT_NE(v.reasons[1].find("highest before: 0.2 %"), std::string::npos) << v.reasons[1];

  // Encrypted in place, names kept: the content signal alone.
  ChangeSignals in_place = Encrypted(5000, 1000);
  in_place.renamed = 0;
  v = JudgeChange(in_place, {});
  ASSERT_TRUE(v.suspicious);
  EXPECT_EQ(v.reasons.size(), 1u);

  v = JudgeChange(Churn(5000, 20, 0, 2000), {Churn(5000, 20, 0, 30)});
  ASSERT_TRUE(v.suspicious);
  EXPECT_NE(v.reasons[0].find("2000 of 5000 files (40.0 %) deleted"), std::string::npos)
      << v.reasons[0];
}

TEST(JudgeChange, SnapshotsJustUnderTheFloorsCannotRaiseTheBarForGood) {
  // A ramp: ten snapshots each encrypting 4.9 % (over the 2 % floor, but
  // judged against a baseline capped at that floor).
  ChangeSignals ramp = Encrypted(5000, 272);  // 4.9 % became incompressible
  ramp.renamed = 0;
  const std::vector<ChangeSignals> history(10, ramp);
  ChangeSignals next = Encrypted(5000, 600);  // 10.8 %: under 3 x 4.9 %
  next.renamed = 0;
  EXPECT_TRUE(JudgeChange(next, history).suspicious);
  // Deletions just under their floor likewise.
  const std::vector<ChangeSignals> deleting(10, Churn(4000, 0, 0, 990));
  EXPECT_TRUE(JudgeChange(Churn(4000, 0, 0, 3100), deleting).suspicious);
}

TEST(JudgeChange, APartialSnapshotsDeletionsAreNotJudged) {
  // Files that could not be read look deleted; encryption is still judged.
  EXPECT_FALSE(JudgeChange(Churn(5000, 20, 0, 2000), {}, /*partial=*/true).suspicious);
  ChangeSignals both = Encrypted(5000, 1000);
  both.deleted = 2000;
  EXPECT_TRUE(JudgeChange(both, {}, /*partial=*/true).suspicious);
}

TEST(JudgeChange, RewritesThatStillCompressAreNotEncryption) {
  // Half the files rewritten (a reformat, a bulk edit), still compressible.
  ChangeSignals edit = Churn(5000, 2500, 0, 0);
  edit.became_incompressible = 100;
  EXPECT_FALSE(JudgeChange(edit, {}).suspicious);
}

TEST(JudgeChange, AGroupThatAlwaysChurnsMuchSetsItsOwnBaseline) {
  // A spool directory: a third of its files go every run.
  const std::vector<ChangeSignals> history = {Churn(3000, 10, 0, 1000), Churn(3000, 10, 0, 900)};
  EXPECT_FALSE(JudgeChange(Churn(3000, 10, 0, 1100), history).suspicious);
  // Everything gone is still more than three times its usual.
  ChangeSignals wiped = Churn(3000, 0, 0, 3000);
  const std::vector<ChangeSignals> calm = {Churn(3000, 10, 0, 100)};
  EXPECT_TRUE(JudgeChange(wiped, calm).suspicious);
}

TEST(ChangeRecord, RoundTripsAndRefusesDamage) {
  ChangeRecord r;
  r.snapshot.b.fill(1);
  r.base = Id();
  r.base->b.fill(2);
  r.signals = Encrypted(5000, 1000);
  r.signals.files_after = 4990;
  r.verdict = JudgeChange(r.signals, {});
  r.locked = r.base;
  r.locked_until_ns = 123456789;
  r.measured_ns = 42;
  auto back = DecodeChangeRecord(EncodeChangeRecord(r), "record");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->snapshot, r.snapshot);
  EXPECT_EQ(back->base, r.base);
  EXPECT_EQ(back->locked, r.locked);
  EXPECT_EQ(back->locked_until_ns, r.locked_until_ns);
  EXPECT_EQ(back->signals.became_incompressible, r.signals.became_incompressible);
  EXPECT_EQ(back->signals.files_after, 4990u);
  EXPECT_EQ(back->verdict.suspicious, true);
  EXPECT_EQ(back->verdict.reasons, r.verdict.reasons);

  ChangeRecord first;
  first.snapshot.b.fill(3);
  back = DecodeChangeRecord(EncodeChangeRecord(first), "record");
  ASSERT_TRUE(back.ok());
  EXPECT_FALSE(back->base.has_value());

  std::string bad = EncodeChangeRecord(r);
  bad.replace(bad.find("\"deleted\": 0"), 12, "\"deleted\": -1");
  auto refused = DecodeChangeRecord(bad, "change-signals/x");
  EXPECT_EQ(refused.status().code(), Code::kCorruption);
  EXPECT_NE(refused.status().message().find("change-signals/x"), std::string::npos);
  // Times beyond int64, or not integers (a fuzzer's find: the conversion
  // was undefined).
  for (const char* time : {"81764547200000000000", "9223372036854775808", "1.5", "\"1\""}) {
    std::string wrong = EncodeChangeRecord(r);
    wrong.replace(wrong.find("\"measured_ns\": 42"), 17, "\"measured_ns\": " + std::string(time));
    EXPECT_EQ(DecodeChangeRecord(wrong, "r").status().code(), Code::kCorruption) << wrong;
  }
  for (const char* junk : {"", "[]", "{\"format\": 7}", "{\"format\": \"dr-change-signals-1\"}"})
    EXPECT_EQ(DecodeChangeRecord(junk, "r").status().code(), Code::kCorruption) << junk;
}

}  // namespace
}  // namespace dr
