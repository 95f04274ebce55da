#include "policies/time_zone.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "tests/test_util.h"

namespace dr {
namespace {

// Expected values below come from the calendar and the tz database's
// published transitions (cross-checked with zdump/GNU date when written),
// never from this code.

TimeZone ZoneByName(const std::string& name) {
  auto z = TimeZone::Load(name);
  EXPECT_TRUE(z.ok()) << z.status().ToString();
  return z.ok() ? *z : TimeZone();
}

CivilTime Civil(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  return {y, mo, d, h, mi, s};
}

std::string Show(const CivilTime& c) {
  char buf[64];
  snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d", c.year, c.month, c.day, c.hour,
           c.minute, c.second);
  return buf;
}

TEST(TimeZone, DefaultIsUtcAndNeedsNoFile) {
  TimeZone utc;
  EXPECT_EQ(utc.name(), "UTC");
  LocalTime t = utc.ToLocal(0);
  EXPECT_EQ(t.civil, Civil(1970, 1, 1));
  EXPECT_EQ(t.weekday, 4);
  EXPECT_EQ(t.iso_year, 1970);
  EXPECT_EQ(t.iso_week, 1);
  EXPECT_EQ(t.utc_offset_s, 0);
  EXPECT_EQ(t.abbreviation, "UTC");
  EXPECT_EQ(ZoneByName("Europe/Berlin").name(), "Europe/Berlin");
  for (const char* name : {"UTC", "Etc/UTC"}) {
    auto z = TimeZone::LoadFrom("/nonexistent-zoneinfo", name);
    ASSERT_TRUE(z.ok()) << name << ": " << z.status().ToString();
    EXPECT_EQ(z->name(), name);
    EXPECT_EQ(z->ToLocal(1709208000).civil, Civil(2024, 2, 29, 12));
    EXPECT_EQ(z->FromLocal(Civil(2024, 2, 29, 12)), std::vector<int64_t>{1709208000});
  }
}

TEST(TimeZone, RefusesPathsAndUnknownZones) {
  struct Case {
    const char* name;
    Code code;
  } cases[] = {
      {"", Code::kInvalidArgument},
      {"../../etc/passwd", Code::kInvalidArgument},
      {"Europe/../Europe/Berlin", Code::kInvalidArgument},
      {"/etc/localtime", Code::kInvalidArgument},
      {"/usr/share/zoneinfo/Europe/Berlin", Code::kInvalidArgument},
      {"Europe/Berlin\n", Code::kInvalidArgument},
      {"Europe/Nowhere", Code::kInvalidArgument},
      {"Europe", Code::kInvalidArgument},  // a directory
  };
  for (const Case& c : cases) {
    auto z = TimeZone::Load(c.name);
    ASSERT_FALSE(z.ok()) << c.name;
    EXPECT_EQ(z.status().code(), c.code) << c.name << ": " << z.status().ToString();
    EXPECT_NE(z.status().message().find(std::string("\"") + c.name + "\""), std::string::npos)
        << z.status().message();
  }
}

TEST(TimeZone, ToLocalAroundTransitions) {
  struct Case {
    const char* zone;
    int64_t unix_s;
    CivilTime civil;
    int32_t offset;
    const char* abbr;
  } cases[] = {
      // Berlin 2026: spring forward 01:00 UTC Mar 29, fall back 01:00 UTC Oct 25.
      {"Europe/Berlin", 1774746000 - 1, Civil(2026, 3, 29, 1, 59, 59), 3600, "CET"},
      {"Europe/Berlin", 1774746000, Civil(2026, 3, 29, 3, 0, 0), 7200, "CEST"},
      {"Europe/Berlin", 1792890000 - 1, Civil(2026, 10, 25, 2, 59, 59), 7200, "CEST"},
      {"Europe/Berlin", 1792890000, Civil(2026, 10, 25, 2, 0, 0), 3600, "CET"},
      // After 2037 only the footer rule "CET-1CEST,M3.5.0,M10.5.0/3" knows.
      {"Europe/Berlin", 2147483648, Civil(2038, 1, 19, 4, 14, 8), 3600, "CET"},
      {"Europe/Berlin", 4109878800 - 1, Civil(2100, 3, 28, 1, 59, 59), 3600, "CET"},
      {"Europe/Berlin", 4109878800, Civil(2100, 3, 28, 3, 0, 0), 7200, "CEST"},
      {"Europe/Berlin", 4128627600 - 1, Civil(2100, 10, 31, 2, 59, 59), 7200, "CEST"},
      {"Europe/Berlin", 4128627600, Civil(2100, 10, 31, 2, 0, 0), 3600, "CET"},
      {"Europe/Berlin", 16740907200, Civil(2500, 7, 1, 14, 0, 0), 7200, "CEST"},
      // Before the first transition: local mean time (type 0).
      {"Europe/Berlin", -5000000000, Civil(1811, 7, 23, 16, 0, 8), 3208, "LMT"},
      // New York 2026: 07:00 UTC Mar 8, 06:00 UTC Nov 1.
      {"America/New_York", 1772953200 - 1, Civil(2026, 3, 8, 1, 59, 59), -18000, "EST"},
      {"America/New_York", 1772953200, Civil(2026, 3, 8, 3, 0, 0), -14400, "EDT"},
      {"America/New_York", 1793512800 - 1, Civil(2026, 11, 1, 1, 59, 59), -14400, "EDT"},
      {"America/New_York", 1793512800, Civil(2026, 11, 1, 1, 0, 0), -18000, "EST"},
      // Lord Howe: half-hour DST, southern hemisphere (DST across New Year).
      {"Australia/Lord_Howe", 1775314800 - 1, Civil(2026, 4, 5, 1, 59, 59), 39600, "+11"},
      {"Australia/Lord_Howe", 1775314800, Civil(2026, 4, 5, 1, 30, 0), 37800, "+1030"},
      {"Australia/Lord_Howe", 1791041400 - 1, Civil(2026, 10, 4, 1, 59, 59), 37800, "+1030"},
      {"Australia/Lord_Howe", 1791041400, Civil(2026, 10, 4, 2, 30, 0), 39600, "+11"},
      {"Australia/Lord_Howe", 2532524400 - 1, Civil(2050, 4, 3, 1, 59, 59), 39600, "+11"},
      {"Australia/Lord_Howe", 2532524400, Civil(2050, 4, 3, 1, 30, 0), 37800, "+1030"},
      {"Australia/Lord_Howe", 2548251000, Civil(2050, 10, 2, 2, 30, 0), 39600, "+11"},
      {"Australia/Lord_Howe", 2524608000, Civil(2050, 1, 1, 11, 0, 0), 39600, "+11"},
      // Kolkata: +5:30 all year, footer "IST-5:30" without DST.
      {"Asia/Kolkata", 0, Civil(1970, 1, 1, 5, 30, 0), 19800, "IST"},
      {"Asia/Kolkata", 1709208000, Civil(2024, 2, 29, 17, 30, 0), 19800, "IST"},
      {"Asia/Kolkata", 4109878800, Civil(2100, 3, 28, 6, 30, 0), 19800, "IST"},
  };
  for (const Case& c : cases) {
    LocalTime t = ZoneByName(c.zone).ToLocal(c.unix_s);
    SCOPED_TRACE(std::string(c.zone) + " @" + std::to_string(c.unix_s));
    EXPECT_EQ(Show(t.civil), Show(c.civil));
    EXPECT_EQ(t.utc_offset_s, c.offset);
    EXPECT_EQ(t.abbreviation, c.abbr);
  }
}

TEST(TimeZone, FromLocalGapsAndFolds) {
  using V = std::vector<int64_t>;
  struct Case {
    const char* zone;
    CivilTime civil;
    V want;
  } cases[] = {
      {"Europe/Berlin", Civil(2026, 3, 29, 1, 59, 59), V{1774745999}},
      {"Europe/Berlin", Civil(2026, 3, 29, 2, 0, 0), V{}},
      {"Europe/Berlin", Civil(2026, 3, 29, 2, 30, 0), V{}},
      {"Europe/Berlin", Civil(2026, 3, 29, 2, 59, 59), V{}},
      {"Europe/Berlin", Civil(2026, 3, 29, 3, 0, 0), V{1774746000}},
      {"Europe/Berlin", Civil(2026, 10, 25, 1, 59, 59), V{1792886399}},
      {"Europe/Berlin", Civil(2026, 10, 25, 2, 0, 0), V{1792886400, 1792890000}},
      {"Europe/Berlin", Civil(2026, 10, 25, 2, 30, 0), V{1792888200, 1792891800}},
      {"Europe/Berlin", Civil(2026, 10, 25, 2, 59, 59), V{1792889999, 1792893599}},
      {"Europe/Berlin", Civil(2026, 10, 25, 3, 0, 0), V{1792893600}},
      {"Europe/Berlin", Civil(2100, 3, 28, 2, 30, 0), V{}},
      {"Europe/Berlin", Civil(2100, 10, 31, 2, 30, 0), V{4128625800, 4128629400}},
      {"America/New_York", Civil(2026, 3, 8, 2, 30, 0), V{}},
      {"America/New_York", Civil(2026, 3, 8, 3, 0, 0), V{1772953200}},
      {"America/New_York", Civil(2026, 11, 1, 1, 30, 0), V{1793511000, 1793514600}},
      {"America/New_York", Civil(2026, 11, 1, 2, 0, 0), V{1793516400}},
      {"Australia/Lord_Howe", Civil(2026, 4, 5, 1, 45, 0), V{1775313900, 1775315700}},
      {"Australia/Lord_Howe", Civil(2026, 10, 4, 2, 15, 0), V{}},
      {"Australia/Lord_Howe", Civil(2026, 10, 4, 2, 30, 0), V{1791041400}},
      {"Asia/Kolkata", Civil(2024, 2, 29, 17, 30, 0), V{1709208000}},
      // Readings that exist nowhere.
      {"UTC", Civil(2026, 2, 29), V{}},
      {"UTC", Civil(2100, 2, 29), V{}},
      {"UTC", Civil(2000, 2, 29), V{951782400}},
      {"UTC", Civil(2024, 4, 31), V{}},
      {"UTC", Civil(2024, 1, 1, 24, 0, 0), V{}},
      {"UTC", Civil(2024, 13, 1), V{}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ZoneByName(c.zone).FromLocal(c.civil), c.want) << c.zone << " " << Show(c.civil);
  }
}

// Every quarter hour of 2026 reads back to itself: ToLocal and FromLocal
// agree on both DST days, and a fold gives exactly two instants.
TEST(TimeZone, EveryQuarterHourOf2026RoundTrips) {
  for (const char* name : {"Europe/Berlin", "America/New_York", "Australia/Lord_Howe"}) {
    TimeZone z = ZoneByName(name);
    int folds = 0;
    for (int64_t t = 1767225600; t < 1798761600; t += 900) {
      std::vector<int64_t> back = z.FromLocal(z.ToLocal(t).civil);
      ASSERT_TRUE(std::find(back.begin(), back.end(), t) != back.end()) << name << " @" << t;
      ASSERT_LE(back.size(), 2u);
      folds += back.size() == 2;
    }
    // One repeated hour (Lord Howe: half hour) a year, counted twice.
    EXPECT_EQ(folds, std::string(name) == "Australia/Lord_Howe" ? 4 : 8) << name;
  }
}

TEST(TimeZone, CivilDayNumbers) {
  struct Case {
    int y, m, d;
    int64_t days;
    int weekday;
  } cases[] = {
      {1970, 1, 1, 0, 4},       {1969, 12, 31, -1, 3},     {2000, 1, 1, 10957, 6},
      {2000, 2, 29, 11016, 2},  {2000, 3, 1, 11017, 3},    {2024, 2, 29, 19782, 4},
      {2024, 3, 1, 19783, 5},   {2100, 2, 28, 47540, 0},   {2100, 3, 1, 47541, 1},
      {1900, 3, 1, -25508, 4},  {1600, 2, 29, -135081, 2}, {0, 3, 1, -719468, 3},
      {2026, 12, 28, 20815, 1},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(DaysFromCivil(c.y, c.m, c.d), c.days) << c.y << "-" << c.m << "-" << c.d;
    EXPECT_EQ(CivilFromDays(c.days), Civil(c.y, c.m, c.d)) << c.days;
    EXPECT_EQ(TimeZone().ToLocal(c.days * 86400 + 43200).weekday, c.weekday) << c.days;
  }
}

// Walks a naive calendar day by day across 1599..2401 and compares.
TEST(TimeZone, CivilDaysMatchANaiveCalendar) {
  auto leap = [](int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; };
  const int kLen[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int64_t days = -135140;  // 1600-01-01
  for (int y = 1600; y <= 2400; ++y) {
    for (int m = 1; m <= 12; ++m) {
      int len = kLen[m - 1] + (m == 2 && leap(y));
      for (int d = 1; d <= len; ++d, ++days) {
        ASSERT_EQ(DaysFromCivil(y, m, d), days) << y << "-" << m << "-" << d;
        ASSERT_EQ(CivilFromDays(days), Civil(y, m, d)) << days;
      }
    }
  }
}

TEST(TimeZone, IsoWeeks) {
  struct Case {
    int y, m, d;
    int iso_year, iso_week;
  } cases[] = {
      {2020, 12, 31, 2020, 53}, {2021, 1, 3, 2020, 53},   {2021, 1, 4, 2021, 1},
      {2026, 12, 28, 2026, 53}, {2027, 1, 3, 2026, 53},   {2027, 1, 4, 2027, 1},
      {2008, 12, 29, 2009, 1},  {2010, 1, 3, 2009, 53},   {2024, 12, 30, 2025, 1},
      {2024, 2, 29, 2024, 9},   {2000, 1, 1, 1999, 52},   {1970, 1, 1, 1970, 1},
      {2026, 1, 1, 2026, 1},    {2025, 12, 28, 2025, 52}, {2025, 12, 29, 2026, 1},
  };
  for (const Case& c : cases) {
    for (int64_t second : {int64_t{0}, int64_t{86399}}) {
      LocalTime t = TimeZone().ToLocal(DaysFromCivil(c.y, c.m, c.d) * 86400 + second);
      EXPECT_EQ(t.iso_year, c.iso_year) << c.y << "-" << c.m << "-" << c.d;
      EXPECT_EQ(t.iso_week, c.iso_week) << c.y << "-" << c.m << "-" << c.d;
    }
  }
}

// A small TZif writer, so tests control every field.
struct Tzif {
  char version = '2';
  std::vector<int64_t> times;
  std::vector<uint8_t> type_of;
  struct Type {
    int32_t offset;
    bool dst;
    std::string abbr;
  };
  std::vector<Type> types;
  std::string footer;
  uint32_t extra_leapcnt = 0;

  std::string Build() const {
    std::string chars;
    std::vector<uint8_t> idx;
    for (const Type& t : types) {
      idx.push_back(static_cast<uint8_t>(chars.size()));
      chars += t.abbr + '\0';
    }
    auto be = [](std::string* out, uint64_t v, int n) {
      for (int i = n - 1; i >= 0; --i) out->push_back(static_cast<char>(v >> (8 * i)));
    };
    auto block = [&](int tb) {
      std::string b = "TZif";
      b.push_back(version);
      b.append(15, '\0');
      for (uint32_t n : {0u, 0u, extra_leapcnt, uint32_t(times.size()), uint32_t(types.size()),
                         uint32_t(chars.size())}) {
        be(&b, n, 4);
      }
      for (int64_t t : times) be(&b, static_cast<uint64_t>(t), tb);
      for (uint8_t i : type_of) b.push_back(static_cast<char>(i));
      for (size_t i = 0; i < types.size(); ++i) {
        be(&b, static_cast<uint32_t>(types[i].offset), 4);
        b.push_back(types[i].dst ? 1 : 0);
        b.push_back(static_cast<char>(idx[i]));
      }
      b += chars;
      for (uint32_t i = 0; i < extra_leapcnt; ++i) b.append(tb + 4, '\0');
      return b;
    };
    if (version == 0) return block(4);
    return block(4) + block(8) + "\n" + footer + "\n";
  }
};

TEST(TimeZone, HandBuiltFiles) {
  test::TempDir dir("tz");
  // A slim file: one transition in 2000, then only the footer (US rules).
  Tzif slim;
  slim.times = {946684800};
  slim.type_of = {1};
  slim.types = {{-18000, false, "EST"}, {-18000, false, "EST"}, {-14400, true, "EDT"}};
  slim.footer = "EST5EDT,M3.2.0,M11.1.0";
  test::WriteFile(dir / "Slim", slim.Build());
  // Version 1: 32-bit times, no footer; the last type holds afterwards.
  Tzif v1 = slim;
  v1.version = 0;
  test::WriteFile(dir / "V1", v1.Build());
  // Version 3 with a rule that keeps DST all year ("<-03>3<-02>,0/0,J365/25").
  Tzif v3;
  v3.version = '3';
  v3.types = {{-7200, true, "-02"}};
  v3.footer = "<-03>3<-02>,0/0,J365/25";
  test::WriteFile(dir / "Dst", v3.Build());

  auto z = TimeZone::LoadFrom(dir.path(), "Slim");
  ASSERT_TRUE(z.ok()) << z.status().ToString();
  EXPECT_EQ(z->ToLocal(1772953200).utc_offset_s, -14400);  // 2026-03-08 07:00 UTC: EDT
  EXPECT_EQ(z->ToLocal(1772953199).utc_offset_s, -18000);
  EXPECT_EQ(z->FromLocal(Civil(2026, 11, 1, 1, 30)),
            (std::vector<int64_t>{1793511000, 1793514600}));
  z = TimeZone::LoadFrom(dir.path(), "V1");
  ASSERT_TRUE(z.ok()) << z.status().ToString();
  EXPECT_EQ(z->ToLocal(1772953200).utc_offset_s, -18000);
  EXPECT_EQ(z->ToLocal(1772953200).abbreviation, "EST");
  z = TimeZone::LoadFrom(dir.path(), "Dst");
  ASSERT_TRUE(z.ok()) << z.status().ToString();
  for (int64_t t : {int64_t{1767225600}, int64_t{1767225600 + 86400 * 180}, int64_t{1798761599}}) {
    EXPECT_EQ(z->ToLocal(t).utc_offset_s, -7200) << t;
    EXPECT_EQ(z->ToLocal(t).abbreviation, "-02") << t;
  }
}

TEST(TimeZone, CorruptFilesAreRefused) {
  test::TempDir dir("tz");
  Tzif good;
  good.times = {0, 100};
  good.type_of = {1, 0};
  good.types = {{3600, false, "AAA"}, {7200, true, "BBB"}};
  good.footer = "AAA-1";
  struct Case {
    const char* what;
    std::string bytes;
  };
  std::vector<Case> cases;
  Tzif t = good;
  t.times = {100, 100};
  cases.push_back({"equal transition times", t.Build()});
  t = good;
  t.type_of = {1, 2};
  cases.push_back({"type index out of range", t.Build()});
  t = good;
  t.types[0].offset = 200000;
  cases.push_back({"offset beyond 26 h", t.Build()});
  t = good;
  t.types.clear();
  t.type_of = {};
  t.times = {};
  cases.push_back({"no types", t.Build()});
  t = good;
  t.footer = "AAA-1BBB,M13.1.0,M10.5.0";
  cases.push_back({"footer month 13", t.Build()});
  t = good;
  t.footer = "AA-1";
  cases.push_back({"footer abbreviation too short", t.Build()});
  t = good;
  t.footer = "AAA-1BBB,M3.5.0/200,M10.5.0";
  cases.push_back({"footer time beyond 167 h", t.Build()});
  t = good;
  t.footer = std::string(300, 'A');
  cases.push_back({"footer too long", t.Build()});
  t = good;
  t.extra_leapcnt = 1;
  cases.push_back({"leap seconds", t.Build()});
  t = good;
  t.version = '1';
  cases.push_back({"version '1'", t.Build()});
  std::string huge = good.Build();
  huge[32] = '\x7f';  // v1 timecnt high byte: far more data than the file holds
  cases.push_back({"count beyond the file", huge});
  cases.push_back({"empty", ""});
  cases.push_back({"not TZif", "TZig" + std::string(100, '\0')});
  cases.push_back({"too large", good.Build() + std::string(300 * 1024, '\0')});

  ASSERT_TRUE(TimeZone::LoadFrom(dir.path(), "Good").status().code() == Code::kInvalidArgument);
  test::WriteFile(dir / "Good", good.Build());
  auto ok = TimeZone::LoadFrom(dir.path(), "Good");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->ToLocal(-1).abbreviation, "AAA");
  EXPECT_EQ(ok->ToLocal(50).abbreviation, "BBB");
  EXPECT_EQ(ok->ToLocal(1000).abbreviation, "AAA");
  for (const Case& c : cases) {
    test::WriteFile(dir / "Bad", c.bytes);
    auto z = TimeZone::LoadFrom(dir.path(), "Bad");
    ASSERT_FALSE(z.ok()) << c.what;
    EXPECT_EQ(z.status().code(), Code::kCorruption) << c.what << ": " << z.status().ToString();
    EXPECT_NE(z.status().message().find("\"Bad\""), std::string::npos) << z.status().message();
  }
}

// Truncations of a real zone file are refused, and no flipped bit
// crashes the reader (bounds come from the file, which is input).
TEST(TimeZone, TruncatedAndFlippedRealFile) {
  std::string real = test::ReadFile("/usr/share/zoneinfo/Europe/Berlin");
  ASSERT_GT(real.size(), 100u);
  test::TempDir dir("tz");
  // Every cut in the first header and near the end (footer), a sample between:
  // file writes are slow on a busy machine.
  for (size_t n = 0; n < real.size(); n += (n < 60 || n + 40 > real.size()) ? 1 : 23) {
    test::WriteFile(dir / "Cut", real.substr(0, n));
    auto z = TimeZone::LoadFrom(dir.path(), "Cut");
    ASSERT_FALSE(z.ok()) << n;
    ASSERT_EQ(z.status().code(), Code::kCorruption) << n;
  }
  for (size_t i = 0; i < real.size(); i += 29) {
    std::string bad = real;
    bad[i] ^= static_cast<char>(1 << (i % 8));
    test::WriteFile(dir / "Flip", bad);
    auto z = TimeZone::LoadFrom(dir.path(), "Flip");
    if (z.ok()) {
      (void)z->ToLocal(1774746000);
      (void)z->FromLocal(Civil(2026, 3, 29, 2, 30));
    }
  }
}

}  // namespace
}  // namespace dr
