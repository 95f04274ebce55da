// Read-only btrfs snapshots for file-level backups: the files are read from
// an instant, unchanging copy of the subvolume instead of the live tree.
#pragma once

#include <sys/types.h>
#include <memory>

#include <string>
#include <vector>

#include "core/env/fd.h"
#include "core/status.h"

namespace dr {

// st_ino of the placeholder a nested subvolume leaves in a snapshot.
inline constexpr ino_t kBtrfsEmptySubvolumeInode = 2;

// Mount points strictly below any of `paths` (from /proc/self/mountinfo).
std::vector<std::string> MountPointsUnder(const std::vector<std::string>& paths);

class BtrfsSnapshot {
 public:
  // Makes a read-only snapshot of the subvolume holding `path` (absolute),
  // inside that subvolume's root directory. InvalidArgument when `path` is
  // not on btrfs.
  static Result<std::unique_ptr<BtrfsSnapshot>> Create(const std::string& path);
  ~BtrfsSnapshot();  // deletes the snapshot
  BtrfsSnapshot(const BtrfsSnapshot&) = delete;
  BtrfsSnapshot& operator=(const BtrfsSnapshot&) = delete;

  // The subvolume's root directory (the live one).
  const std::string& subvolume() const { return subvolume_; }
  // Whether `path` lies in this subvolume (and not in a nested one).
  bool Holds(const std::string& path) const;
  // Where `path` (in the subvolume) is found inside the snapshot.
  std::string Translate(const std::string& path) const;

 private:
  BtrfsSnapshot(std::string subvolume, std::string name, dev_t dev, UniqueFd held)
      : subvolume_(std::move(subvolume)),
        name_(std::move(name)),
        dev_(dev),
        held_(std::move(held)) {}
  std::string subvolume_, name_;
  dev_t dev_;
  UniqueFd held_;  // the snapshot's directory, shared-locked while it is in use
};

}  // namespace dr
