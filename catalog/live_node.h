// A live file-system entry as a tree Node: the one place where stat results,
// symlink targets and xattrs become Node fields, so that capture (which
// records them) and verify (which compares a live tree with a snapshot) can
// never disagree about what "the same metadata" means.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string>

#include "catalog/format/tree.h"
#include "core/status.h"

namespace dr {

// Fills the metadata fields of `node` (not content, digest or subtree) from
// `st` plus the symlink target and extended attributes read via `dirfd`.
// When `previous` (the entry in the parent snapshot) has the same type, inode
// and ctime, its xattrs are reused unread: changing an xattr changes ctime.
Status ReadNodeMeta(int dirfd, const std::string& name, const struct stat& st,
                    const std::string& display, Node* node, const Node* previous = nullptr);

int64_t StatMtimeNs(const struct stat& st);
int64_t StatCtimeNs(const struct stat& st);
NodeType NodeTypeOf(mode_t mode);
// Stable nonzero id for a hard-link group (same device and inode).
uint64_t HardlinkGroupOf(const struct stat& st);

}  // namespace dr
