#include "policies/schedule.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace dr {
namespace {

// Unix seconds of a UTC reading, counted naively (independent of the code
// under test). Expectations in local time subtract the zone's offset, known
// by hand: Berlin +1 (CET) / +2 (CEST), New York -5 / -4, Lord Howe +10:30 / +11.
int64_t UtcTime(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  auto leap = [](int yy) { return (yy % 4 == 0 && yy % 100 != 0) || yy % 400 == 0; };
  const int kLen[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int64_t days = 0;
  for (int yy = 1970; yy < y; ++yy) days += leap(yy) ? 366 : 365;
  for (int m = 1; m < mo; ++m) days += kLen[m - 1] + (m == 2 && leap(y));
  days += d - 1;
  return days * 86400 + h * 3600 + mi * 60 + s;
}
constexpr int64_t kOneHour = 3600;

TimeZone NamedZone(const std::string& name) {
  auto z = TimeZone::Load(name);
  EXPECT_TRUE(z.ok()) << z.status().ToString();
  return z.ok() ? *z : TimeZone();
}

Schedule Cron(const std::string& expr, const std::string& zone = "UTC") {
  Schedule s;
  auto e = ParseCron(expr);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  if (e.ok()) s.cron = *e;
  s.zone = NamedZone(zone);
  return s;
}

std::string Show(std::optional<int64_t> t) { return t ? std::to_string(*t) : "nullopt"; }

TEST(Cron, ParsesFieldsToBits) {
  struct Case {
    const char* text;
    uint64_t minutes;
    uint32_t hours, dom;
    uint16_t months;
    uint8_t dow;
    bool dom_restricted, dow_restricted;
  } cases[] = {
      {"* * * * *", (1ULL << 60) - 1, 0xFFFFFF, 0xFFFFFFFE, 0x1FFE, 0x7F, false, false},
      {"*/15 * * * *", 1ULL | 1ULL << 15 | 1ULL << 30 | 1ULL << 45, 0xFFFFFF, 0xFFFFFFFE, 0x1FFE,
       0x7F, false, false},
      {"5/15 * * * *", 1ULL << 5 | 1ULL << 20 | 1ULL << 35 | 1ULL << 50, 0xFFFFFF, 0xFFFFFFFE,
       0x1FFE, 0x7F, false, false},
      {"0 9-17/2 * * mon-fri", 1, 1 << 9 | 1 << 11 | 1 << 13 | 1 << 15 | 1 << 17, 0xFFFFFFFE,
       0x1FFE, 0x3E, false, true},
      {"5,10-12 0 1,15 jan,JUL *", 1ULL << 5 | 7ULL << 10, 1, 1 << 1 | 1 << 15, 1 << 1 | 1 << 7,
       0x7F, true, false},
      {"0 0 * * 7", 1, 1, 0xFFFFFFFE, 0x1FFE, 0x01, false, true},
      {"0 0 * * 5-7", 1, 1, 0xFFFFFFFE, 0x1FFE, 0x61, false, true},
      {"0 0 * * Sun,sat", 1, 1, 0xFFFFFFFE, 0x1FFE, 0x41, false, true},
      {"0 0 */2 * 1", 1, 1, 0xAAAAAAAA, 0x1FFE, 0x02, false, true},
      {"59 23 31 12 0-6/3", 1ULL << 59, 1 << 23, 1u << 31, 1 << 12, 0x49, true, true},
      {"@hourly", 1, 0xFFFFFF, 0xFFFFFFFE, 0x1FFE, 0x7F, false, false},
      {"@daily", 1, 1, 0xFFFFFFFE, 0x1FFE, 0x7F, false, false},
      {"@midnight", 1, 1, 0xFFFFFFFE, 0x1FFE, 0x7F, false, false},
      {"@weekly", 1, 1, 0xFFFFFFFE, 0x1FFE, 0x01, false, true},
      {"@monthly", 1, 1, 1 << 1, 0x1FFE, 0x7F, true, false},
      {"@yearly", 1, 1, 1 << 1, 1 << 1, 0x7F, true, false},
      {"  0\t0  1 1 *  ", 1, 1, 1 << 1, 1 << 1, 0x7F, true, false},
  };
  for (const Case& c : cases) {
    auto e = ParseCron(c.text);
    ASSERT_TRUE(e.ok()) << c.text << ": " << e.status().ToString();
    EXPECT_EQ(e->minutes, c.minutes) << c.text;
    EXPECT_EQ(e->hours, c.hours) << c.text;
    EXPECT_EQ(e->days_of_month, c.dom) << c.text;
    EXPECT_EQ(e->months, c.months) << c.text;
    EXPECT_EQ(e->days_of_week, c.dow) << c.text;
    EXPECT_EQ(e->dom_restricted, c.dom_restricted) << c.text;
    EXPECT_EQ(e->dow_restricted, c.dow_restricted) << c.text;
  }
  EXPECT_EQ(ParseCron("  0 0 1 1 *  ")->text, "0 0 1 1 *");
}

TEST(Cron, RefusesBadExpressionsNamingFieldAndToken) {
  struct Case {
    const char* text;
    const char* message;  // the whole message
  } cases[] = {
      {"61 * * * *", "cron \"61 * * * *\": minute 61 is out of range 0-59"},
      {"* 24 * * *", "cron \"* 24 * * *\": hour 24 is out of range 0-23"},
      {"* * 0 * *", "cron \"* * 0 * *\": day-of-month 0 is out of range 1-31"},
      {"* * 32 * *", "cron \"* * 32 * *\": day-of-month 32 is out of range 1-31"},
      {"* * * 13 *", "cron \"* * * 13 *\": month 13 is out of range 1-12"},
      {"* * * * 8", "cron \"* * * * 8\": day-of-week 8 is out of range 0-7"},
      {"* * * *",
       "cron \"* * * *\": expected 5 fields (minute hour day-of-month month "
       "day-of-week), got 4"},
      {"0 0 * * * 2026",
       "cron \"0 0 * * * 2026\": expected 5 fields (minute hour day-of-month "
       "month day-of-week), got 6"},
      {"", "cron \"\": expected 5 fields (minute hour day-of-month month day-of-week), got 0"},
      {"x * * * *", "cron \"x * * * *\": minute \"x\" is not a number"},
      {"* * * foo *", "cron \"* * * foo *\": month \"foo\" is not a number or a name"},
      {"* * * * mon-", "cron \"* * * * mon-\": day-of-week \"\" is not a number or a name"},
      {"* * * * monday",
       "cron \"* * * * monday\": day-of-week \"monday\" is not a number or a "
       "name"},
      {"5-1 * * * *", "cron \"5-1 * * * *\": minute range 5-1 is backwards"},
      {"*/0 * * * *", "cron \"*/0 * * * *\": minute step \"0\" is not in 1-60"},
      {"*/61 * * * *", "cron \"*/61 * * * *\": minute step \"61\" is not in 1-60"},
      {"*/ * * * *", "cron \"*/ * * * *\": minute step \"\" is not in 1-60"},
      {"1,,2 * * * *", "cron \"1,,2 * * * *\": minute \"1,,2\" has an empty list item"},
      {"-1 * * * *", "cron \"-1 * * * *\": minute \"\" is not a number"},
      {"99999999 * * * *", "cron \"99999999 * * * *\": minute 99999999 is out of range 0-59"},
      {"@reboot",
       "cron \"@reboot\": unknown macro (use @hourly, @daily, @weekly, @monthly or "
       "@yearly)"},
  };
  for (const Case& c : cases) {
    auto e = ParseCron(c.text);
    ASSERT_FALSE(e.ok()) << c.text;
    EXPECT_EQ(e.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(e.status().message(), c.message);
  }
}

TEST(Cron, NextRunInUtc) {
  struct Case {
    const char* expr;
    int64_t after, want;
  } cases[] = {
      {"*/15 * * * *", UtcTime(2026, 1, 1), UtcTime(2026, 1, 1, 0, 15)},
      {"*/15 * * * *", UtcTime(2026, 1, 1, 0, 7, 30), UtcTime(2026, 1, 1, 0, 15)},
      {"*/15 * * * *", UtcTime(2026, 12, 31, 23, 59), UtcTime(2027, 1, 1)},
      {"0 0 * * *", UtcTime(2026, 12, 31, 12), UtcTime(2027, 1, 1)},
      {"0 0 29 2 *", UtcTime(2024, 3, 1), UtcTime(2028, 2, 29)},
      {"0 0 29 2 *", UtcTime(2096, 3, 1), UtcTime(2104, 2, 29)},  // 2100 is no leap year
      // Both day fields restricted: the 13th OR a Friday (Mon 2026-04-13 first).
      {"0 12 13 * 5", UtcTime(2026, 4, 11), UtcTime(2026, 4, 13, 12)},
      {"0 12 13 * 5", UtcTime(2026, 4, 13, 12), UtcTime(2026, 4, 17, 12)},
      // Day-of-month starts with '*': an odd day AND a Friday (Apr 10 is even).
      {"0 12 */2 * 5", UtcTime(2026, 4, 4), UtcTime(2026, 4, 17, 12)},
      {"0 12 * * 5", UtcTime(2026, 4, 11), UtcTime(2026, 4, 17, 12)},
      {"0 0 * * 7", UtcTime(2026, 4, 11), UtcTime(2026, 4, 12)},
      {"0 0 * * 0", UtcTime(2026, 4, 11), UtcTime(2026, 4, 12)},
      {"0 9-17/2 * * mon-fri", UtcTime(2026, 4, 17, 17), UtcTime(2026, 4, 20, 9)},
      {"0 9-17/2 * * mon-fri", UtcTime(2026, 4, 20, 9), UtcTime(2026, 4, 20, 11)},
      {"@yearly", UtcTime(2026, 6, 1), UtcTime(2027, 1, 1)},
      {"@monthly", UtcTime(2026, 1, 31), UtcTime(2026, 2, 1)},
      {"@weekly", UtcTime(2026, 4, 12), UtcTime(2026, 4, 19)},
      {"@hourly", UtcTime(2026, 4, 12, 23, 0, 1), UtcTime(2026, 4, 13)},
      {"0 0 31 * *", UtcTime(2026, 1, 31), UtcTime(2026, 3, 31)},
      {"30 6 * feb *", UtcTime(2026, 3, 1), UtcTime(2027, 2, 1, 6, 30)},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Show(NextRun(Cron(c.expr), c.after)), Show(c.want)) << c.expr << " after " << c.after;
  }
}

TEST(Cron, ImpossibleExpressionsGiveNullopt) {
  for (const char* expr : {"0 0 31 2 *", "0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 30,31 feb *"}) {
    EXPECT_EQ(Show(NextRun(Cron(expr), UtcTime(2026, 1, 1))), "nullopt") << expr;
    EXPECT_EQ(Show(NextRun(Cron(expr, "Europe/Berlin"), UtcTime(2026, 1, 1))), "nullopt") << expr;
  }
  // Rare but possible: Feb 29 on a Sunday ("*/7" starts with '*', so AND).
  EXPECT_EQ(Show(NextRun(Cron("0 0 29 2 */7"), UtcTime(2033, 1, 1))), Show(UtcTime(2060, 2, 29)));
  // 39 years apart, since 2100 skips its leap day: a 28-year horizon would miss it.
  EXPECT_EQ(Show(NextRun(Cron("0 0 29 2 */7"), UtcTime(2089, 1, 1))), Show(UtcTime(2128, 2, 29)));
}

TEST(Cron, NextRunAcrossDst) {
  struct Case {
    const char* zone;
    const char* expr;
    int64_t after, want;
  } cases[] = {
      // Berlin spring forward (Mar 29 2026): 02:30 does not exist, so the
      // run is at 03:00 CEST, right after the gap; then 02:30 CEST again.
      {"Europe/Berlin", "30 2 * * *", UtcTime(2026, 3, 28, 3) - kOneHour,
       UtcTime(2026, 3, 29, 3) - 2 * kOneHour},
      {"Europe/Berlin", "30 2 * * *", UtcTime(2026, 3, 29, 3) - 2 * kOneHour,
       UtcTime(2026, 3, 30, 2, 30) - 2 * kOneHour},
      // Every quarter hour: 02:00..02:45 all map to 03:00 CEST, once.
      {"Europe/Berlin", "*/15 * * * *", UtcTime(2026, 3, 29, 1, 45) - kOneHour,
       UtcTime(2026, 3, 29, 3) - 2 * kOneHour},
      {"Europe/Berlin", "*/15 * * * *", UtcTime(2026, 3, 29, 3) - 2 * kOneHour,
       UtcTime(2026, 3, 29, 3, 15) - 2 * kOneHour},
      // Fall back (Oct 25 2026): 02:30 happens twice; it runs at the first
      // (CEST) and next on Oct 26, never at the second (CET).
      {"Europe/Berlin", "30 2 * * *", UtcTime(2026, 10, 24, 3) - 2 * kOneHour,
       UtcTime(2026, 10, 25, 2, 30) - 2 * kOneHour},
      {"Europe/Berlin", "30 2 * * *", UtcTime(2026, 10, 25, 2, 30) - 2 * kOneHour,
       UtcTime(2026, 10, 26, 2, 30) - kOneHour},
      {"Europe/Berlin", "0 * * * *", UtcTime(2026, 10, 25, 2) - 2 * kOneHour,
       UtcTime(2026, 10, 25, 3) - kOneHour},
      {"Europe/Berlin", "0 3 * * *", UtcTime(2026, 10, 25, 2) - 2 * kOneHour,
       UtcTime(2026, 10, 25, 3) - kOneHour},
      // After 2037 the footer rule decides.
      {"Europe/Berlin", "30 2 * * *", UtcTime(2100, 3, 27, 12) - kOneHour,
       UtcTime(2100, 3, 28, 3) - 2 * kOneHour},
      {"Europe/Berlin", "30 2 * * *", UtcTime(2100, 10, 30, 12) - 2 * kOneHour,
       UtcTime(2100, 10, 31, 2, 30) - 2 * kOneHour},
      {"America/New_York", "30 2 * * *", UtcTime(2026, 3, 7, 12) + 5 * kOneHour,
       UtcTime(2026, 3, 8, 3) + 4 * kOneHour},
      {"America/New_York", "30 1 * * *", UtcTime(2026, 10, 31, 12) + 4 * kOneHour,
       UtcTime(2026, 11, 1, 1, 30) + 4 * kOneHour},
      {"America/New_York", "30 1 * * *", UtcTime(2026, 11, 1, 1, 30) + 4 * kOneHour,
       UtcTime(2026, 11, 2, 1, 30) + 5 * kOneHour},
      // Lord Howe: a 30-minute gap from 02:00 to 02:30 (+10:30 -> +11).
      {"Australia/Lord_Howe", "15 2 * * *", UtcTime(2026, 10, 3), UtcTime(2026, 10, 3, 15, 30)},
      {"Asia/Kolkata", "0 0 * * *", UtcTime(2026, 1, 1), UtcTime(2026, 1, 1, 18, 30)},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Show(NextRun(Cron(c.expr, c.zone), c.after)), Show(c.want))
        << c.zone << " " << c.expr << " after " << c.after;
  }
}

TEST(Schedule, EveryIsAlignedToTheEpoch) {
  struct Case {
    int64_t every, after, want;
  } cases[] = {
      {900, 0, 900},
      {900, 899, 900},
      {900, 900, 1800},
      {900, -1, 0},
      {900, -900, 0},
      {900, -901, -900},
      {3600, UtcTime(2026, 3, 29, 1, 0, 1), UtcTime(2026, 3, 29, 2)},
      {604800, 1000, 604800},  // Thursday 1970-01-08 00:00 UTC
      {86400, UtcTime(2024, 2, 28, 23, 59, 59), UtcTime(2024, 2, 29)},
  };
  for (const Case& c : cases) {
    Schedule s;
    s.every_s = c.every;
    s.zone = NamedZone("Europe/Berlin");  // alignment is to UTC epoch multiples, not local time
    EXPECT_EQ(Show(NextRun(s, c.after)), Show(c.want)) << c.every << " after " << c.after;
  }
  Schedule unset;
  EXPECT_EQ(Show(NextRun(unset, 0)), "nullopt");
}

TEST(Schedule, StartWindow) {
  struct Case {
    const char* zone;
    const char* expr;  // empty: every_s
    int64_t every;
    StartWindow window;
    int64_t after, want;
  } cases[] = {
      // 22:00-06:00 wraps midnight; the end is exclusive.
      {"UTC", "", 3600, {1320, 360}, UtcTime(2026, 4, 11, 12, 30), UtcTime(2026, 4, 11, 22)},
      {"UTC", "", 3600, {1320, 360}, UtcTime(2026, 4, 11, 22), UtcTime(2026, 4, 11, 23)},
      {"UTC", "", 3600, {1320, 360}, UtcTime(2026, 4, 11, 23), UtcTime(2026, 4, 12)},
      {"UTC", "", 3600, {1320, 360}, UtcTime(2026, 4, 12, 4, 30), UtcTime(2026, 4, 12, 5)},
      {"UTC", "", 3600, {1320, 360}, UtcTime(2026, 4, 12, 5, 30), UtcTime(2026, 4, 12, 22)},
      // 09:00-17:00: after the close, the next day's opening.
      {"UTC",
       "*/30 * * * *",
       0,
       {540, 1020},
       UtcTime(2026, 4, 11, 16, 30),
       UtcTime(2026, 4, 12, 9)},
      {"UTC", "*/30 * * * *", 0, {540, 1020}, UtcTime(2026, 4, 11, 8), UtcTime(2026, 4, 11, 9)},
      {"UTC", "*/30 * * * *", 0, {540, 1020}, UtcTime(2026, 4, 11, 9), UtcTime(2026, 4, 11, 9, 30)},
      // start == end: the whole day.
      {"UTC", "", 3600, {600, 600}, UtcTime(2026, 4, 11, 12, 30), UtcTime(2026, 4, 11, 13)},
      // Berlin, window 23:00-01:00 local: the UTC-aligned hourly run at 01:00
      // local (00:00 UTC) is outside; the next opening is 23:00 local.
      {"Europe/Berlin",
       "",
       3600,
       {1380, 60},
       UtcTime(2026, 1, 10, 23, 30),
       UtcTime(2026, 1, 11, 23) - kOneHour},
      // Spring forward: window 01:00-03:00; the 02:00 run lands at 03:00
      // CEST, outside, so the next opening (01:00 CEST on Mar 30) wins.
      {"Europe/Berlin",
       "0 * * * *",
       0,
       {60, 180},
       UtcTime(2026, 3, 29, 1, 30) - kOneHour,
       UtcTime(2026, 3, 30, 1) - 2 * kOneHour},
  };
  for (const Case& c : cases) {
    Schedule s = *c.expr ? Cron(c.expr, c.zone) : Schedule{};
    if (!*c.expr) {
      s.every_s = c.every;
      s.zone = NamedZone(c.zone);
    }
    s.window = c.window;
    EXPECT_EQ(Show(NextRun(s, c.after)), Show(c.want))
        << c.zone << " " << c.expr << " window " << c.window.start_minute << "-"
        << c.window.end_minute << " after " << c.after;
  }
}

TEST(Schedule, JitterIsStableAndSpread) {
  Schedule s;
  EXPECT_EQ(JitterFor(s, "nightly-db", 1774746000), 0);  // no jitter configured
  // Pinned: FNV-1a 64 + SplitMix64 finalizer, computed independently.
  struct Case {
    const char* key;
    int64_t slot, jitter, want;
  } cases[] = {
      {"nightly-db", 1774746000, 600, 561},
      {"", 0, 3600, 2260},
      {"a", -1, 1, 1},
      {"finance", 1792888200, 86400, 4387},
      {"finance", 1792889100, 86400, 54420},
  };
  for (const Case& c : cases) {
    s.jitter_s = c.jitter;
    EXPECT_EQ(JitterFor(s, c.key, c.slot), c.want) << c.key << " " << c.slot;
  }
  s.jitter_s = 600;
  int64_t lo = 600, hi = 0, sum = 0, same = 0;
  const int kN = 10000;
  for (int i = 0; i < kN; ++i) {
    int64_t slot = UtcTime(2026, 1, 1) + i * 900;
    int64_t j = JitterFor(s, "policy-a", slot);
    ASSERT_GE(j, 0);
    ASSERT_LE(j, 600);
    EXPECT_EQ(j, JitterFor(s, "policy-a", slot));
    lo = std::min(lo, j);
    hi = std::max(hi, j);
    sum += j;
    same += j == JitterFor(s, "policy-b", slot);
  }
  EXPECT_LT(lo, 10);
  EXPECT_GT(hi, 590);
  EXPECT_NEAR(static_cast<double>(sum) / kN, 300.0, 15.0);
  EXPECT_LT(same, kN / 50);  // another policy shifts differently
}

}  // namespace
}  // namespace dr
