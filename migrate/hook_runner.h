// Running a migration hook (quiesce, start, health-check, rollback): a shell
// command with the system's names in its environment and a time limit, so a
// hook that hangs cannot hold a cutover's downtime open forever.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace dr {

struct HookRun {
  std::string step;     // "quiesce", ...: names the hook in errors
  std::string command;  // run with /bin/sh -c
  // Added to the environment: DR_MIGRATION, DR_SYSTEM, DR_TARGET, ...
  std::vector<std::pair<std::string, std::string>> env;
  double timeout_s = 600;
};

// OK when the command exits 0 within the limit. Otherwise an error naming
// the step, the command and the exit status (or the timeout, after which
// the command's whole process group is killed).
Status RunMigrationHook(const HookRun& hook);

}  // namespace dr
