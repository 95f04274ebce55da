#include <sys/stat.h>

#include <cerrno>
#include <cstdio>

#include "core/timefmt.h"
#include "replicator/capture/backup.h"
#include "replicator/capture/block_backup.h"
#include "replicator/wire/remote_target.h"
#include "replicator/wire/vault_client.h"
#include "tools/drctl/cli.h"

namespace dr::cli {

namespace {

// "1M", "4MiB", "65536": bytes.
bool ParseSize(const std::string& text, uint32_t* out) {
  char* end = nullptr;
  unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  std::string unit = end;
  if (unit == "K" || unit == "KiB" || unit == "k")
    v <<= 10;
  else if (unit == "M" || unit == "MiB")
    v <<= 20;
  else if (!unit.empty() || end == text.c_str())
    return false;
  if (v > UINT32_MAX) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

struct BlockArgs {
  std::string image, device, block_size;
  BlockBackupOptions opts;
};

int PrintBlockBackup(const GlobalOptions& g, const BackupResult& r, const VaultClient* vault) {
  const Snapshot& s = r.snapshot;
  const SnapshotStats& st = s.stats;
  const BlockInfo& b = *s.block;
  for (const auto& w : r.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  if (g.json) {
    nlohmann::json out = BlockInfoJson(b);
    out.update({{"snapshot", s.id.Hex()},
                {"source", s.paths.front()},
                {"consistency", s.consistency},
                {"warnings", r.warnings},
                {"bytes_read", st.bytes_read},
                {"bytes_added", st.bytes_added},
                {"blobs_added", st.blobs_added},
                {"duration_s", st.duration_s}});
    if (vault) out["wire_bytes_sent"] = vault->stats().bytes_sent;
    PrintJson(out);
  } else if (!g.quiet) {
    std::printf(
        "snapshot %s saved: %s %s, %s in %u KiB blocks: %llu changed, %llu zero; read %s "
        "(%s), added %s to the repository in %.1fs; consistency: %s\n",
        s.ShortId().c_str(), b.source_kind.c_str(), s.paths.front().c_str(),
        HumanBytes(b.length).c_str(), b.block_size >> 10,
        static_cast<unsigned long long>(b.changed_blocks),
        static_cast<unsigned long long>(b.zero_blocks), HumanBytes(st.bytes_read).c_str(),
        b.method.c_str(), HumanBytes(st.bytes_added).c_str(), st.duration_s, s.consistency.c_str());
    if (vault) {
      std::printf("sent %s to vault %s (namespace %s)\n",
                  HumanBytes(vault->stats().bytes_sent).c_str(), vault->address().endpoint.c_str(),
                  vault->address().nspace.c_str());
    }
  }
  return kExitOk;
}

// The block source must be what the operator said it is.
Status CheckBlockSource(const BlockArgs& block, const std::string& source) {
  struct stat st;
  if (::stat(source.c_str(), &st) != 0) return Status::FromErrno(errno, "stat " + source);
  if (!block.device.empty() && !S_ISBLK(st.st_mode))
    return Status::InvalidArgument("--device " + source + " is not a block device");
  if (!block.image.empty() && !S_ISREG(st.st_mode))
    return Status::InvalidArgument("--image " + source + " is not a regular file" +
                                   (S_ISBLK(st.st_mode) ? " (use --device)" : ""));
  return Status::OK();
}

int RunBlock(const GlobalOptions& g, const BackupOptions& opts, BlockArgs& block, OpenedTarget& t) {
  BlockBackupOptions& bo = block.opts;
  bo.source = block.image.empty() ? block.device : block.image;
  if (Status s = CheckBlockSource(block, bo.source); !s.ok()) return Fail(s);
  ProgressCounters counters;
  bo.tags = opts.tags;
  bo.policy = opts.policy;
  bo.host = opts.host;
  bo.parent = opts.parent;
  bo.read_all = bo.read_all || opts.force_reread;
  bo.progress = &counters;
  auto r = WithProgress(g, &counters, "backup", [&] { return RunBlockBackup(*t.target, bo); });
  if (!r.ok()) return Fail(r.status());
  return PrintBlockBackup(g, *r, t.vault.get());
}

void PrintFileBackup(const GlobalOptions& g, const BackupResult& r, const VaultClient* vault,
                     const std::optional<ChangeRecord>& change) {
  const Snapshot& s = r.snapshot;
  const SnapshotStats& st = s.stats;
  for (const auto& w : r.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  const uint64_t wire_bytes = vault ? vault->stats().bytes_sent : 0;
  if (g.json) {
    nlohmann::json out = {{"snapshot", s.id.Hex()},
                          {"partial", s.partial},
                          {"warnings", r.warnings},
                          {"files_new", st.files_new},
                          {"files_changed", st.files_changed},
                          {"files_unchanged", st.files_unchanged},
                          {"dirs", st.dirs},
                          {"bytes_total", st.bytes_total},
                          {"bytes_read", st.bytes_read},
                          {"bytes_added", st.bytes_added},
                          {"blobs_added", st.blobs_added},
                          {"duration_s", st.duration_s},
                          {"consistency", s.consistency}};
    if (vault) out["wire_bytes_sent"] = wire_bytes;
    if (change) out["change"] = ChangeRecordJson(*change);
    PrintJson(out);
    return;
  }
  if (g.quiet) return;
  std::printf(
      "snapshot %s saved%s: %llu new, %llu changed, %llu unchanged files, %llu dirs; "
      "read %s of %s, added %s to the repository in %.1fs\n",
      s.ShortId().c_str(), s.partial ? " (PARTIAL: see warnings)" : "",
      static_cast<unsigned long long>(st.files_new),
      static_cast<unsigned long long>(st.files_changed),
      static_cast<unsigned long long>(st.files_unchanged), static_cast<unsigned long long>(st.dirs),
      HumanBytes(st.bytes_read).c_str(), HumanBytes(st.bytes_total).c_str(),
      HumanBytes(st.bytes_added).c_str(), st.duration_s);
  if (vault) {
    std::printf("sent %s to vault %s (namespace %s)\n", HumanBytes(wire_bytes).c_str(),
                vault->address().endpoint.c_str(), vault->address().nspace.c_str());
  }
}

int RunFiles(const GlobalOptions& g, BackupOptions& opts, OpenedTarget& t) {
  ProgressCounters counters;
  opts.progress = &counters;
  auto r = WithProgress(g, &counters, "backup", [&] { return RunBackup(*t.target, opts); });
  if (!r.ok()) return Fail(r.status());
  // Sent to a vault, the vault weighs it (it never trusts the agent's word).
  std::optional<ChangeRecord> change;
  if (t.repo) change = WatchLocalBackup(*t.repo, r->snapshot);
  PrintFileBackup(g, *r, t.vault.get(), change);
  return r->snapshot.partial ? kExitPartial : kExitOk;
}

}  // namespace

void AddBackupCommand(CLI::App& app, GlobalOptions& g, Runner* run) {
  auto* cmd = app.add_subcommand(
      "backup",
      "back up files and directories, or a disk image or block device, into a new snapshot");
  auto opts = std::make_shared<BackupOptions>();
  auto parent = std::make_shared<std::string>();
  auto block = std::make_shared<BlockArgs>();
  cmd->add_option("paths", opts->paths, "files and directories to back up");
  cmd->add_option("--image", block->image,
                  "back up this disk image file at block level instead of paths");
  cmd->add_option("--device", block->device, "back up this block device at block level");
  cmd->add_option("--block-size", block->block_size,
                  "block size for --image/--device, e.g. 1M or 4M (default 1M)");
  cmd->add_option("--pre-hook", block->opts.pre_hook,
                  "shell command run before the capture (e.g. fsfreeze -f /mnt for the file "
                  "system on a device; never the one holding an image); $DR_SOURCE names the "
                  "(first) source; failure aborts the backup");
  cmd->add_option("--post-hook", block->opts.post_hook,
                  "shell command run once the capture no longer needs the source frozen (right "
                  "after a reflink copy or btrfs snapshot, else after reading)");
  cmd->add_flag("--btrfs-snapshot", opts->btrfs_snapshot,
                "read the paths from read-only btrfs snapshots of their subvolumes (taken at "
                "the start, deleted at the end)");
  cmd->add_flag("--read-all", block->opts.read_all,
                "read every block of an image, even where its extents show no change");
  cmd->add_option("-e,--exclude", opts->excludes,
                  "glob to leave out; without '/' it matches a name at any depth");
  cmd->add_flag("-x,--one-file-system", opts->one_file_system, "do not cross mount points");
  cmd->add_option("--tag", opts->tags, "tag the snapshot (repeatable)");
  cmd->add_option("--host", opts->host, "host name recorded in the snapshot");
  cmd->add_option("--policy", opts->policy,
                  "record the snapshot as taken for this policy, so that policy's retention "
                  "weighs it (what drctl run and dragent run do)");
  cmd->add_option("--parent", *parent,
                  "snapshot to compare with (default: latest of same host+paths)");
  cmd->add_flag("--force", opts->force_reread, "read every file, ignoring the parent's metadata");
  cmd->add_option("--threads", opts->threads, "compression threads (default: one per core)");
  cmd->callback([&g, run, opts, parent, block] {
    *run = [&g, opts, parent, block] {
      const int sources = !opts->paths.empty() + !block->image.empty() + !block->device.empty();
      if (sources != 1) {
        std::fprintf(stderr,
                     "%s: backup needs paths, or --image FILE, or --device DEV (one of them)\n",
                     ProgramName());
        return kExitUsage;
      }
      if (!block->block_size.empty() && !ParseSize(block->block_size, &block->opts.block_size)) {
        std::fprintf(stderr, "%s: --block-size %s: expected a size such as 1M or 4M\n",
                     ProgramName(), block->block_size.c_str());
        return kExitUsage;
      }
      if (g.repo.empty())
        return Fail(
            Status::InvalidArgument("no repository given (use -r PATH or set DR_REPOSITORY)"));
      // A local repository, or a vault session that stores only what the vault lacks.
      auto keys = KeySourceFor(g.repo);
      if (!keys.ok()) return Fail(keys.status());
      auto opened = OpenBackupTarget(g.repo, opts->threads, *keys);
      if (!opened.ok()) return Fail(opened.status());
      if (!parent->empty()) opts->parent = *parent;
      opts->pre_hook = block->opts.pre_hook;
      opts->post_hook = block->opts.post_hook;
      if (opts->paths.empty()) return RunBlock(g, *opts, *block, *opened);
      return RunFiles(g, *opts, *opened);
    };
  });
}

}  // namespace dr::cli
