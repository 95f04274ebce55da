#include "policies/duration.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace dr {
namespace {

TEST(Duration, ParsesEveryUnitAndCombinations) {
  struct Case {
    const char* text;
    int64_t seconds;
  } cases[] = {
      {"0s", 0},
      {"90s", 90},
      {"15m", 900},
      {"1h", 3600},
      {"1h30m", 5400},
      {"7d", 604800},
      {"2w", 1209600},
      {"1w2d3h4m5s", 788645},
      {"36h", 129600},
      {"0d", 0},
      {"007s", 7},
      {"2d12h", 216000},
      {"9223372036854775807s", std::numeric_limits<int64_t>::max()},
  };
  for (const Case& c : cases) {
    auto r = ParseDuration(c.text);
    ASSERT_TRUE(r.ok()) << c.text << ": " << r.status().ToString();
    EXPECT_EQ(*r, c.seconds) << c.text;
  }
}

TEST(Duration, RefusesAnythingElseNamingTheText) {
  struct Case {
    const char* text;
    const char* why;  // part of the message
  } cases[] = {
      {"", "is empty"},
      {"15", "has no unit after 15"},
      {"1h30", "has no unit after 30"},
      {"5x", "unknown unit 'x'"},
      {"1M", "months and years have no fixed length"},
      {"1y", "months and years have no fixed length"},
      {"-5m", "is negative"},
      {"+5m", "expected a number"},
      {" 5m", "expected a number"},
      {"5m ", "expected a number"},
      {"h", "expected a number"},
      {"1.5h", "unknown unit '.'"},
      {"30m1h", "largest to smallest"},
      {"1m1m", "largest to smallest"},
      {"9223372036854775808s", "too large"},
      {"15250284452472w", "too large"},
      {"9223372036854775807s1s", "largest to smallest"},
      {"1w9223372036854775000s", "too large"},
  };
  for (const Case& c : cases) {
    auto r = ParseDuration(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    const std::string& m = r.status().message();
    EXPECT_NE(m.find(std::string("duration \"") + c.text + "\""), std::string::npos) << m;
    EXPECT_NE(m.find(c.why), std::string::npos) << c.text << ": " << m;
  }
}

TEST(Duration, FormatsLargestUnitsFirstAndReadsBack) {
  struct Case {
    int64_t seconds;
    const char* text;
  } cases[] = {
      {0, "0s"},       {1, "1s"},       {59, "59s"},    {60, "1m"},       {90, "1m30s"},
      {5400, "1h30m"}, {86400, "1d"},   {604800, "1w"}, {691200, "1w1d"}, {788645, "1w2d3h4m5s"},
      {3601, "1h1s"},  {-90, "-1m30s"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(FormatDuration(c.seconds), c.text) << c.seconds;
    if (c.seconds >= 0) {
      auto back = ParseDuration(FormatDuration(c.seconds));
      ASSERT_TRUE(back.ok()) << c.text;
      EXPECT_EQ(*back, c.seconds);
    }
  }
  int64_t max = std::numeric_limits<int64_t>::max();
  auto back = ParseDuration(FormatDuration(max));
  ASSERT_TRUE(back.ok()) << FormatDuration(max);
  EXPECT_EQ(*back, max);
  EXPECT_EQ(FormatDuration(std::numeric_limits<int64_t>::min())[0], '-');
}

}  // namespace
}  // namespace dr
