// The migration report: per system the data moved, the syncs, the measured
// cutover downtime and the verification result, as JSON (for tools) and as
// one self-contained HTML page (for the people who sign the migration off).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "migrate/plan.h"
#include "migrate/state.h"

namespace dr {

struct SystemReport {
  const MigrationSystem* system;
  SystemState state;
};

nlohmann::json MigrationReportJson(const MigrationPlan& plan,
                                   const std::vector<SystemReport>& systems, int64_t generated_ns);
// The same as a page with no external resources (styles inline, no scripts).
std::string MigrationReportHtml(const nlohmann::json& report);

}  // namespace dr
