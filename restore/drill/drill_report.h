// A drill's report: JSON for scripts (and for the drill record), and one
// self-contained HTML page for people and auditors (no script, no external
// file: the timings chart is inline SVG).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "restore/drill/drill.h"

namespace dr {

nlohmann::json DrillReportJson(const DrillReport& report);
std::string DrillReportHtml(const DrillReport& report);

}  // namespace dr
