// Directories by descriptor (openat and friends), so paths longer than
// PATH_MAX and names that are arbitrary bytes work. Nothing here follows a
// symlink.
#pragma once

#include <string>
#include <vector>

#include "core/env/fd.h"
#include "core/status.h"

namespace dr {

// Opens `name` in `dirfd` as a directory without following symlinks;
// `display` names it in errors.
Result<UniqueFd> OpenDirAt(int dirfd, const std::string& name, const std::string& display);
// Names in the directory, sorted bytewise, without "." and "..".
Result<std::vector<std::string>> ReadDirNames(int dirfd, const std::string& display);

// A path under /proc/self/fd that names `name` inside `dirfd` without
// resolving the directory's own (possibly over-long) path.
std::string ProcFdPath(int dirfd, const std::string& name);

// Joins a display path and a name for messages ("/" + name at the root).
std::string JoinPath(const std::string& dir, const std::string& name);

}  // namespace dr
