// The local BackupTarget: chunks the repository lacks are claimed, compressed
// by a CompressPool and appended to packs.
#include "catalog/session_marker.h"
#include "replicator/capture/backup_target.h"
#include "replicator/capture/compress_pool.h"

namespace dr {
namespace {

// Bytes of chunk data that may wait between the reader and the compressors.
constexpr size_t kQueueBytes = 16 << 20;

class RepositoryTarget : public BackupTarget {
 public:
  RepositoryTarget(Repository& repo, int threads)
      : repo_(repo),
        before_(repo.write_stats()),
        pool_(threads, repo.config().compression_level, kQueueBytes,
              [this](BlobType type, const Id& id, std::string_view stored, uint32_t raw_len) {
                return repo_.AddBlob(type, id, stored, raw_len);
              }) {}

  const ChunkerParams& chunker() const override { return repo_.config().chunker; }
  const KeyedHasher& hasher() const override { return repo_.hasher(); }
  // The marker goes up before the condemnation records are read, so a
  // concurrent prune either waits for this backup or this backup sees what
  // it condemned (catalog/gc_record.h).
  Status Prepare() override {
    ASSIGN_OR_RETURN(marker_, SessionMarker::Begin(repo_.store(), "backup"));
    RETURN_IF_ERROR(repo_.RefreshExclusions());
    return repo_.AdoptUnindexedPacks().status();
  }

  Result<std::vector<Snapshot>> ListSnapshots() override { return repo_.ListSnapshots(); }
  Result<Snapshot> FindSnapshot(const std::string& spec) override {
    return repo_.FindSnapshot(spec);
  }
  Result<std::string> LoadMetadata(const Id& id) override { return repo_.LoadBlob(id); }
  bool MayReuse(const std::vector<Id>& ids) override {
    for (const Id& id : ids)
      if (!repo_.HasBlob(id)) return false;
    return true;
  }

  Status AddChunk(const Id& id, std::string_view data) override {
    RETURN_IF_ERROR(CheckWritable());
    if (!repo_.Claim(id)) return pool_.status();
    return pool_.Push(BlobType::kData, id, std::string(data));
  }
  Result<Id> AddMetadata(std::string raw) override {
    RETURN_IF_ERROR(CheckWritable());
    return repo_.StoreMetadata(raw);
  }
  Status FinishWrites() override {
    finished_ = true;
    RETURN_IF_ERROR(pool_.Finish());
    return repo_.Flush();
  }
  WriteStats write_stats() const override {
    WriteStats now = repo_.write_stats();
    return {now.blobs_added - before_.blobs_added, now.bytes_added - before_.bytes_added,
            now.raw_bytes_added - before_.raw_bytes_added,
            now.packs_written - before_.packs_written};
  }
  Result<Id> Commit(const Snapshot& snapshot) override {
    RETURN_IF_ERROR(FinishWrites());
    if (marker_) RETURN_IF_ERROR(marker_->StillValid());
    return repo_.CommitSnapshot(snapshot);
  }

 private:
  Status CheckWritable() const {
    if (finished_) return Status::InvalidArgument("backup target: write after FinishWrites");
    return pool_.status();
  }

  Repository& repo_;
  const WriteStats before_;
  bool finished_ = false;
  CompressPool pool_;
  std::unique_ptr<SessionMarker> marker_;
};

}  // namespace

std::unique_ptr<BackupTarget> MakeRepositoryTarget(Repository& repo, int threads) {
  return std::make_unique<RepositoryTarget>(repo, threads);
}

}  // namespace dr
