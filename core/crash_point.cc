#include "core/crash_point.h"

#ifdef DR_CRASH_POINTS

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

namespace dr {

namespace {

struct Armed {
  std::mutex mu;
  std::map<std::string, long> remaining;  // hits left before the kill, per point
};

// Parsed once from DR_CRASH_AT; null when the variable is absent.
Armed* ArmedPoints() {
  static Armed* armed = []() -> Armed* {
    const char* spec = std::getenv("DR_CRASH_AT");
    if (!spec || !*spec) return nullptr;
    auto* a = new Armed;
    std::string s = spec;
    for (size_t pos = 0; pos < s.size();) {
      size_t end = s.find(',', pos);
      if (end == std::string::npos) end = s.size();
      const std::string item = s.substr(pos, end - pos);
      const size_t colon = item.rfind(':');
      const long n = colon == std::string::npos ? 1 : std::atol(item.c_str() + colon + 1);
      a->remaining[item.substr(0, colon)] = n > 0 ? n : 1;
      pos = end + 1;
    }
    return a;
  }();
  return armed;
}

}  // namespace

void CrashPoint(const char* name) {
  Armed* armed = ArmedPoints();
  if (!armed) return;
  std::lock_guard l(armed->mu);
  auto it = armed->remaining.find(name);
  if (it == armed->remaining.end() || --it->second > 0) return;
  const std::string line = std::string("crash point ") + name + " reached: killing this process\n";
  (void)!::write(2, line.data(), line.size());
  ::kill(::getpid(), SIGKILL);
}

}  // namespace dr

#endif
