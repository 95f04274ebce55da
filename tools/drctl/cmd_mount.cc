// drctl mount / dragent mount: browse every snapshot through a read-only
// FUSE file system (restore/mount/), without restoring.
#include <sys/stat.h>

#include <cstdio>

#include "restore/mount/fuse_mount.h"
#include "restore/mount/snapshot_fs.h"
#include "tools/drctl/cli.h"

namespace dr::cli {

namespace {

struct MountArgs {
  std::string mountpoint;
  std::string host;
  uint64_t cache_mib = 64;
};

int RunMount(const MountArgs& a, const GlobalOptions& g) {
  struct stat st;
  if (::stat(a.mountpoint.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Fail(
        Status::InvalidArgument("mount point " + a.mountpoint + " is not an existing directory"));
  }
  // The session marker holds back a prune for as long as the mount is up:
  // nothing a reader may still open is deleted under it.
  auto repo = OpenRepo(g, "mount");
  if (!repo) return kExitError;
  SnapshotFs::Options fs_options;
  fs_options.cache_bytes = a.cache_mib << 20;
  fs_options.host = a.host;
  auto fs = SnapshotFs::Create(std::move(repo), fs_options);
  if (!fs.ok()) return Fail(fs.status());
  MountOptions m;
  m.mountpoint = a.mountpoint;
  m.source = RepositoryUrlForDisplay(g.repo);
  m.on_mounted = [&] {
    if (!g.quiet) {
      std::fprintf(stderr, "%s mounted read-only at %s; stop with Ctrl-C or: fusermount3 -u %s\n",
                   m.source.c_str(), a.mountpoint.c_str(), a.mountpoint.c_str());
    }
  };
  Status served = ServeMount(**fs, m);
  if (!served.ok()) return Fail(served);
  return kExitOk;
}

}  // namespace

void AddMountCommand(CLI::App& app, GlobalOptions& g, Runner* run) {
  auto* cmd = app.add_subcommand(
      "mount",
      "browse the snapshots read-only at MOUNTPOINT (FUSE): snapshots/<time>_<id>/, latest, "
      "hosts/<host>/; a disk image snapshot is one file (mount -o loop,ro it); runs until "
      "unmounted");
  auto a = std::make_shared<MountArgs>();
  cmd->add_option("mountpoint", a->mountpoint, "an existing, empty directory")->required();
  cmd->add_option("--host", a->host, "only this host's snapshots");
  cmd->add_option("--cache-mib", a->cache_mib, "memory for recently read chunks (default 64)")
      ->check(CLI::Range(1, 1 << 16));
  cmd->callback([&g, run, a] { *run = [&g, a] { return RunMount(*a, g); }; });
}

}  // namespace dr::cli
