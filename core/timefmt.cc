#include "core/timefmt.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace dr {

int64_t NowUnixNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string FormatRfc3339Utc(int64_t unix_ns) {
  time_t secs = static_cast<time_t>(unix_ns / 1000000000);
  long ns = static_cast<long>(unix_ns % 1000000000);
  if (ns < 0) {
    ns += 1000000000;
    --secs;
  }
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ns);
  return buf;
}

std::string FormatLocal(int64_t unix_ns) {
  time_t secs = static_cast<time_t>(unix_ns / 1000000000);
  struct tm tm;
  localtime_r(&secs, &tm);
  char buf[64];
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

namespace {

// The end of the named second, minute or day ("at or before T"), or with
// `start` its beginning ("at or after T").
Result<int64_t> ParseTimeArgAt(const std::string& s, bool start) {
  auto bad = [&] {
    return Status::InvalidArgument("time '" + s +
                                   "' is not understood (use \"YYYY-MM-DD HH:MM[:SS]\", local "
                                   "time, or add Z for UTC)");
  };
  if (!s.empty() && s[0] == '@') {
    char* end = nullptr;
    long long v = strtoll(s.c_str() + 1, &end, 10);
    if (end == s.c_str() + 1 || *end) return bad();
    return static_cast<int64_t>(v) * 1000000000 + (start ? 0 : 999999999);
  }
  struct tm tm = {};
  int y, mo, d, h = start ? 0 : 23, mi = start ? 0 : 59, sec = start ? 0 : 59;
  char sep = 0, z = 0;
  int n = 0;
  int fields = sscanf(s.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &n);
  if (fields != 3) return bad();
  size_t pos = static_cast<size_t>(n);
  bool utc = false;
  if (pos < s.size()) {
    sep = s[pos];
    if (sep == 'Z' && pos + 1 == s.size()) {
      utc = true;
    } else {
      if (sep != ' ' && sep != 'T') return bad();
      int m = 0;
      sec = start ? 0 : 59;  // "03:00" means up to the end of that minute
      if (sscanf(s.c_str() + pos + 1, "%2d:%2d%n", &h, &mi, &m) != 2) return bad();
      size_t p2 = pos + 1 + static_cast<size_t>(m);
      if (p2 < s.size() && s[p2] == ':') {
        int m2 = 0;
        if (sscanf(s.c_str() + p2 + 1, "%2d%n", &sec, &m2) != 1) return bad();
        p2 += 1 + static_cast<size_t>(m2);
      }
      if (p2 < s.size()) {
        z = s[p2];
        if (z != 'Z' || p2 + 1 != s.size()) return bad();
        utc = true;
      }
    }
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return bad();
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  tm.tm_isdst = -1;
  time_t t = utc ? timegm(&tm) : mktime(&tm);
  if (t == static_cast<time_t>(-1)) return bad();
  // The whole named second counts as "at or before".
  return static_cast<int64_t>(t) * 1000000000 + (start ? 0 : 999999999);
}

}  // namespace

Result<int64_t> ParseTimeArg(const std::string& s) { return ParseTimeArgAt(s, false); }
Result<int64_t> ParseTimeArgStart(const std::string& s) { return ParseTimeArgAt(s, true); }

std::string HumanBytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int u = 0;
  while (b >= 1024 && u < 5) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
  return buf;
}

}  // namespace dr
