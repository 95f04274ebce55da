// SnapshotFs: a repository's snapshots as a read-only file tree, the part
// of `drctl mount` that knows nothing of FUSE (fuse_mount.h is the glue).
//
//   /snapshots/<time>_<id>/...   each snapshot: its files, or for a block
//                                snapshot one file holding the whole image
//   /latest                      symlink to the newest snapshot
//   /hosts/<host>/<time>_<id>    symlinks into /snapshots, per host
//
// <id> is the first 8 hex digits, or all 32 where two snapshots of the same
// second share them. <host> has '/', '%' and NUL percent-encoded ("%" for
// no host).
//
// File content is read lazily, chunk by chunk, each chunk verified against
// its id as it is loaded, through a cache bounded in bytes. Every method is
// safe from several threads at once (FUSE serves requests in parallel).
// The snapshot list is read again when it is older than `refresh` and
// someone looks at it, so new snapshots appear without remounting.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "catalog/repository.h"
#include "restore/mount/chunk_cache.h"

namespace dr {

// What stat(2) shows: `mode` includes the file type bits (S_IFREG, ...).
struct FsAttr {
  uint64_t ino = 0;
  uint32_t mode = 0;
  uint64_t nlink = 1;
  uint32_t uid = 0, gid = 0;
  uint64_t size = 0;
  uint64_t stored = 0;  // bytes not in holes (st_blocks * 512, rounded up)
  uint64_t rdev = 0;
  int64_t mtime_ns = 0, ctime_ns = 0;
};

struct FsEntry {
  std::string name;
  FsAttr attr;
};

class SnapshotFs {
 public:
  struct Options {
    uint64_t cache_bytes = 64 << 20;
    std::string host;  // only this host's snapshots, when given
    std::chrono::seconds refresh{10};
  };
  // Lists the snapshots now (an unreadable repository fails here, not on
  // the first `ls`).
  static Result<std::unique_ptr<SnapshotFs>> Create(std::unique_ptr<Repository> repo,
                                                    const Options& options);

  // `path` is absolute ("/", "/snapshots/..."). Errors: NotFound (ENOENT),
  // InvalidArgument for "not a directory" or "not a symlink" (ENOTDIR,
  // EINVAL), anything else is damage or I/O (EIO).
  Result<FsAttr> GetAttr(const std::string& path);
  Result<std::vector<FsEntry>> ReadDir(const std::string& path);
  Result<std::string> ReadLink(const std::string& path);
  Result<std::vector<std::pair<std::string, std::string>>> Xattrs(const std::string& path);

  // Open files are handles; Read returns fewer bytes only at the end.
  Result<uint64_t> Open(const std::string& path);
  Result<size_t> Read(uint64_t handle, uint64_t offset, size_t size, char* out);
  void Release(uint64_t handle);
  // lseek(2)'s SEEK_DATA (`data`) and SEEK_HOLE, so sparse copies stay
  // sparse. NotFound (ENXIO) when there is no data at or after `offset`.
  Result<uint64_t> Seek(uint64_t handle, uint64_t offset, bool data);

  // The directory name a snapshot has under /snapshots.
  static std::string SnapshotDirName(const Snapshot& s);
  const ChunkCache& cache() const { return cache_; }
  Repository& repository() { return *repo_; }

 private:
  struct OpenFile;
  struct Located;  // a path resolved to a virtual entry or a snapshot node
  SnapshotFs(std::unique_ptr<Repository> repo, const Options& options);
  Status Refresh(bool force);
  Result<Located> Locate(const std::string& path);
  Result<std::shared_ptr<const Tree>> LoadTree(const Id& id);
  Result<std::shared_ptr<const BlockMap>> LoadBlockMap(const Snapshot& s);
  FsAttr AttrOf(const Located& at);
  Result<std::shared_ptr<OpenFile>> FileOf(uint64_t handle);

  std::unique_ptr<Repository> repo_;
  Options options_;
  ChunkCache cache_;

  std::mutex snapshots_mu_;
  std::map<std::string, Snapshot> by_name_;  // GUARDED_BY(snapshots_mu_)
  std::string latest_;                       // GUARDED_BY(snapshots_mu_)
  std::chrono::steady_clock::time_point listed_at_;
  int64_t mounted_ns_ = 0;

  std::mutex trees_mu_;
  std::unordered_map<Id, std::shared_ptr<const Tree>, IdHash> trees_;  // GUARDED_BY(trees_mu_)
  uint64_t tree_bytes_ = 0;                                            // GUARDED_BY(trees_mu_)
  std::unordered_map<Id, std::shared_ptr<const BlockMap>, IdHash> maps_;

  std::mutex files_mu_;
  std::unordered_map<uint64_t, std::shared_ptr<OpenFile>> files_;  // GUARDED_BY(files_mu_)
  uint64_t next_handle_ = 1;
};

}  // namespace dr
