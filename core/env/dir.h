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
// Opens the directory reached from `dirfd` through `components` (names, no
// '/'), one component at a time with O_NOFOLLOW: a symlink anywhere on the
// way is an error, never followed (a path opened whole from `dirfd` would
// follow a symlinked directory in the middle). No components gives a new
// descriptor of `dirfd` itself. `display` names the walk in errors.
Result<UniqueFd> OpenDirBelow(int dirfd, const std::vector<std::string>& components,
                              const std::string& display);
// Names in the directory, sorted bytewise, without "." and "..".
Result<std::vector<std::string>> ReadDirNames(int dirfd, const std::string& display);

// Removes `name` from `dirfd`: a file, symlink or special file is unlinked,
// a directory emptied depth-first and removed. Every directory on the way is
// opened with O_NOFOLLOW, so a symlink swapped in meanwhile is removed
// itself, never followed. Gone already is success.
Status RemoveEntryAt(int dirfd, const std::string& name, const std::string& display);

// A path under /proc/self/fd that names `name` inside `dirfd` without
// resolving the directory's own (possibly over-long) path.
std::string ProcFdPath(int dirfd, const std::string& name);
// A path under /proc/self/fd naming exactly the file open as `fd`, for calls
// that have no descriptor form or refuse O_PATH descriptors. It is a magic
// link: following it lands on that inode itself and nothing further is
// followed, even when the inode is a symlink opened with O_PATH|O_NOFOLLOW.
std::string ProcFdPath(int fd);

// Joins a display path and a name for messages ("/" + name at the root).
std::string JoinPath(const std::string& dir, const std::string& name);

}  // namespace dr
