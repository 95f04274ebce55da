#include "policies/rpo.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "tests/test_util.h"

namespace dr {
namespace {

constexpr int64_t kSecond = 1000000000;
constexpr int64_t kNow = 1000 * 86400;  // a multiple of an hour and a day

TEST(Rpo, EvaluateTable) {
  // Hourly slots: the last at kNow - 30m (so kNow - 30m is `slot`), grace 6 min.
  const ExpectedSlot hourly{kNow - 1800, kNow - 1800, 3600};
  struct Case {
    const char* what;
    std::optional<int64_t> newest_s;
    int64_t rpo_s;
    std::optional<ExpectedSlot> expected;
    int64_t now_s;
    RpoState state;
    int64_t age_s;
  } cases[] = {
      {"no snapshot", std::nullopt, 7200, hourly, kNow, RpoState::kNever, -1},
      {"no snapshot, no objective", std::nullopt, 0, hourly, kNow, RpoState::kNever, -1},
      {"fresh, slot kept", kNow - 1700, 7200, hourly, kNow, RpoState::kOk, 1700},
      {"snapshot exactly at the slot", kNow - 1800, 7200, hourly, kNow, RpoState::kOk, 1800},
      {"slot missed, within objective", kNow - 4000, 7200, hourly, kNow, RpoState::kLate, 4000},
      {"slot missed but still in grace", kNow - 4000, 7200, hourly, kNow - 1800 + 360,
       RpoState::kOk, 4000 - 1800 + 360},
      {"slot missed, grace just over", kNow - 4000, 7200, hourly, kNow - 1800 + 361,
       RpoState::kLate, 4000 - 1800 + 361},
      {"age equals objective", kNow - 7200, 7200, hourly, kNow, RpoState::kLate, 7200},
      {"age over objective", kNow - 7201, 7200, hourly, kNow, RpoState::kBreached, 7201},
      {"over objective though the slot was kept", kNow - 1000, 600, hourly, kNow,
       RpoState::kBreached, 1000},
      {"no objective: late, never breached", kNow - 90000, 0, hourly, kNow, RpoState::kLate, 90000},
      {"no schedule information", kNow - 4000, 7200, std::nullopt, kNow, RpoState::kOk, 4000},
      {"jitter delays the due time", kNow - 4000, 7200, ExpectedSlot{kNow - 1800, kNow - 60, 3600},
       kNow, RpoState::kOk, 4000},
      {"snapshot from the future", kNow + 30, 7200, hourly, kNow, RpoState::kOk, 0},
  };
  for (const Case& c : cases) {
    std::optional<int64_t> newest_ns;
    if (c.newest_s) newest_ns = *c.newest_s * kSecond;
    const RpoStatus st = EvaluateRpo(newest_ns, c.rpo_s, c.expected, c.now_s);
    EXPECT_EQ(RpoStateName(st.state), std::string(RpoStateName(c.state))) << c.what;
    EXPECT_EQ(st.age_s, c.age_s) << c.what;
  }
}

TEST(Rpo, LastExpectedSlot) {
  Schedule every;
  every.every_s = 3600;
  auto e = LastExpectedSlot(every, "a/files@h", kNow + 1800);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->slot_s, kNow);
  EXPECT_EQ(e->due_s, kNow);
  EXPECT_EQ(e->interval_s, 3600);
  e = LastExpectedSlot(every, "a/files@h", kNow);  // a slot exactly now counts
  ASSERT_TRUE(e);
  EXPECT_EQ(e->slot_s, kNow);

  Schedule yearly;
  auto cron = ParseCron("0 0 1 1 *");
  ASSERT_TRUE(cron.ok());
  yearly.cron = *cron;
  // 1972-03-01: the last slot is 1972-01-01, the one before 1971-01-01.
  const int64_t jan72 = (365 + 365) * 86400LL, mar72 = jan72 + (31 + 29) * 86400LL;
  e = LastExpectedSlot(yearly, "k", mar72);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->slot_s, jan72);
  EXPECT_EQ(e->interval_s, 365 * 86400);

  Schedule jittered = every;
  jittered.jitter_s = 600;
  e = LastExpectedSlot(jittered, "a/files@h", kNow + 1800);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->due_s, kNow + JitterFor(jittered, "a/files@h", kNow));

  Schedule never;
  auto feb31 = ParseCron("0 0 31 2 *");
  ASSERT_TRUE(feb31.ok());
  never.cron = *feb31;
  EXPECT_FALSE(LastExpectedSlot(never, "k", kNow));
}

TEST(RpoAlert, FiresOncePerBreachAndSurvivesRestart) {
  test::TempDir dir("rpo-alert");
  const std::string marker = dir / "alerts.log";
  const std::string command =
      "echo \"$DR_EVENT $DR_POLICY $DR_SOURCE $DR_SITE $DR_RPO_STATE $DR_RPO_AGE_S\" >> " + marker;
  auto info = [](RpoState s, int64_t age) {
    AlertInfo i;
    i.policy = "fin";
    i.source = "files";
    i.rpo = {s, age};
    return i;
  };
  auto lines = [&] {
    const std::string text = std::filesystem::exists(marker) ? test::ReadFile(marker) : "";
    return std::count(text.begin(), text.end(), '\n');
  };
  {
    AlertTracker t(dir.path());
    ASSERT_TRUE(t.Load().ok());
    bool fired = true;
    ASSERT_TRUE(t.Update("fin/files", command, info(RpoState::kOk, 10), &fired).ok());
    EXPECT_FALSE(fired);
    ASSERT_TRUE(t.Update("fin/files", command, info(RpoState::kBreached, 7300), &fired).ok());
    EXPECT_TRUE(fired);
    EXPECT_EQ(test::ReadFile(marker), "rpo-breach fin files same-city breached 7300\n");
    ASSERT_TRUE(t.Update("fin/files", command, info(RpoState::kBreached, 7400), &fired).ok());
    EXPECT_FALSE(fired);
    ASSERT_TRUE(t.Update("fin/files", command, info(RpoState::kLate, 100), &fired).ok());
    ASSERT_TRUE(t.Update("fin/files", command, info(RpoState::kBreached, 7500), &fired).ok());
    EXPECT_FALSE(fired) << "late is not ok: the same breach";
  }
  EXPECT_EQ(lines(), 1);
  {
    AlertTracker t(dir.path());  // a restart
    ASSERT_TRUE(t.Load().ok());
    EXPECT_TRUE(t.Alerted("fin/files"));
    bool fired = true;
    ASSERT_TRUE(t.Update("fin/files", command, info(RpoState::kBreached, 7600), &fired).ok());
    EXPECT_FALSE(fired);
    ASSERT_TRUE(t.Update("fin/files", command, info(RpoState::kOk, 5), &fired).ok());
    ASSERT_TRUE(t.Update("fin/files", command, info(RpoState::kBreached, 7201), &fired).ok());
    EXPECT_TRUE(fired);
    ASSERT_TRUE(t.Retain({}).ok());
    EXPECT_FALSE(t.Alerted("fin/files"));
  }
  EXPECT_EQ(lines(), 2);
}

TEST(RpoAlert, FailingOrHangingCommandIsReported) {
  AlertInfo i;
  EXPECT_FALSE(RunAlertCommand("exit 3", i).ok());
  Status s = RunAlertCommand("sleep 30", i, /*timeout_s=*/1);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("killed"), std::string::npos) << s.ToString();
  EXPECT_TRUE(
      RunAlertCommand("test \"$DR_RPO_AGE_S\" = \"\" && test \"$DR_RPO_STATE\" = never", i).ok());
}

}  // namespace
}  // namespace dr
