#include "policies/job_log.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/test_util.h"

namespace dr {
namespace {

JobRecord Record(const std::string& policy, int64_t start_s, JobResult result) {
  JobRecord r;
  r.policy = policy;
  r.source = "files";
  r.start_ns = start_s * 1000000000;
  r.end_ns = r.start_ns + 2500000000;
  r.result = result;
  r.attempt = result == JobResult::kFailed ? 2 : 1;
  r.bytes_read = 1000 + start_s;
  r.bytes_new = 10;
  r.snapshot = result == JobResult::kFailed ? "" : "00112233445566778899aabbccddeeff";
  r.error = result == JobResult::kFailed ? "stat /srv: No such file" : "";
  return r;
}

void AppendRaw(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::app | std::ios::binary) << bytes;
}

TEST(JobLog, AppendAndReadBackWithFilters) {
  test::TempDir dir("joblog");
  EXPECT_TRUE(ReadJobLog(dir.path())->records.empty());  // no log yet
  ASSERT_TRUE(AppendJobRecord(dir.path(), Record("a", 100, JobResult::kOk)).ok());
  ASSERT_TRUE(AppendJobRecord(dir.path(), Record("b", 200, JobResult::kFailed)).ok());
  ASSERT_TRUE(AppendJobRecord(dir.path(), Record("a", 300, JobResult::kPartial)).ok());
  ASSERT_TRUE(AppendJobRecord(dir.path(), Record("a", 400, JobResult::kOk)).ok());

  auto all = ReadJobLog(dir.path());
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->records.size(), 4u);
  EXPECT_TRUE(all->warnings.empty());
  const JobRecord& b = all->records[1];
  EXPECT_EQ(b.policy, "b");
  EXPECT_EQ(b.result, JobResult::kFailed);
  EXPECT_EQ(b.attempt, 2);
  EXPECT_EQ(b.error, "stat /srv: No such file");
  EXPECT_EQ(b.start_ns, 200 * 1000000000LL);
  EXPECT_EQ(b.end_ns, b.start_ns + 2500000000);
  EXPECT_EQ(all->records[2].result, JobResult::kPartial);
  EXPECT_EQ(all->records[3].bytes_read, 1400u);
  EXPECT_EQ(all->records[3].snapshot, "00112233445566778899aabbccddeeff");

  auto newest_a = ReadJobLog(dir.path(), {"a", 2});
  ASSERT_TRUE(newest_a.ok());
  ASSERT_EQ(newest_a->records.size(), 2u);
  EXPECT_EQ(newest_a->records[0].start_ns, 300 * 1000000000LL);  // oldest of the newest two
  EXPECT_EQ(newest_a->records[1].start_ns, 400 * 1000000000LL);
}

TEST(JobLog, TornLastLineIsSkippedWithAWarning) {
  test::TempDir dir("joblog");
  ASSERT_TRUE(AppendJobRecord(dir.path(), Record("a", 100, JobResult::kOk)).ok());
  ASSERT_TRUE(AppendJobRecord(dir.path(), Record("a", 200, JobResult::kOk)).ok());
  // A crash in the middle of the third append.
  const std::string third = EncodeJobRecord(Record("a", 300, JobResult::kOk));
  AppendRaw(dir / "jobs.jsonl", third.substr(0, third.size() / 2));

  auto log = ReadJobLog(dir.path());
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ(log->records.size(), 2u);
  ASSERT_EQ(log->warnings.size(), 1u);
  EXPECT_NE(log->warnings[0].find("jobs.jsonl:3"), std::string::npos) << log->warnings[0];

  // The next append starts a fresh line: the torn one stays alone, skipped.
  ASSERT_TRUE(AppendJobRecord(dir.path(), Record("a", 400, JobResult::kOk)).ok());
  log = ReadJobLog(dir.path());
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->records.size(), 3u);
  EXPECT_EQ(log->records[2].start_ns, 400 * 1000000000LL);
  EXPECT_EQ(log->warnings.size(), 1u);
}

TEST(JobLog, GarbageLinesAndUnknownResultsAreSkipped) {
  test::TempDir dir("joblog");
  AppendRaw(dir / "jobs.jsonl", "not json\n[1,2]\n\n");
  JobRecord r = Record("a", 1, JobResult::kOk);
  std::string line = EncodeJobRecord(r);
  const std::string weird = std::string(line).replace(line.find("\"ok\""), 4, "\"meh\"");
  AppendRaw(dir / "jobs.jsonl", weird + "\n" + line);  // the last one whole but unterminated
  auto log = ReadJobLog(dir.path());
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(log->records.size(), 1u);  // a whole record that only lost its newline counts
  EXPECT_EQ(log->warnings.size(), 3u);
  EXPECT_FALSE(DecodeJobRecord(weird).ok());
  auto back = DecodeJobRecord(line);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(EncodeJobRecord(*back), line);
}

}  // namespace
}  // namespace dr
