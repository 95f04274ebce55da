// Block-level backup of a disk image or block device: fixed-size blocks, a
// block map per snapshot (catalog/format/block_map.h), and incrementals that store
// only blocks differing from the parent's map.
//
// Finding changed blocks: for an image file on a copy-on-write file system,
// the backup reads from a reflink copy of the image (a point-in-time copy)
// and keeps it next to the image until the next backup, which compares the
// two copies' extents (replicator/capture/extent_compare.h) and reads only the
// blocks whose extents differ. Elsewhere every block is read and hashed;
// holes (SEEK_DATA/SEEK_HOLE) and all-zero blocks are never stored. The
// snapshot records which method and what consistency were used.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/env/block_source.h"
#include "core/progress.h"
#include "core/status.h"
#include "replicator/capture/backup.h"
#include "replicator/capture/backup_target.h"

namespace dr {

// 1 MiB: chosen by measurement (README "Block size"): a quarter of the
// incremental volume of 4 MiB blocks for scattered 4 KiB writes, for a map of
// 17 bytes per MiB.
inline constexpr uint32_t kDefaultBlockSize = 1 << 20;

struct BlockBackupOptions {
  std::string source;  // image file or block device
  uint32_t block_size = kDefaultBlockSize;
  std::vector<std::string> tags;
  std::string policy;                 // recorded in the snapshot (policies/policy.h)
  std::string host;                   // default: this machine's host name
  std::optional<std::string> parent;  // default: latest block snapshot of same host and source
  bool read_all = false;              // read every block even when extents could be compared
  // Shell commands run before and after capturing (e.g. fsfreeze -f / -u).
  // A failing pre-hook aborts the backup; the post-hook always runs once the
  // pre-hook did.
  std::string pre_hook, post_hook;
  ProgressCounters* progress = nullptr;
  // How to open the source (tests inject faults); default OpenBlockSource.
  std::function<Result<std::unique_ptr<BlockSource>>(const std::string& path,
                                                     const std::string& display)>
      open_source;
};

// Errors abort the backup and write no snapshot: an unreadable or vanishing
// source, a source whose size changes while it is read, a failing pre-hook,
// storage errors.
Result<BackupResult> RunBlockBackup(BackupTarget& target, const BlockBackupOptions& options);

}  // namespace dr
