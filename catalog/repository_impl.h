// Repository::Impl: the state behind catalog/repository.h, shared by the
// files that implement it (repository.cc: opening, reading and writing;
// repository_index.cc: loading the index and keeping it current). Private
// to catalog/.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "catalog/repository.h"
#include "catalog/session_marker.h"
#include "core/bounded_queue.h"

namespace dr {

struct Repository::Impl {
  // `config.secret` is filled in (from `keys` when encrypted).
  Impl(std::unique_ptr<ObjectStore> store, RepoConfig config, std::unique_ptr<Keyring> keys)
      : store_(std::move(store)),
        config_(std::move(config)),
        hasher_(config_.secret),
        names_(config_.naming_secret()),
        keys_(std::move(keys)) {}
  ~Impl();

  struct PendingPack {
    std::string bytes;
    std::vector<PackEntry> entries;
  };
  Status LoadIndex();
  Status RefreshExclusions();
  bool HasBlob(const Id& id) const;
  std::optional<BlobLocation> FindBlob(const Id& id) const;
  Result<std::string> LoadBlob(const Id& id);
  Result<std::string_view> LoadBlobView(const Id& id, BlobBuffers* buffers);
  bool Claim(const Id& id);
  Status AddBlob(BlobType type, const Id& id, std::string_view stored, uint32_t raw_len);
  Status AddPacked(BlobType type, const Id& id, std::string_view packed, uint32_t raw_len);
  Result<std::string_view> DecodePacked(BlobType type, const Id& id, uint32_t raw_len,
                                        std::string_view packed, const std::string& what,
                                        BlobBuffers* buffers) const;
  Result<Id> StoreMetadata(std::string_view raw);
  void SealOpenPack();
  Status Flush();
  Result<Id> CommitSnapshotObject(const std::string& object);
  Status write_error() const;
  Result<int> AdoptUnindexedPacks();
  void EnqueuePack(PendingPack pack);
  void WriterLoop();
  Status WritePack(std::string pack, std::vector<PackEntry> entries);
  Status WriteIndexSegment(std::vector<IndexPack> packs);
  void LatchError(const Status& s);

  std::unique_ptr<ObjectStore> store_;
  std::unique_ptr<SessionMarker> session_;  // declared after store_: removed before it closes
  RepoConfig config_;
  KeyedHasher hasher_;
  KeyedHasher names_;
  std::unique_ptr<const Keyring> keys_;  // null unless encrypted
  std::vector<std::string> open_warnings_;

  mutable std::shared_mutex index_mu_;
  ChunkIndex index_;                        // GUARDED_BY(index_mu_)
  std::unordered_set<Id, IdHash> claimed_;  // GUARDED_BY(index_mu_)
  std::vector<IndexPack> unwritten_index_;  // GUARDED_BY(index_mu_)
  // Each index segment read or written, with the packs it lists: a segment
  // that disappears from the store was replaced by a prune (see
  // RefreshExclusions).
  std::unordered_map<std::string, std::vector<Id>> loaded_segments_;  // GUARDED_BY(index_mu_)
  bool index_loaded_ = false;

  std::mutex pack_mu_;
  PackBuilder pack_;  // GUARDED_BY(pack_mu_)

  // Background pack writers, started with the first full pack.
  std::unique_ptr<BoundedQueue<PendingPack>> write_queue_;
  std::vector<std::thread> writers_;
  std::mutex inflight_mu_;
  std::condition_variable inflight_cv_;
  int inflight_ = 0;  // GUARDED_BY(inflight_mu_): packs queued or being written

  mutable std::mutex error_mu_;
  Status first_error_;  // GUARDED_BY(error_mu_)

  std::atomic<uint64_t> blobs_added_{0}, bytes_added_{0}, raw_bytes_added_{0}, packs_written_{0};
};

// The pack ids a decoded index segment lists.
std::vector<Id> PacksOf(const std::vector<IndexPack>& segment);

}  // namespace dr
