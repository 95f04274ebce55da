#include "policies/schedule.h"

#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace dr {
namespace {

constexpr int64_t kDay = 86400;
// The Gregorian calendar repeats every 400 years (146097 days, a whole
// number of weeks), so an expression that matches no day in that span
// matches none ever.
constexpr int64_t kHorizonDays = 146097 + 2;
// Far beyond any real schedule, near enough that no arithmetic overflows.
constexpr int64_t kMaxAbsSeconds = int64_t{1} << 44;
// Zone offsets stay within +-26 h (RFC 8536), which bounds a DST gap.
constexpr int64_t kMaxOffset = 26 * 3600;

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
int WeekdayOfDays(int64_t days) { return static_cast<int>(days + 4 - FloorDiv(days + 4, 7) * 7); }

struct FieldSpec {
  const char* name;
  int min, max;              // as written: day-of-week takes 7 for Sunday too
  const char* const* names;  // three-letter names for min..; null if none
  int name_count;
};
constexpr const char* kMonthNames[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                       "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr const char* kDayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
constexpr FieldSpec kFields[] = {
    {"minute", 0, 59, nullptr, 0},       {"hour", 0, 23, nullptr, 0},
    {"day-of-month", 1, 31, nullptr, 0}, {"month", 1, 12, kMonthNames, 12},
    {"day-of-week", 0, 7, kDayNames, 7},
};

class CronParser {
 public:
  explicit CronParser(std::string_view text) : text_(text) {}

  Status Error(const std::string& what) const {
    return Status::InvalidArgument("cron \"" + std::string(text_) + "\": " + what);
  }

  // One value: a number or (month, day-of-week) a three-letter name.
  Result<int> Value(const FieldSpec& f, std::string_view tok) const {
    if (!tok.empty() && std::all_of(tok.begin(), tok.end(), [](char c) { return isdigit(c); })) {
      if (tok.size() > 4) return OutOfRange(f, tok);
      int v = std::stoi(std::string(tok));
      if (v < f.min || v > f.max) return OutOfRange(f, tok);
      return v;
    }
    if (tok.size() == 3) {
      for (int i = 0; i < f.name_count; ++i) {
        if (strncasecmp(f.names[i], tok.data(), 3) == 0) return f.min + i;
      }
    }
    return Error(std::string(f.name) + " \"" + std::string(tok) + "\" is not " +
                 (f.names ? "a number or a name" : "a number"));
  }

  Status OutOfRange(const FieldSpec& f, std::string_view tok) const {
    return Error(std::string(f.name) + " " + std::string(tok) + " is out of range " +
                 std::to_string(f.min) + "-" + std::to_string(f.max));
  }

  // A comma-separated list of "*", "N", "N-M", each with an optional "/STEP".
  Result<uint64_t> Field(const FieldSpec& f, std::string_view field) const {
    uint64_t bits = 0;
    size_t begin = 0;
    while (true) {
      size_t comma = field.find(',', begin);
      std::string_view item = field.substr(begin, comma == field.npos ? field.npos : comma - begin);
      if (item.empty())
        return Error(std::string(f.name) + " \"" + std::string(field) +
                     "\" has an empty list item");
      std::string_view range = item, step_text;
      bool has_step = false;
      if (size_t slash = item.find('/'); slash != item.npos) {
        range = item.substr(0, slash);
        step_text = item.substr(slash + 1);
        has_step = true;
      }
      int lo, hi;
      if (range == "*") {
        lo = f.min;
        hi = f.max;
      } else if (size_t dash = range.find('-'); dash != range.npos) {
        ASSIGN_OR_RETURN(lo, Value(f, range.substr(0, dash)));
        ASSIGN_OR_RETURN(hi, Value(f, range.substr(dash + 1)));
        if (lo > hi) {
          return Error(std::string(f.name) + " range " + std::string(range) + " is backwards");
        }
      } else {
        ASSIGN_OR_RETURN(lo, Value(f, range));
        hi = has_step ? f.max : lo;  // "5/15" means 5-max/15, as in cronie
      }
      int step = 1;
      if (has_step) {
        bool digits =
            !step_text.empty() && step_text.size() <= 4 &&
            std::all_of(step_text.begin(), step_text.end(), [](char c) { return isdigit(c); });
        step = digits ? std::stoi(std::string(step_text)) : 0;
        if (step < 1 || step > f.max - f.min + 1) {
          return Error(std::string(f.name) + " step \"" + std::string(step_text) +
                       "\" is not in 1-" + std::to_string(f.max - f.min + 1));
        }
      }
      for (int v = lo; v <= hi; v += step) bits |= uint64_t{1} << v;
      if (comma == field.npos) break;
      begin = comma + 1;
    }
    return bits;
  }

 private:
  std::string_view text_;
};

bool Has(uint64_t bits, int v) { return (bits >> v) & 1; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// The local seconds-since-epoch of `t`: its wall-clock reading as if UTC.
int64_t Reading(const TimeZone& zone, int64_t t) { return t + zone.ToLocal(t).utc_offset_s; }

// The instant a schedule means by local time `c`: the first of two in a
// fold; in a gap, the first instant after it.
int64_t Resolve(const TimeZone& zone, const CivilTime& c) {
  std::vector<int64_t> at = zone.FromLocal(c);
  if (!at.empty()) return at.front();
  int64_t local =
      DaysFromCivil(c.year, c.month, c.day) * kDay + c.hour * 3600 + c.minute * 60 + c.second;
  // Around a gap the reading only jumps forward, so the first instant that
  // reads later than `c` is found by bisection; offsets bound the span.
  int64_t lo = local - kMaxOffset - 1, hi = local + kMaxOffset + 1;
  while (hi - lo > 1) {
    int64_t mid = lo + (hi - lo) / 2;
    if (Reading(zone, mid) > local) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return hi;
}

bool DayMatches(const CronExpr& e, const CivilTime& c, int weekday) {
  bool dom = Has(e.days_of_month, c.day), dow = Has(e.days_of_week, weekday);
  // Vixie cron: either restriction suffices when both fields are
  // restricted; a field starting with '*' (even "*/2") must also match.
  return e.dom_restricted && e.dow_restricted ? dom || dow : dom && dow;
}

std::optional<int64_t> NextCron(CronExpr e, const TimeZone& zone, int64_t after_s) {
  // Bits beyond each field's range (a hand-built CronExpr) mean nothing.
  e.minutes &= (uint64_t{1} << 60) - 1;
  e.hours &= (1u << 24) - 1;
  if (e.minutes == 0 || e.hours == 0 || e.months == 0) return std::nullopt;
  CivilTime now = zone.ToLocal(after_s).civil;
  // A day early: a zone that steps back across midnight repeats part of
  // the previous local day after `after_s`.
  int64_t day = DaysFromCivil(now.year, now.month, now.day) - 1;
  const int64_t last = day + kHorizonDays;
  int64_t stop = last;  // once a run is found, the next day can only be earlier in a fold
  std::optional<int64_t> best;
  while (day <= std::min(last, stop)) {
    CivilTime c = CivilFromDays(day);
    if (!Has(e.months, c.month)) {
      day = c.month == 12 ? DaysFromCivil(c.year + 1, 1, 1) : DaysFromCivil(c.year, c.month + 1, 1);
      continue;
    }
    // The day's last run tells cheaply whether any of its runs is late enough.
    CivilTime latest = c;
    latest.hour = 63 - __builtin_clzll(e.hours);
    latest.minute = 63 - __builtin_clzll(e.minutes);
    if (DayMatches(e, c, WeekdayOfDays(day)) && Resolve(zone, latest) > after_s) {
      bool found = false;
      for (c.hour = 0; c.hour < 24 && !found; ++c.hour) {
        if (!Has(e.hours, c.hour)) continue;
        for (c.minute = 0; c.minute < 60; ++c.minute) {
          if (!Has(e.minutes, c.minute)) continue;
          // Within a day the resolved instants only grow, so the first one
          // after `after_s` is the day's answer.
          int64_t t = Resolve(zone, c);
          if (t > after_s) {
            if (!best || t < *best) best = t;
            stop = std::min(stop, day + 1);
            found = true;
            break;
          }
        }
      }
    }
    ++day;
  }
  return best;
}

std::optional<int64_t> NextEvery(int64_t every_s, int64_t after_s) {
  int64_t next;
  if (__builtin_mul_overflow(FloorDiv(after_s, every_s) + 1, every_s, &next)) return std::nullopt;
  return next;
}

bool InWindow(const StartWindow& w, int minute) {
  if (w.start_minute == w.end_minute) return true;
  if (w.start_minute < w.end_minute) return minute >= w.start_minute && minute < w.end_minute;
  return minute >= w.start_minute || minute < w.end_minute;  // wraps midnight
}

std::optional<int64_t> IntoWindow(const StartWindow& w, const TimeZone& zone, int64_t t) {
  if (w.start_minute < 0 || w.start_minute >= 1440 || w.end_minute < 0 || w.end_minute >= 1440) {
    return std::nullopt;
  }
  CivilTime c = zone.ToLocal(t).civil;
  if (InWindow(w, c.hour * 60 + c.minute)) return t;
  int64_t day = DaysFromCivil(c.year, c.month, c.day);
  for (int i = 0; i < 3; ++i) {
    CivilTime open = CivilFromDays(day + i);
    open.hour = w.start_minute / 60;
    open.minute = w.start_minute % 60;
    int64_t at = Resolve(zone, open);
    if (at >= t) return at;
  }
  return std::nullopt;
}

}  // namespace

Result<CronExpr> ParseCron(std::string_view text) {
  std::string_view s = Trim(text);
  CronParser p(s);
  std::string_view body = s;
  if (!s.empty() && s[0] == '@') {
    static constexpr std::pair<const char*, const char*> kMacros[] = {
        {"@hourly", "0 * * * *"},   {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
        {"@weekly", "0 0 * * 0"},   {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
        {"@annually", "0 0 1 1 *"},
    };
    body = {};
    for (const auto& [name, expansion] : kMacros) {
      if (s.size() == strlen(name) && strncasecmp(s.data(), name, s.size()) == 0) body = expansion;
    }
    if (body.empty()) {
      return p.Error("unknown macro (use @hourly, @daily, @weekly, @monthly or @yearly)");
    }
  }
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < body.size()) {
    while (i < body.size() && isspace(static_cast<unsigned char>(body[i]))) ++i;
    size_t begin = i;
    while (i < body.size() && !isspace(static_cast<unsigned char>(body[i]))) ++i;
    if (i > begin) fields.push_back(body.substr(begin, i - begin));
  }
  if (fields.size() != 5) {
    return p.Error("expected 5 fields (minute hour day-of-month month day-of-week), got " +
                   std::to_string(fields.size()));
  }
  uint64_t bits[5];
  for (int f = 0; f < 5; ++f) {
    ASSIGN_OR_RETURN(bits[f], p.Field(kFields[f], fields[f]));
  }
  CronExpr e;
  e.minutes = bits[0];
  e.hours = static_cast<uint32_t>(bits[1]);
  e.days_of_month = static_cast<uint32_t>(bits[2]);
  e.months = static_cast<uint16_t>(bits[3]);
  // Bit 7 is Sunday again.
  e.days_of_week = static_cast<uint8_t>((bits[4] | (bits[4] >> 7)) & 0x7f);
  e.dom_restricted = fields[2][0] != '*';
  e.dow_restricted = fields[4][0] != '*';
  e.text = std::string(s);
  return e;
}

std::optional<int64_t> NextRun(const Schedule& schedule, int64_t after_s) {
  if (after_s < -kMaxAbsSeconds || after_s > kMaxAbsSeconds) return std::nullopt;
  std::optional<int64_t> next;
  if (schedule.cron) {
    next = NextCron(*schedule.cron, schedule.zone, after_s);
  } else if (schedule.every_s > 0) {
    next = NextEvery(schedule.every_s, after_s);
  }
  if (!next || !schedule.window) return next;
  return IntoWindow(*schedule.window, schedule.zone, *next);
}

int64_t JitterFor(const Schedule& schedule, const std::string& key, int64_t slot_s) {
  if (schedule.jitter_s <= 0) return 0;
  // FNV-1a over key, a NUL and the slot (little-endian), then the
  // SplitMix64 finalizer so neighbouring slots land far apart. Fixed
  // arithmetic only: the same on every agent, build and run.
  uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&h](uint8_t b) { h = (h ^ b) * 0x100000001b3ULL; };
  for (char c : key) mix(static_cast<uint8_t>(c));
  mix(0);
  for (int i = 0; i < 8; ++i) mix(static_cast<uint8_t>(static_cast<uint64_t>(slot_s) >> (8 * i)));
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return static_cast<int64_t>(h % (static_cast<uint64_t>(schedule.jitter_s) + 1));
}

}  // namespace dr
