// Creating, opening and linking entries in a restore target that a hostile
// local user may be changing while the restore runs. Every entry is addressed
// as (directory descriptor, one name); no call follows a symlink; nothing is
// written through an entry the restore did not make itself or check first;
// and a name that is taken is replaced by rename, never unlinked and then
// created again (that gap is where something could be planted).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "catalog/format/tree.h"
#include "core/env/fd.h"
#include "core/hash.h"
#include "core/status.h"

namespace dr {

// Makes an entry at `name` in `dirfd` with `make(candidate_name)`, which
// returns false with errno set on failure (EEXIST when the name is taken).
// When `name` is taken, the entry is made under a temporary name and renamed
// over it: whatever stood there, even something planted a moment ago, is
// replaced and never opened or written through. `what` starts error messages
// ("create symlink /a/b").
Status CreateOrReplace(int dirfd, const std::string& name,
                       const std::function<bool(const std::string&)>& make,
                       const std::string& what);

// The existing entry at `name` opened for an update in place, or an invalid
// descriptor when it cannot safely be updated: it is not a regular file of
// `current_size` bytes, cannot be opened for writing, has another hard link
// (which may be outside the target; writing would change it too), or has
// another owner, group or mode than `node` (its owner, or others it lets
// read, would see the restored bytes before the metadata is set).
Result<UniqueFd> OpenForUpdateInPlace(int dirfd, const std::string& name, const Node& node,
                                      uint64_t current_size, const std::string& display);
// A new empty file at `name` (mode 0600, O_EXCL|O_NOFOLLOW), replacing
// whatever is there per CreateOrReplace.
Result<UniqueFd> CreateFileAt(int dirfd, const std::string& name, const std::string& display);

// The entry just made at `name` (a symlink, FIFO or device), opened with
// O_PATH|O_NOFOLLOW to set its metadata through; an error unless it is still
// of `type` with a single link, that is, what the restore made.
Result<UniqueFd> OpenMadeEntry(int dirfd, const std::string& name, NodeType type,
                               const std::string& display);

// Which inode a descriptor is open on, to recognise it again.
struct FileId {
  dev_t dev = 0;
  ino_t ino = 0;
  bool operator==(const FileId&) const = default;
};
FileId FileIdOf(int fd);

// The first restored member of a hard-link group: where it is below the
// target (names, one per level), which inode it is, and its content digest.
struct LinkSource {
  std::vector<std::string> path;
  FileId id;
  Id digest;
};
// Makes `name` in `dirfd` a hard link to `source`, found again from `root_fd`
// one directory at a time with O_NOFOLLOW and linked through a descriptor of
// it, so a directory on the way swapped for a symlink, or the member itself
// swapped for another file, is an error rather than a link to elsewhere.
Status LinkTo(int root_fd, const LinkSource& source, int dirfd, const std::string& name,
              const std::string& display);

}  // namespace dr
