// Serving a SnapshotFs through FUSE (libfuse3), read-only: mounted with
// ro, nodev, nosuid and default_permissions, so the kernel enforces each
// file's recorded mode and owner, and a device node or set-uid program in
// a snapshot is never more than its bytes.
#pragma once

#include <functional>
#include <string>

#include "core/status.h"
#include "restore/mount/snapshot_fs.h"

namespace dr {

struct MountOptions {
  std::string mountpoint;
  std::string source;        // shown as the file system's name (df, mount)
  bool allow_other = false;  // let other users in (needs user_allow_other)
  std::function<void()> on_mounted;
};

// Mounts `fs` and serves it until it is unmounted (fusermount3 -u) or the
// process gets SIGINT, SIGTERM or SIGHUP; then unmounts.
Status ServeMount(SnapshotFs& fs, const MountOptions& options);

}  // namespace dr
