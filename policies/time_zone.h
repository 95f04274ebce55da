// TimeZone: IANA time zones read from the system's compiled zoneinfo files
// (TZif, RFC 8536, /usr/share/zoneinfo or $TZDIR), so retention buckets and
// cron schedules follow a policy's own zone, DST changes included, without
// touching the process-wide TZ (the scheduler and the vault are threaded).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace dr {

// A wall-clock reading in some zone.
struct CivilTime {
  int year = 1970;
  int month = 1;   // 1..12
  int day = 1;     // 1..31
  int hour = 0;    // 0..23
  int minute = 0;  // 0..59
  int second = 0;  // 0..59 (leap seconds are not represented)
  bool operator==(const CivilTime&) const = default;
};

struct LocalTime {
  CivilTime civil;
  int weekday = 4;           // 0 = Sunday .. 6 = Saturday
  int iso_year = 1970;       // ISO 8601 week-numbering year
  int iso_week = 1;          // 1..53
  int32_t utc_offset_s = 0;  // local = UTC + offset
  std::string abbreviation;  // "CET", "CEST", "UTC", ...
};

class TimeZone {
 public:
  // UTC. Always available, needs no file.
  TimeZone();
  // "UTC", "Etc/UTC", or an IANA name such as "Europe/Berlin". Names with
  // ".." or a leading '/' are refused (InvalidArgument); an unknown zone or
  // an unreadable/corrupt file gives InvalidArgument/Corruption naming it.
  static Result<TimeZone> Load(const std::string& name);
  // Reads zone files from `dir` instead of the system's (tests).
  static Result<TimeZone> LoadFrom(const std::string& dir, const std::string& name);

  const std::string& name() const;
  LocalTime ToLocal(int64_t unix_s) const;
  // Every instant whose local reading is `civil`: none when it falls in a
  // gap (spring forward), two when it repeats (fall back, earlier first).
  std::vector<int64_t> FromLocal(const CivilTime& civil) const;

 private:
  struct Data;
  std::shared_ptr<const Data> data_;
};

// Days since 1970-01-01 of a proleptic Gregorian date, and back.
int64_t DaysFromCivil(int year, int month, int day);
CivilTime CivilFromDays(int64_t days);

}  // namespace dr
