// Extended attributes (including POSIX ACLs, which are xattrs) of a directory
// entry, never following a symlink.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace dr {

using Xattrs = std::vector<std::pair<std::string, std::string>>;

// Every extended attribute of `name` in `dirfd`, sorted by name. A file
// system without xattr support gives an empty list. `display` is the entry's
// path for messages; when it is absolute and short enough it is also the path
// used (much cheaper for the kernel than the /proc/self/fd link).
Result<Xattrs> ReadXattrs(int dirfd, const std::string& name, const std::string& display);

}  // namespace dr
