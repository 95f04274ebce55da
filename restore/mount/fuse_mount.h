// Serving a SnapshotFs through FUSE (libfuse3), read-only: mounted with
// ro, nodev, nosuid, noexec and default_permissions, so a device node,
// set-uid program or script in a snapshot is never more than its bytes.
// Only the user who mounted may enter (no allow_other): owners in a
// snapshot are the backed-up host's numbers, which mean other people here.
#pragma once

#include <functional>
#include <string>

#include "core/status.h"
#include "restore/mount/snapshot_fs.h"

namespace dr {

struct MountOptions {
  std::string mountpoint;
  std::string source;  // shown as the file system's name (df, mount)
  std::function<void()> on_mounted;
};

// Mounts `fs` and serves it until it is unmounted (fusermount3 -u) or the
// process gets SIGINT, SIGTERM or SIGHUP; then unmounts.
Status ServeMount(SnapshotFs& fs, const MountOptions& options);

}  // namespace dr
