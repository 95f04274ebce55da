// Applying a snapshot node's metadata to a restored file-system entry.
#pragma once

#include <string>

#include "catalog/format/tree.h"
#include "core/status.h"

namespace dr {

// Sets owner, extended attributes, mode and mtime of the entry open as `fd`:
// a file or directory open for reading or writing, or an O_PATH descriptor
// (symlinks, FIFOs, devices). Everything goes through the descriptor, never
// a path, so an entry renamed away and replaced by a symlink after the
// restore opened it cannot redirect any of it to another file. A symlink
// itself is changed, never its target (and its mode, meaningless, is left).
// Order matters: chown clears setuid/setgid, so the mode comes after it;
// times come last.
Status ApplyMetadata(int fd, const Node& node, const std::string& display);

}  // namespace dr
