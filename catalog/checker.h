// Repository check: structure always, data on request.
//
// Structure: config, every index segment, every pack header against the
// index, every snapshot and every tree it reaches, and that each chunk a file
// uses is indexed. With read_data: every pack is read whole, its id (keyed
// hash of its bytes) verified, and every blob decompressed and verified
// against its id; damaged blobs are traced to the files that use them.
#pragma once

#include <string>
#include <vector>

#include "catalog/repository.h"
#include "core/progress.h"

namespace dr {

enum class ProblemKind {
  kIndex,            // an index segment cannot be read
  kPackMissing,      // indexed pack absent from the store
  kPackDamaged,      // pack unreadable, wrong id, bad header
  kBlobDamaged,      // a blob does not decompress or does not match its id
  kSnapshotDamaged,  // snapshot object unreadable
  kTreeDamaged,      // a tree blob cannot be loaded or decoded
  kBlobMissing,      // a file or tree references an unindexed blob
  kFileDamaged,      // a file in a snapshot uses a damaged or missing blob
  kUnindexedPack,    // informational: left by an interrupted backup, reclaimable
  kCondemnedGone,    // informational: a condemned pack an interrupted prune already deleted
  kKeyDamaged,       // a key slot or sealed keyring is malformed (CheckWithoutKey)
};

const char* ProblemKindName(ProblemKind k);

struct CheckProblem {
  ProblemKind kind;
  std::string where;  // pack, snapshot or "snapshot abcd1234 /path/file"
  std::string message;
  bool IsError() const {
    return kind != ProblemKind::kUnindexedPack && kind != ProblemKind::kCondemnedGone;
  }
};

struct CheckOptions {
  bool read_data = false;
  int threads = 0;  // 0 = one per core
  ProgressCounters* progress = nullptr;
};

struct CheckReport {
  uint64_t packs = 0, blobs = 0, snapshots = 0, trees = 0, files = 0;
  uint64_t bytes_read = 0;
  std::vector<CheckProblem> problems;
  double seconds = 0;
  size_t error_count() const;
};

// Returns a report; only failing to list the store itself is an error.
Result<CheckReport> CheckRepository(Repository& repo, const CheckOptions& options);

// What a site holding no key (the off-site provider's copy) can check of an
// encrypted repository: the config, every index segment and that each pack
// it lists is present, every snapshot's name and envelope, every snapshot
// summary, key slot and sealed keyring; with read_data, every pack's bytes against its name
// and its layout, each blob the size of a sealed one (object_verify.h).
// Whether blobs open and what snapshots reference needs the key
// (CheckRepository). InvalidArgument for a plaintext repository.
Result<CheckReport> CheckWithoutKey(ObjectStore* store, const CheckOptions& options);

}  // namespace dr
