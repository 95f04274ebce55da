// The operator's drill checks: a shell command run against the sandbox, its
// output kept (bounded) for the report, killed with its whole process group
// at the timeout.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "restore/drill/drill.h"

namespace dr {

// Runs `command` with /bin/sh -c in `cwd`, with `env` added to the
// environment and stdin from /dev/null. Never fails as a whole: a command
// that cannot start has exit_code -1 and the reason in `output`.
DrillCheckResult RunDrillCheck(const std::string& command, const std::string& cwd,
                               const std::vector<std::pair<std::string, std::string>>& env,
                               int64_t timeout_s);

}  // namespace dr
