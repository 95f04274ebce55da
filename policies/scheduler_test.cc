#include "policies/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "policies/testing/fake_clock.h"
#include "tests/test_util.h"

namespace dr {
namespace {

using testing::FakeClock;

constexpr int64_t kMin = 60, kHour = 3600;
// A multiple of every interval used here, so slots fall on round numbers.
constexpr int64_t kT0 = 1000 * 86400;

Policy MakePolicy(const std::string& name, const std::string& schedule_yaml,
                  const std::string& sources = "{ paths: [/srv/data] }") {
  auto p =
      ParsePolicy("name: " + name + "\nsources: " + sources + "\nschedule: " + schedule_yaml + "\n",
                  name + ".yaml");
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return p.ok() ? *p : Policy{};
}

// Runs the due job now, taking `duration` seconds, with the given outcome.
void RunDue(Scheduler& s, FakeClock& clock, const DueJob& job, int64_t duration, bool ok) {
  s.Started(job);
  clock.Advance(duration);
  ASSERT_TRUE(s.Finished(job, ok).ok());
}

class SchedulerTest : public ::testing::Test {
 protected:
  test::TempDir dir_{"sched"};
  FakeClock clock_{kT0};
};

TEST_F(SchedulerTest, NewJobWaitsForItsSlotUnlessRunNewNow) {
  Scheduler s(&clock_, dir_.path(), "h1");
  ASSERT_TRUE(s.SetPolicies({MakePolicy("a", "{ every: 1m }")}, false).ok());
  int64_t next = 0;
  EXPECT_FALSE(s.NextDue(&next));
  EXPECT_EQ(next, kT0 + kMin);
  clock_.Set(kT0 + kMin);
  auto job = s.NextDue();
  ASSERT_TRUE(job);
  EXPECT_EQ(job->key, "a/files");
  EXPECT_EQ(job->attempt, 1);
  EXPECT_FALSE(job->retry);

  Scheduler fresh(&clock_, "", "h1");
  ASSERT_TRUE(fresh.SetPolicies({MakePolicy("b", "{ every: 1h }")}, true).ok());
  EXPECT_TRUE(fresh.NextDue());
}

TEST_F(SchedulerTest, CatchUpRunsOnceAfterThreeMissedSlots) {
  {
    Scheduler s(&clock_, dir_.path(), "h1");
    ASSERT_TRUE(s.SetPolicies({MakePolicy("a", "{ every: 1h }")}, true).ok());
    auto job = s.NextDue();
    ASSERT_TRUE(job);
    RunDue(s, clock_, *job, 10, true);
  }
  // Down for three slots and a half.
  clock_.Set(kT0 + 3 * kHour + 30 * kMin);
  Scheduler s(&clock_, dir_.path(), "h1");
  ASSERT_TRUE(s.Load().ok());
  ASSERT_TRUE(s.SetPolicies({MakePolicy("a", "{ every: 1h }")}, true).ok());
  std::vector<DueJob> due = s.AllDue();
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].due_s, kT0 + kHour);  // the first missed slot
  RunDue(s, clock_, due[0], 5, true);
  int64_t next = 0;
  EXPECT_TRUE(s.AllDue(&next).empty()) << "catch-up must run once, not once per missed slot";
  EXPECT_EQ(next, kT0 + 4 * kHour);
}

TEST_F(SchedulerTest, LongJobDoesNotOverlapAndMissedSlotsCollapse) {
  Scheduler s(&clock_, dir_.path(), "h1");
  ASSERT_TRUE(s.SetPolicies({MakePolicy("a", "{ every: 1m }")}, false).ok());
  clock_.Set(kT0 + kMin);
  auto job = s.NextDue();
  ASSERT_TRUE(job);
  s.Started(*job);
  // While it runs (3.5 intervals) nothing else of it is handed out by the
  // caller's single loop; afterwards the passed slots make one run.
  clock_.Advance(3 * kMin + 30);
  ASSERT_TRUE(s.Finished(*job, true).ok());
  std::vector<DueJob> due = s.AllDue();
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].due_s, kT0 + 2 * kMin);
  RunDue(s, clock_, due[0], 0, true);
  int64_t next = 0;
  EXPECT_TRUE(s.AllDue(&next).empty());
  EXPECT_EQ(next, kT0 + 5 * kMin);
  EXPECT_EQ(s.states().at("a/files").last_start_s, kT0 + 4 * kMin + 30);
}

TEST_F(SchedulerTest, OneJobAtATimeEarliestFirst) {
  Scheduler s(&clock_, "", "h1");
  ASSERT_TRUE(
      s.SetPolicies({MakePolicy("b", "{ every: 1m }"), MakePolicy("a", "{ every: 1h }")}, false)
          .ok());
  clock_.Set(kT0 + kHour);
  std::vector<DueJob> due = s.AllDue();
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].key, "b/files");  // due since kT0 + 1m
  EXPECT_EQ(due[1].key, "a/files");
  EXPECT_EQ(s.NextDue()->key, "b/files");
}

TEST_F(SchedulerTest, RetryBackOffDoublesAndIsCapped) {
  EXPECT_EQ(RetryDelay(1), 60);
  EXPECT_EQ(RetryDelay(2), 120);
  EXPECT_EQ(RetryDelay(3), 240);
  EXPECT_EQ(RetryDelay(6), 1920);
  EXPECT_EQ(RetryDelay(7), 3600);
  EXPECT_EQ(RetryDelay(100), 3600);

  // Daily, so the next slot is far: the pure back-off sequence shows.
  Scheduler s(&clock_, dir_.path(), "h1");
  ASSERT_TRUE(s.SetPolicies({MakePolicy("a", "{ every: 1d }")}, true).ok());
  const int64_t delays[] = {60, 120, 240, 480, 960, 1920, 3600, 3600};
  auto job = s.NextDue();
  ASSERT_TRUE(job);
  EXPECT_FALSE(job->retry);
  for (int i = 0; i < 8; ++i) {
    RunDue(s, clock_, *job, 0, false);
    const int64_t failed_at = clock_.NowS();
    EXPECT_EQ(s.DueAt("a/files"), failed_at + delays[i]) << "after failure " << i + 1;
    int64_t next = 0;
    EXPECT_FALSE(s.NextDue(&next));
    clock_.Set(next);
    job = s.NextDue();
    ASSERT_TRUE(job);
    EXPECT_TRUE(job->retry);
    EXPECT_EQ(job->attempt, i + 2);
  }
  RunDue(s, clock_, *job, 0, true);
  EXPECT_EQ(s.states().at("a/files").consecutive_failures, 0);
  EXPECT_EQ(s.states().at("a/files").retry_at_s, 0);
  EXPECT_EQ(s.DueAt("a/files"), kT0 + 86400);
}

TEST_F(SchedulerTest, NextSlotWinsOverALaterRetry) {
  Scheduler s(&clock_, dir_.path(), "h1");
  ASSERT_TRUE(s.SetPolicies({MakePolicy("a", "{ every: 1h }")}, false).ok());
  clock_.Set(kT0 + kHour);
  auto job = s.NextDue();
  ASSERT_TRUE(job);
  // Fails 50 s before the next slot: the 1-minute retry would come after it.
  RunDue(s, clock_, *job, kHour - 50, false);
  EXPECT_EQ(s.DueAt("a/files"), kT0 + 2 * kHour);
  clock_.Set(kT0 + 2 * kHour);
  job = s.NextDue();
  ASSERT_TRUE(job);
  EXPECT_FALSE(job->retry);
  EXPECT_EQ(job->attempt, 2);
  RunDue(s, clock_, *job, 10, true);
  EXPECT_EQ(s.DueAt("a/files"), kT0 + 3 * kHour);
}

TEST_F(SchedulerTest, ReloadKeepsDropsAndAddsJobs) {
  Scheduler s(&clock_, dir_.path(), "h1");
  ASSERT_TRUE(
      s.SetPolicies({MakePolicy("a", "{ every: 1h }"), MakePolicy("b", "{ every: 1h }")}, true)
          .ok());
  for (auto& job : s.AllDue()) RunDue(s, clock_, job, 1, true);
  clock_.Set(kT0 + 30 * kMin);
  const JobState a_before = s.states().at("a/files");

  // a's schedule changes, b goes, c comes.
  ASSERT_TRUE(
      s.SetPolicies({MakePolicy("a", "{ every: 10m }"), MakePolicy("c", "{ every: 1h }")}, false)
          .ok());
  EXPECT_EQ(s.states().count("b/files"), 0u);
  ASSERT_EQ(s.states().count("a/files"), 1u);
  EXPECT_EQ(s.states().at("a/files").last_start_s, a_before.last_start_s);
  // a follows its new schedule from its last run: 10m slots passed, so due.
  // c is new: nothing now, its first slot at the next hour.
  std::vector<DueJob> due = s.AllDue();
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].key, "a/files");
  EXPECT_EQ(s.DueAt("c/files"), kT0 + kHour);

  // The state on disk agrees.
  Scheduler again(&clock_, dir_.path(), "h1");
  ASSERT_TRUE(again.Load().ok());
  EXPECT_EQ(again.states().count("b/files"), 0u);
  EXPECT_EQ(again.states().count("c/files"), 1u);
}

TEST_F(SchedulerTest, ImageAndDeviceSourcesAreSeparateJobs) {
  Scheduler s(&clock_, "", "h1");
  ASSERT_TRUE(s.SetPolicies({MakePolicy("vm", "{ every: 1h }",
                                        "{ paths: [/etc], images: [/v/a.img, /v/b.img] }")},
                            true)
                  .ok());
  std::vector<DueJob> due = s.AllDue();
  ASSERT_EQ(due.size(), 3u);
  EXPECT_EQ(due[0].key, "vm/files");
  EXPECT_EQ(due[1].key, "vm/image:/v/a.img");
  EXPECT_EQ(due[2].key, "vm/image:/v/b.img");
}

TEST_F(SchedulerTest, DrillsAreJobsOnTheirOwnScheduleAndNeverStartUnasked) {
  auto p = ParsePolicy(
      "name: db\nsources: { paths: [/srv/db] }\nschedule: { every: 1h }\n"
      "drills:\n  - name: weekly\n    schedule: { every: 7d }\n    checks: [true]\n",
      "db.yaml");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  Scheduler s(&clock_, dir_.path(), "h1");
  // At service start the backup that never ran is due; the drill is not.
  ASSERT_TRUE(s.SetPolicies({*p}, true).ok());
  std::vector<DueJob> due = s.AllDue();
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].key, "db/files");
  EXPECT_FALSE(due[0].drill);
  RunDue(s, clock_, due[0], 5, true);
  const std::optional<int64_t> at = s.DueAt("db/drill:weekly");
  ASSERT_TRUE(at);
  EXPECT_GT(*at, kT0);  // its first slot, not at once
  EXPECT_LE(*at, kT0 + 7 * 86400);
  clock_.Set(*at);
  due = s.AllDue();
  auto drill = std::find_if(due.begin(), due.end(), [](const DueJob& j) { return j.drill; });
  ASSERT_NE(drill, due.end());
  EXPECT_EQ(drill->key, "db/drill:weekly");
  EXPECT_EQ(drill->drill->checks, std::vector<std::string>{"true"});
  // A failed drill is retried with back-off, like a backup.
  RunDue(s, clock_, *drill, 30, false);
  EXPECT_EQ(s.DueAt("db/drill:weekly"), *at + 30 + kFirstRetryDelayS);
}

TEST_F(SchedulerTest, JitterIsInRangeAndStable) {
  const Policy p = MakePolicy("a", "{ every: 1h, jitter: 10m }");
  Scheduler s1(&clock_, "", "h1"), s2(&clock_, "", "h1");
  ASSERT_TRUE(s1.SetPolicies({p}, false).ok());
  ASSERT_TRUE(s2.SetPolicies({p}, false).ok());
  bool some_nonzero = false;
  for (int i = 0; i < 20; ++i) {
    const int64_t slot = kT0 + (i + 1) * kHour;
    auto due = s1.DueAt("a/files");
    ASSERT_TRUE(due);
    EXPECT_GE(*due, slot);
    EXPECT_LE(*due, slot + 10 * kMin);
    EXPECT_EQ(due, s2.DueAt("a/files")) << "same job, same host: same delay";
    some_nonzero = some_nonzero || *due != slot;
    clock_.Set(*due);
    for (Scheduler* s : {&s1, &s2}) {
      auto job = s->NextDue();
      ASSERT_TRUE(job);
      s->Started(*job);
      ASSERT_TRUE(s->Finished(*job, true).ok());
    }
  }
  EXPECT_TRUE(some_nonzero);
}

TEST_F(SchedulerTest, CorruptStateIsAnErrorAndAnEmptyState) {
  test::WriteFile(dir_ / "scheduler.json", "{not json");
  Scheduler s(&clock_, dir_.path(), "h1");
  Status st = s.Load();
  EXPECT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_TRUE(s.states().empty());
}

TEST(SchedulerPolicyDir, OneBadFileDoesNotStopTheOthers) {
  test::TempDir dir("sched-dir");
  test::WriteFile(dir / "a.yaml", "name: a\nsources: { paths: [/srv] }\nschedule: { every: 1h }\n");
  test::WriteFile(dir / "b.yaml", "name: b\nsources: { paths: [/srv] }\nschedule: { evry: 1h }\n");
  test::WriteFile(dir / "c.yaml", "name: a\nsources: { paths: [/x] }\nschedule: { every: 1h }\n");
  test::WriteFile(dir / "notes.txt", "ignored");
  auto load = LoadPolicyDir(dir.path());
  ASSERT_TRUE(load.ok()) << load.status().ToString();
  ASSERT_EQ(load->policies.size(), 1u);
  EXPECT_EQ(load->policies[0].name, "a");
  ASSERT_EQ(load->errors.size(), 2u);
  EXPECT_NE(load->errors[0].find(dir / "b.yaml:3:"), std::string::npos) << load->errors[0];
  EXPECT_NE(load->errors[1].find("already defined"), std::string::npos) << load->errors[1];
  EXPECT_FALSE(LoadPolicyDir(dir / "missing").ok());

  const std::string fp = PolicyDirFingerprint(dir.path());
  EXPECT_EQ(fp, PolicyDirFingerprint(dir.path()));
  test::WriteFile(dir / "notes.txt", "still ignored");
  EXPECT_EQ(fp, PolicyDirFingerprint(dir.path()));
  test::WriteFile(dir / "b.yaml", "name: b\nsources: { paths: [/srv] }\nschedule: { every: 1h }\n");
  EXPECT_NE(fp, PolicyDirFingerprint(dir.path()));
}

}  // namespace
}  // namespace dr
