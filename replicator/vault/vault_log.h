// Structured logs of the vault: one JSON object per line on stderr, e.g.
//   {"time":"2026-11-29T08:00:00.123Z","event":"session_open","agent":"records-01",...}
// so they can be shipped and queried without parsing prose.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace dr {

void LogEvent(const std::string& event, nlohmann::json fields = nlohmann::json::object());

}  // namespace dr
