#include "policies/duration.h"

#include <cstdint>
#include <iterator>
#include <limits>

namespace dr {
namespace {

struct Unit {
  char letter;
  int64_t seconds;
};
// Largest first: a duration is written in this order, each unit at most once,
// so every value has one spelling and "1m1m" or "30m1h" are caught as typos.
constexpr Unit kUnits[] = {{'w', 7 * 86400}, {'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};

}  // namespace

Result<int64_t> ParseDuration(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("duration \"" + std::string(text) + "\": " + why +
                                   " (write e.g. 90s, 15m, 1h30m, 7d, 2w)");
  };
  if (text.empty()) return bad("is empty");
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  int64_t total = 0;
  size_t next_unit = 0;  // index in kUnits the next unit may not precede
  size_t p = 0;
  while (p < text.size()) {
    if (text[p] == '-') return bad("is negative");
    if (text[p] < '0' || text[p] > '9') {
      return bad("expected a number at \"" + std::string(text.substr(p)) + "\"");
    }
    int64_t n = 0;
    while (p < text.size() && text[p] >= '0' && text[p] <= '9') {
      int digit = text[p++] - '0';
      if (n > (kMax - digit) / 10) return bad("is too large");
      n = n * 10 + digit;
    }
    if (p == text.size()) return bad("has no unit after " + std::to_string(n));
    char letter = text[p++];
    size_t u = 0;
    while (u < std::size(kUnits) && kUnits[u].letter != letter) ++u;
    if (u == std::size(kUnits)) {
      if (letter == 'M' || letter == 'y') {
        return bad("months and years have no fixed length (use monthly/yearly retention)");
      }
      return bad(std::string("unknown unit '") + letter + "' (s, m, h, d or w)");
    }
    if (u < next_unit) return bad("units must go from largest to smallest, each once");
    next_unit = u + 1;
    if (n > (kMax - total) / kUnits[u].seconds) return bad("is too large");
    total += n * kUnits[u].seconds;
  }
  return total;
}

std::string FormatDuration(int64_t seconds) {
  if (seconds == 0) return "0s";
  std::string out;
  // Unsigned, so the most negative value has a magnitude too.
  uint64_t left = static_cast<uint64_t>(seconds);
  if (seconds < 0) {
    out = "-";
    left = 0 - left;
  }
  for (const Unit& u : kUnits) {
    uint64_t n = left / static_cast<uint64_t>(u.seconds);
    if (n == 0) continue;
    out += std::to_string(n) + u.letter;
    left -= n * static_cast<uint64_t>(u.seconds);
  }
  return out;
}

}  // namespace dr
