// Schedule: when a policy runs. Either a cron expression (5 fields, read in
// the schedule's time zone) or a fixed interval ("every: 15m"), optionally
// limited to a daily start window and spread by a deterministic jitter.
//
// Cron semantics (those of cronie/Vixie cron, stated here because DST makes
// them matter): fields minute hour day-of-month month day-of-week; lists,
// ranges, steps ("*/15", "1-5/2"), month and weekday names (jan, mon), 7 is
// Sunday too, and @hourly/@daily/@weekly/@monthly/@yearly. When both
// day-of-month and day-of-week are restricted, a day matching either fires.
// A local time that does not exist (spring forward) fires at the first
// instant after the gap; a local time that happens twice (fall back) fires
// once, at the first.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "policies/time_zone.h"

namespace dr {

struct CronExpr {
  // Bit i set: value i allowed. minute 0..59, hour 0..23, dom 1..31,
  // month 1..12, dow 0..6 (Sunday 0).
  uint64_t minutes = 0;
  uint32_t hours = 0, days_of_month = 0;
  uint16_t months = 0;
  uint8_t days_of_week = 0;
  bool dom_restricted = false, dow_restricted = false;
  std::string text;  // as written, for messages
};

// InvalidArgument naming the field and the bad token
// ("cron \"61 * * * *\": minute 61 is out of range 0-59").
Result<CronExpr> ParseCron(std::string_view text);

// Minutes after local midnight (0..1439); runs may start from start_minute
// up to, not including, end_minute. end < start wraps midnight; end ==
// start is the whole day.
struct StartWindow {
  int start_minute = 0, end_minute = 0;
};

struct Schedule {
  std::optional<CronExpr> cron;  // exactly one of cron / every_s
  int64_t every_s = 0;
  TimeZone zone;
  std::optional<StartWindow> window;  // runs only start inside it
  int64_t jitter_s = 0;               // each run is delayed by a stable 0..jitter_s
};

// The first scheduled instant strictly after `after_s` (unix seconds),
// before jitter. For `every`, runs are aligned to multiples of every_s since
// the epoch (so restarts do not shift them). With a window, a run that would
// start outside it moves to the window's next opening. Unset (no cron, no
// every) gives nullopt, and so does a cron expression that matches no day
// in the next 400 years ("0 0 31 2 *"): the Gregorian calendar repeats
// after 400 years, so it never will.
std::optional<int64_t> NextRun(const Schedule& schedule, int64_t after_s);
// The delay in 0..jitter_s for run `slot` of `key` (policy name): a hash, so
// the same policy on the same agent always shifts the same way and many
// agents do not start together.
int64_t JitterFor(const Schedule& schedule, const std::string& key, int64_t slot_s);

}  // namespace dr
