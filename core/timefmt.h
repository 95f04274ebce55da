// Time formatting and parsing for snapshots and the command line.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace dr {

int64_t NowUnixNs();
// "2026-11-27T03:00:00.123456789Z"
std::string FormatRfc3339Utc(int64_t unix_ns);
// "2026-11-27 03:00:00" in the local time zone, for tables.
std::string FormatLocal(int64_t unix_ns);
// Accepts "YYYY-MM-DD", "YYYY-MM-DD HH:MM", "YYYY-MM-DD HH:MM:SS" (local time,
// 'T' may replace the space) and the same with a trailing "Z" (UTC), or "@UNIXSECONDS".
// An unparsable string gives InvalidArgument naming it. The end of what it
// names ("2026-12-01" is 23:59:59.999999999 that day): for "at or before".
Result<int64_t> ParseTimeArg(const std::string& s);
// The same, the start of what it names ("2026-12-01" is 00:00:00): for
// "at or after" (--since).
Result<int64_t> ParseTimeArgStart(const std::string& s);
// "12.3 MiB"
std::string HumanBytes(double bytes);

}  // namespace dr
