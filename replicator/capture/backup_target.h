// BackupTarget: where a backup run puts what it captures. The walker in
// backup.cc does not know whether the repository is local or behind a vault:
//  - MakeRepositoryTarget: a Repository opened here (dir://, rados://);
//  - RemoteTarget (remote_target.h): a vault session over ZeroMQ, which asks
//    the vault which chunks it lacks and sends only those.
//
// Contract: AddChunk/AddMetadata are called from one thread (the walker)
// while earlier chunks are still being compressed and stored; the first
// storage error is latched and returned by every later call. FinishWrites
// ends the writing; Commit stores the snapshot only after everything added
// before it is durable (docs/design.md: a snapshot is written last).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/format/repo_config.h"
#include "catalog/format/snapshot.h"
#include "catalog/format/tree.h"
#include "catalog/repository.h"
#include "core/hash.h"
#include "core/status.h"

namespace dr {

class BackupTarget {
 public:
  virtual ~BackupTarget() = default;

  virtual const ChunkerParams& chunker() const = 0;
  virtual const KeyedHasher& hasher() const = 0;
  // Tidies the target before a run (a local repository adopts packs left by
  // an interrupted backup).
  virtual Status Prepare() = 0;

  // ---- what the parent snapshot looked like
  virtual Result<std::vector<Snapshot>> ListSnapshots() = 0;
  virtual Result<Snapshot> FindSnapshot(const std::string& spec) = 0;
  // A metadata blob's raw bytes (a tree or a block map part), verified
  // against its id.
  virtual Result<std::string> LoadMetadata(const Id& id) = 0;
  Result<Tree> LoadTree(const Id& id) {
    ASSIGN_OR_RETURN(std::string raw, LoadMetadata(id));
    return DecodeTree(raw, "tree " + id.Hex());
  }
  // Whether the parent's chunk ids `ids` may be recorded for an unchanged
  // file (or unchanged blocks) without reading and offering the data again.
  //  - local: true only if every id is indexed now, so a chunk lost from the
  //    repository is read and stored again (a damaged parent never
  //    propagates);
  //  - vault: true without asking (asking would cost a round trip and 16
  //    bytes per chunk for every unchanged file). The vault refuses a commit
  //    whose trees or block map reference anything it does not store, so a
  //    wrong answer fails that backup; it never yields a snapshot lacking data.
  virtual bool MayReuse(const std::vector<Id>& ids) = 0;

  // ---- storing
  // Stores a chunk unless the target already has it. `data` is copied.
  virtual Status AddChunk(const Id& id, std::string_view data) = 0;
  // Stores a metadata blob (if new) and returns its id.
  virtual Result<Id> AddMetadata(std::string raw) = 0;
  Result<Id> AddTree(const Tree& tree) { return AddMetadata(EncodeTree(tree)); }
  // Ends the writing: waits until every chunk and metadata blob added so far
  // is durable at the target and stops the target's compression workers.
  // Returns the first error. Afterwards AddChunk and AddMetadata fail and
  // only write_stats and Commit may follow. Calling it again is harmless.
  virtual Status FinishWrites() = 0;
  // Stored bytes and blobs this target added since it was made.
  virtual WriteStats write_stats() const = 0;
  // FinishWrites(), then store the snapshot; returns its id.
  virtual Result<Id> Commit(const Snapshot& snapshot) = 0;
};

// A target writing into `repo` with `threads` compression workers (0: one per
// core). `repo` must outlive the target.
std::unique_ptr<BackupTarget> MakeRepositoryTarget(Repository& repo, int threads);

}  // namespace dr
