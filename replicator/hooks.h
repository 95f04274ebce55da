// Consistency hooks: shell commands an operator gives to quiesce a source
// before it is captured (freeze a file system, flush a database) and to let
// it go again afterwards.
#pragma once

#include <string>

#include "core/status.h"

namespace dr {

// Runs `command` with /bin/sh, with DR_SOURCE set to `source`. `which`
// ("pre", "post") names the hook in the error when the command fails.
Status RunHook(const std::string& which, const std::string& command, const std::string& source);

}  // namespace dr
