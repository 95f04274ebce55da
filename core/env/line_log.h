// Append-only logs of one record per line (job logs, the vault's policy
// history), written by processes that can be killed mid-append.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace dr {

// Appends `record` and a newline to `path` (created 0600) and fsyncs it. A
// torn last line left by a crash is ended first, so the new record starts
// on a line of its own.
Status AppendLogLine(const std::string& path, std::string_view record);

// Calls `decode` for every non-empty line of `path` (a missing file has
// none). A line it refuses is skipped with a warning "PATH:N: skipped: why";
// a refused last line without its newline is reported as torn. A last line
// that decodes is whole (only its newline was lost).
Status ReadLogLines(const std::string& path,
                    const std::function<Status(std::string_view line)>& decode,
                    std::vector<std::string>* warnings);

}  // namespace dr
