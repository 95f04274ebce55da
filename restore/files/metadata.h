// Applying a snapshot node's metadata to a restored file-system entry.
#pragma once

#include <string>

#include "catalog/format/tree.h"
#include "core/status.h"

namespace dr {

// Sets owner, extended attributes, mode and mtime of `name` in `dirfd`
// (symlinks themselves, never their targets). Order matters: chown clears
// setuid/setgid, so the mode comes after it; times come last.
// When `fd` >= 0 it is an open descriptor of the entry and is used instead.
Status ApplyMetadata(int dirfd, const std::string& name, int fd, const Node& node,
                     const std::string& display);

}  // namespace dr
