#include "policies/retention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace dr {
namespace {

// Unix seconds of a UTC reading, counted naively (independent of the code
// under test). Berlin readings subtract the offset known by hand.
int64_t Utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  auto leap = [](int yy) { return (yy % 4 == 0 && yy % 100 != 0) || yy % 400 == 0; };
  const int kLen[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int64_t days = 0;
  for (int yy = 1970; yy < y; ++yy) days += leap(yy) ? 366 : 365;
  for (int m = 1; m < mo; ++m) days += kLen[m - 1] + (m == 2 && leap(y));
  days += d - 1;
  return days * 86400 + h * 3600 + mi * 60 + s;
}
constexpr int64_t kS = 1000000000;  // ns
constexpr int64_t kH = 3600;

Id IdOf(int n) {
  Id id;
  id.b[0] = static_cast<uint8_t>(n);
  id.b[15] = 0xee;
  return id;
}

RetentionInput Snap(int n, int64_t unix_s, std::vector<std::string> tags = {},
                    std::optional<int64_t> locked_until_s = std::nullopt) {
  RetentionInput in;
  in.id = IdOf(n);
  in.time_ns = unix_s * kS;
  in.tags = std::move(tags);
  if (locked_until_s) in.locked_until_ns = *locked_until_s * kS;
  return in;
}

TimeZone Zone(const std::string& name) {
  auto z = TimeZone::Load(name);
  EXPECT_TRUE(z.ok()) << z.status().ToString();
  return z.ok() ? *z : TimeZone();
}

struct Want {
  int id;
  std::vector<std::string> reasons;  // empty: forgotten
};

struct Case {
  const char* name;
  RetentionRules rules;
  int64_t now_s;
  std::vector<RetentionInput> in;
  std::vector<Want> want;  // every decision, newest first
};

void Check(const Case& c) {
  SCOPED_TRACE(c.name);
  std::vector<RetentionDecision> got = ApplyRetention(c.in, c.rules, c.now_s * kS);
  ASSERT_EQ(got.size(), c.want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].id, IdOf(c.want[i].id)) << "position " << i << ": got id " << +got[i].id.b[0];
    EXPECT_EQ(got[i].reasons, c.want[i].reasons) << "id " << c.want[i].id;
    EXPECT_EQ(got[i].keep, !c.want[i].reasons.empty()) << "id " << c.want[i].id;
    auto in = std::find_if(c.in.begin(), c.in.end(),
                           [&](const RetentionInput& s) { return s.id == got[i].id; });
    ASSERT_NE(in, c.in.end());
    EXPECT_EQ(got[i].time_ns, in->time_ns);
  }
}

RetentionRules Rules(int last, int hourly, int daily, int weekly, int monthly, int yearly,
                     const char* zone = "UTC") {
  RetentionRules r;
  r.last = last;
  r.hourly = hourly;
  r.daily = daily;
  r.weekly = weekly;
  r.monthly = monthly;
  r.yearly = yearly;
  r.zone = Zone(zone);
  return r;
}

TEST(Retention, CountAndCalendarRules) {
  const int64_t now = Utc(2030, 1, 1);
  std::vector<Case> cases;
  cases.push_back({"empty rules keep all",
                   RetentionRules{},
                   now,
                   {Snap(1, 100), Snap(2, 300), Snap(3, 200)},
                   {{2, {"no rules"}}, {3, {"no rules"}}, {1, {"no rules"}}}});
  cases.push_back({"no snapshots", Rules(3, 0, 0, 0, 0, 0), now, {}, {}});
  cases.push_back({"last 2",
                   Rules(2, 0, 0, 0, 0, 0),
                   now,
                   {Snap(1, 100), Snap(2, 200), Snap(3, 300)},
                   {{3, {"last 1", "newest"}}, {2, {"last 2"}}, {1, {}}}});
  cases.push_back({"last -1 keeps all",
                   Rules(-1, 0, 0, 0, 0, 0),
                   now,
                   {Snap(1, 100), Snap(2, 200), Snap(3, 300)},
                   {{3, {"last 1", "newest"}}, {2, {"last 2"}}, {1, {"last 3"}}}});
  cases.push_back({"last beyond the count",
                   Rules(10, 0, 0, 0, 0, 0),
                   now,
                   {Snap(1, 100)},
                   {{1, {"last 1", "newest"}}}});
  // Berlin, spring-forward day: 00:30 CET on Mar 29 is 23:30 UTC on Mar 28.
  // A (00:30 local Mar 29) and B (23:30 local Mar 28) share a UTC day but
  // not a Berlin day; D is 23:30 CEST on Mar 29.
  std::vector<RetentionInput> spring = {
      Snap(1, Utc(2026, 3, 29, 0, 30) - kH),       // A
      Snap(2, Utc(2026, 3, 28, 23, 30) - kH),      // B
      Snap(3, Utc(2026, 3, 28, 12) - kH),          // C
      Snap(4, Utc(2026, 3, 29, 23, 30) - 2 * kH),  // D
  };
  cases.push_back(
      {"daily in Berlin across spring forward",
       Rules(0, 0, 2, 0, 0, 0, "Europe/Berlin"),
       now,
       spring,
       {{4, {"daily 2026-03-29", "newest"}}, {1, {}}, {2, {"daily 2026-03-28"}}, {3, {}}}});
  cases.push_back(
      {"the same in UTC",
       Rules(0, 0, 2, 0, 0, 0),
       now,
       spring,
       {{4, {"daily 2026-03-29", "newest"}}, {1, {"daily 2026-03-28"}}, {2, {}}, {3, {}}}});
  // Fall back: Oct 25 2026 has 25 hours in Berlin.
  cases.push_back(
      {"daily in Berlin across fall back",
       Rules(0, 0, -1, 0, 0, 0, "Europe/Berlin"),
       now,
       {Snap(1, Utc(2026, 10, 25, 0, 30) - 2 * kH), Snap(2, Utc(2026, 10, 25, 23, 30) - kH),
        Snap(3, Utc(2026, 10, 24, 23, 59) - 2 * kH)},
       {{2, {"daily 2026-10-25", "newest"}}, {1, {}}, {3, {"daily 2026-10-24"}}}});
  // The repeated hour 02:00-03:00 is one bucket, met on both sides of the step.
  cases.push_back({"hourly in Berlin across fall back",
                   Rules(0, -1, 0, 0, 0, 0, "Europe/Berlin"),
                   now,
                   {Snap(1, Utc(2026, 10, 25, 0, 10)), Snap(2, Utc(2026, 10, 25, 0, 50)),
                    Snap(3, Utc(2026, 10, 25, 1, 10)), Snap(4, Utc(2026, 10, 25, 2, 5))},
                   {{4, {"hourly 2026-10-25 03h", "newest"}},
                    {3, {"hourly 2026-10-25 02h"}},
                    {2, {}},
                    {1, {}}}});
  cases.push_back(
      {"hourly format",
       Rules(0, 5, 0, 0, 0, 0),
       now,
       {Snap(1, Utc(2026, 11, 29, 14)), Snap(2, Utc(2026, 11, 29, 14, 59, 59)),
        Snap(3, Utc(2026, 11, 29, 13, 59, 59))},
       {{2, {"hourly 2026-11-29 14h", "newest"}}, {1, {}}, {3, {"hourly 2026-11-29 13h"}}}});
  // ISO weeks: 2020-12-31 and 2021-01-03 are 2020-W53; 2026-12-28 and
  // 2027-01-03 are 2026-W53; 2024-12-30 is 2025-W01.
  std::vector<RetentionInput> weeks = {
      Snap(1, Utc(2020, 12, 31, 12)),
      Snap(2, Utc(2021, 1, 3, 12)),
      Snap(3, Utc(2021, 1, 4)),
      Snap(4, Utc(2026, 12, 28)),
      Snap(5, Utc(2027, 1, 3, 23, 59, 59)),
      Snap(6, Utc(2027, 1, 4)),
      Snap(7, Utc(2024, 12, 30)),
      Snap(8, Utc(2024, 12, 29, 23, 59, 59)),
  };
  cases.push_back({"weekly -1 at ISO boundaries",
                   Rules(0, 0, 0, -1, 0, 0),
                   now,
                   weeks,
                   {{6, {"weekly 2027-W01", "newest"}},
                    {5, {"weekly 2026-W53"}},
                    {4, {}},
                    {7, {"weekly 2025-W01"}},
                    {8, {"weekly 2024-W52"}},
                    {3, {"weekly 2021-W01"}},
                    {2, {"weekly 2020-W53"}},
                    {1, {}}}});
  cases.push_back({"weekly 3",
                   Rules(0, 0, 0, 3, 0, 0),
                   now,
                   weeks,
                   {{6, {"weekly 2027-W01", "newest"}},
                    {5, {"weekly 2026-W53"}},
                    {4, {}},
                    {7, {"weekly 2025-W01"}},
                    {8, {}},
                    {3, {}},
                    {2, {}},
                    {1, {}}}});
  cases.push_back(
      {"monthly and yearly around a leap day",
       Rules(0, 0, 0, 0, 3, 2),
       now,
       {Snap(1, Utc(2024, 2, 29, 12)), Snap(2, Utc(2024, 2, 28)), Snap(3, Utc(2024, 3, 1)),
        Snap(4, Utc(2023, 12, 31, 23, 59)), Snap(5, Utc(2024, 1, 1))},
       {{3, {"monthly 2024-03", "yearly 2024", "newest"}},
        {1, {"monthly 2024-02"}},
        {2, {}},
        {5, {"monthly 2024-01"}},
        {4, {"yearly 2023"}}}});
  cases.push_back({"daily on leap days",
                   Rules(0, 0, 3, 0, 0, 0),
                   now,
                   {Snap(1, Utc(2024, 2, 29, 23)), Snap(2, Utc(2024, 2, 29, 1)),
                    Snap(3, Utc(2024, 2, 28, 23, 59, 59)), Snap(4, Utc(2100, 3, 1)),
                    Snap(5, Utc(2100, 2, 28, 23, 59, 59))},
                   {{4, {"daily 2100-03-01", "newest"}},
                    {5, {"daily 2100-02-28"}},
                    {1, {"daily 2024-02-29"}},
                    {2, {}},
                    {3, {}}}});
  cases.push_back({"before 1970",
                   Rules(0, 0, -1, 0, 0, 0),
                   now,
                   {Snap(1, 0), Snap(2, -1), Snap(3, -86401)},
                   {{1, {"daily 1970-01-01", "newest"}},
                    {2, {"daily 1969-12-31"}},
                    {3, {"daily 1969-12-30"}}}});
  cases.push_back(
      {"rules overlap",
       Rules(1, 0, 2, 0, 0, 1),
       now,
       {Snap(1, Utc(2026, 5, 1, 10)), Snap(2, Utc(2026, 5, 1, 9)), Snap(3, Utc(2026, 4, 30, 9))},
       {{1, {"last 1", "daily 2026-05-01", "yearly 2026", "newest"}},
        {2, {}},
        {3, {"daily 2026-04-30"}}}});
  for (const Case& c : cases) Check(c);
}

TEST(Retention, WithinTagsLocksAndTheNewest) {
  const int64_t now = Utc(2026, 4, 11, 12);
  std::vector<Case> cases;
  RetentionRules within;
  within.within_s = 2 * 86400;
  cases.push_back(
      {"within 2d is relative to now, strictly",
       within,
       now,
       {Snap(1, now - 2 * 86400), Snap(2, now - 2 * 86400 + 1), Snap(3, now - kH),
        Snap(4, now + kH)},
       {{4, {"within 2d", "newest"}}, {3, {"within 2d"}}, {2, {"within 2d"}}, {1, {}}}});
  RetentionRules tags;
  tags.tags = {"legal-hold", "monthly", "legal-hold"};
  cases.push_back({"tags in rule order",
                   tags,
                   now,
                   {Snap(1, 100, {"legal-hold"}), Snap(2, 200, {"x", "legal"}),
                    Snap(3, 300, {"monthly", "legal-hold"}), Snap(4, 400)},
                   {{4, {"newest"}},
                    {3, {"tag legal-hold", "tag monthly"}},
                    {2, {}},
                    {1, {"tag legal-hold"}}}});
  RetentionRules nothing;
  nothing.within_s = 3600;
  nothing.tags = {"never-set"};
  cases.push_back({"rules that keep nothing keep the newest",
                   nothing,
                   now,
                   {Snap(1, 100), Snap(2, 200), Snap(3, 300)},
                   {{3, {"newest"}}, {2, {}}, {1, {}}}});
  RetentionRules last1;
  last1.last = 1;
  cases.push_back({"locks",
                   last1,
                   now,
                   {Snap(1, 100, {}, now + 86400), Snap(2, 200, {}, now - 1), Snap(3, 300, {}, now),
                    Snap(4, 400, {}, Utc(2027, 1, 1)), Snap(5, 500)},
                   {{5, {"last 1", "newest"}},
                    {4, {"locked until 2027-01-01T00:00:00Z"}},
                    {3, {}},
                    {2, {}},
                    {1, {"locked until 2026-04-12T12:00:00Z"}}}});
  cases.push_back({"a lock under empty rules",
                   RetentionRules{},
                   now,
                   {Snap(1, 100, {}, now + 1), Snap(2, 200)},
                   {{2, {"no rules"}}, {1, {"no rules", "locked until 2026-04-11T12:00:01Z"}}}});
  for (const Case& c : cases) Check(c);
}

// Equal timestamps: ordered by id whatever the input order, and of those in
// one bucket exactly one (the lowest id) is kept.
TEST(Retention, EqualTimestampsAreDeterministic) {
  const int64_t t = Utc(2026, 6, 1, 12);
  std::vector<RetentionInput> in = {Snap(5, t), Snap(3, t), Snap(9, t), Snap(7, t - 86400)};
  std::sort(in.begin(), in.end(),
            [](const RetentionInput& a, const RetentionInput& b) { return a.id < b.id; });
  int permutations = 0;
  do {
    Check({"daily -1",
           Rules(0, 0, -1, 0, 0, 0),
           t,
           in,
           {{3, {"daily 2026-06-01", "newest"}}, {5, {}}, {9, {}}, {7, {"daily 2026-05-31"}}}});
    Check({"last 2",
           Rules(2, 0, 0, 0, 0, 0),
           t,
           in,
           {{3, {"last 1", "newest"}}, {5, {"last 2"}}, {9, {}}, {7, {}}}});
    ++permutations;
  } while (std::next_permutation(
      in.begin(), in.end(),
      [](const RetentionInput& a, const RetentionInput& b) { return a.id < b.id; }));
  EXPECT_EQ(permutations, 24);
}

TEST(Retention, UnlimitedDailyKeepsOnePerDay) {
  std::vector<RetentionInput> in;
  std::vector<Want> want;
  for (int d = 10; d >= 1; --d) {  // two a day, at 06:00 and 18:00
    in.push_back(Snap(2 * d, Utc(2026, 7, d, 18)));
    in.push_back(Snap(2 * d - 1, Utc(2026, 7, d, 6)));
    char day[32];
    snprintf(day, sizeof day, "daily 2026-07-%02d", d);
    want.push_back({2 * d, {day}});
    want.push_back({2 * d - 1, {}});
  }
  want[0].reasons.push_back("newest");
  Check({"daily -1", Rules(0, 0, -1, 0, 0, 0), Utc(2027, 1, 1), in, want});
}

TEST(Retention, RulesEmptyAndDescribe) {
  RetentionRules r;
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.Describe(), "no rules");
  r.zone = Zone("Europe/Berlin");
  EXPECT_TRUE(r.empty());  // a zone alone keeps nothing
  r.tags = {"legal-hold"};
  EXPECT_FALSE(r.empty());
  r.tags.clear();
  r.within_s = 1;
  EXPECT_FALSE(r.empty());
  r.within_s = 0;
  r.yearly = -1;
  EXPECT_FALSE(r.empty());

  RetentionRules a;
  a.last = 3;
  a.daily = 7;
  a.within_s = 2 * 86400;
  a.tags = {"legal-hold"};
  EXPECT_EQ(a.Describe(), "last 3, daily 7, within 2d, tag legal-hold");
  RetentionRules b = Rules(0, -1, 0, 4, 12, -1);
  b.within_s = 7 * 86400 + 3600;
  b.tags = {"a", "b"};
  EXPECT_EQ(b.Describe(),
            "hourly all, weekly 4, monthly 12, yearly all, within 1w1h, tag a, tag b");
}

}  // namespace
}  // namespace dr
