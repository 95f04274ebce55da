// Durations as policies and the command line write them: "90s", "15m",
// "1h30m", "7d", "2w" (s, m, h, d = 24 h, w = 7 d; no months or years, which
// have no fixed length: retention counts those as calendar buckets instead).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace dr {

// Seconds; InvalidArgument naming the text for anything else (empty, no
// unit, unknown unit, negative, overflow).
Result<int64_t> ParseDuration(std::string_view text);
// The shortest form ParseDuration reads back: 5400 -> "1h30m", 0 -> "0s".
std::string FormatDuration(int64_t seconds);

}  // namespace dr
