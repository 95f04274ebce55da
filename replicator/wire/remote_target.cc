#include "replicator/wire/remote_target.h"

#include <atomic>
#include <deque>
#include <future>
#include <unordered_set>

#include "catalog/format/repo_config.h"
#include "catalog/keyring.h"
#include "replicator/capture/compress_pool.h"
#include "replicator/wire/vault_store.h"

namespace dr {
namespace {

constexpr size_t kBatchIds = 128;
constexpr size_t kBatchBytes = 8 << 20;
constexpr size_t kBatchesInFlight = 3;
constexpr size_t kQueueBytes = 16 << 20;

class RemoteTarget : public BackupTarget {
 public:
  RemoteTarget(std::shared_ptr<VaultClient> client, ChunkerParams chunker, int threads)
      : client_(std::move(client)),
        chunker_(chunker),
        hasher_(client_->welcome().secret),
        reader_(client_),
        pool_(threads, client_->welcome().compression_level, kQueueBytes,
              [this](BlobType type, const Id& id, std::string_view stored, uint32_t raw_len) {
                blobs_++;
                bytes_ += stored.size();
                raw_bytes_ += raw_len;
                return client_->SendBlob(wire::Blob{0, type, id, raw_len, std::string(stored)});
              }) {}

  const ChunkerParams& chunker() const override { return chunker_; }
  const KeyedHasher& hasher() const override { return hasher_; }
  Status Prepare() override { return Status::OK(); }

  // Parent candidates: only what the vault accepted from this agent, even
  // when its restore right lets it read other agents' snapshots (the vault
  // would refuse any other parent at commit).
  Result<std::vector<Snapshot>> ListSnapshots() override {
    std::vector<Snapshot> all;
    const std::string& handed = client_->welcome().keyring;
    if (handed.empty()) {
      ASSIGN_OR_RETURN(all, ListSnapshotsIn(&reader_, hasher_));
    } else {  // an encrypted namespace: names keyed apart, snapshots sealed
      ASSIGN_OR_RETURN(std::string config_object, reader_.Get("config"));
      ASSIGN_OR_RETURN(RepoConfig config,
                       RepoConfig::Decode(config_object, reader_.Url() + "/config"));
      ASSIGN_OR_RETURN(Keyring keyring, Keyring::Decode(handed, "keyring handed by the vault"));
      ASSIGN_OR_RETURN(
          all, ListSnapshotsIn(&reader_, KeyedHasher(config.naming_secret()), nullptr, &keyring));
    }
    const std::string& me = client_->welcome().identity;
    std::erase_if(all, [&](const Snapshot& s) { return s.identity != me; });
    return all;
  }
  Result<Snapshot> FindSnapshot(const std::string& spec) override {
    ASSIGN_OR_RETURN(auto all, ListSnapshots());
    return PickSnapshot(all, spec, reader_.Url());
  }
  Result<std::string> LoadMetadata(const Id& id) override {
    std::string raw;
    uint64_t size = 0;
    do {  // in pages: a large directory's tree does not fit one frame
      ASSIGN_OR_RETURN(wire::Data d,
                       Expect<wire::Data>(client_->Call(wire::GetTree{0, id, raw.size()})));
      if ((d.bytes.empty() && d.object_size > raw.size()) || d.object_size > kMaxBlobBytes ||
          (size != 0 && d.object_size != size))
        return Status::Corruption("metadata blob " + id.Hex() +
                                  ": the vault's pages do not add up to one blob");
      size = d.object_size;
      raw += d.bytes;
    } while (raw.size() < size);
    if (raw.size() != size || hasher_.Hash(raw) != id)
      return Status::Corruption("metadata blob " + id.Hex() +
                                " from the vault does not match its id");
    return raw;
  }
  // See BackupTarget::MayReuse: the vault checks, before it commits, that
  // everything the new trees reference is stored (vault.cc, HandleCommit).
  bool MayReuse(const std::vector<Id>&) override { return true; }

  Status AddChunk(const Id& id, std::string_view data) override {
    return Offer(BlobType::kData, id, std::string(data));
  }
  Result<Id> AddMetadata(std::string raw) override {
    Id id = hasher_.Hash(raw);
    RETURN_IF_ERROR(Offer(BlobType::kTree, id, std::move(raw)));
    return id;
  }
  Status FinishWrites() override {
    finished_ = true;
    RETURN_IF_ERROR(SubmitBatch());
    while (!inflight_.empty()) RETURN_IF_ERROR(ResolveOldest());
    RETURN_IF_ERROR(pool_.Finish());
    return client_->WaitBlobsAcked();
  }
  WriteStats write_stats() const override {
    return {blobs_.load(), bytes_.load(), raw_bytes_.load(), 0};
  }
  Result<Id> Commit(const Snapshot& snapshot) override {
    RETURN_IF_ERROR(FinishWrites());
    ASSIGN_OR_RETURN(
        wire::Committed c,
        Expect<wire::Committed>(client_->Call(wire::Commit{0, EncodeSnapshot(snapshot)})));
    return c.snapshot;
  }

 private:
  struct Item {
    BlobType type;
    Id id;
    std::string raw;
  };
  struct Batch {
    std::vector<Item> items;
    size_t bytes = 0;
    std::future<Result<wire::Message>> answer;
  };

  // Called from the walker thread only.
  Status Offer(BlobType type, const Id& id, std::string raw) {
    if (finished_) return Status::InvalidArgument("backup target: write after FinishWrites");
    RETURN_IF_ERROR(pool_.status());
    if (!offered_.insert(id).second) return Status::OK();  // already on its way
    open_.bytes += raw.size();
    open_.items.push_back({type, id, std::move(raw)});
    if (open_.items.size() >= kBatchIds || open_.bytes >= kBatchBytes) return SubmitBatch();
    return Status::OK();
  }

  Status SubmitBatch() {
    if (open_.items.empty()) return Status::OK();
    std::vector<Id> ids;
    for (const auto& it : open_.items) ids.push_back(it.id);
    open_.answer = client_->Request(wire::Query{0, std::move(ids)});
    inflight_.push_back(std::move(open_));
    open_ = Batch{};
    while (inflight_.size() > kBatchesInFlight) RETURN_IF_ERROR(ResolveOldest());
    return Status::OK();
  }

  Status ResolveOldest() {
    Batch b = std::move(inflight_.front());
    inflight_.pop_front();
    ASSIGN_OR_RETURN(wire::Missing missing, Expect<wire::Missing>(b.answer.get()));
    std::unordered_set<Id, IdHash> lacking(missing.ids.begin(), missing.ids.end());
    for (auto& it : b.items) {
      if (lacking.count(it.id)) RETURN_IF_ERROR(pool_.Push(it.type, it.id, std::move(it.raw)));
    }
    return Status::OK();
  }

  std::shared_ptr<VaultClient> client_;
  const ChunkerParams chunker_;
  const KeyedHasher hasher_;
  VaultStore reader_;  // snapshot list for the parent
  std::unordered_set<Id, IdHash> offered_;
  Batch open_;
  std::deque<Batch> inflight_;
  bool finished_ = false;
  std::atomic<uint64_t> blobs_{0}, bytes_{0}, raw_bytes_{0};
  CompressPool pool_;  // last: its workers use the members above until joined
};

}  // namespace

Result<std::unique_ptr<BackupTarget>> MakeRemoteTarget(std::shared_ptr<VaultClient> client,
                                                       int threads) {
  const wire::Welcome& w = client->welcome();
  ChunkerParams p{w.chunk_min, w.chunk_avg, w.chunk_max};
  if (w.secret.size() < 136 || !p.Validate().ok()) {  // 136: the XXH3 minimum secret
    return Status::InvalidArgument("vault session for namespace '" + client->address().nspace +
                                   "' does not allow backups (no repository parameters)");
  }
  return std::unique_ptr<BackupTarget>(new RemoteTarget(std::move(client), p, threads));
}

}  // namespace dr

namespace dr {

Result<OpenedTarget> OpenBackupTarget(const std::string& url, int threads, const KeySource& keys) {
  OpenedTarget t;
  if (IsVaultUrl(url)) {
    ASSIGN_OR_RETURN(VaultAddress address, ParseVaultUrl(url));
    ASSIGN_OR_RETURN(t.vault, VaultClient::Connect(address));
    ASSIGN_OR_RETURN(t.target, MakeRemoteTarget(t.vault, threads));
    return t;
  }
  ASSIGN_OR_RETURN(auto store, OpenObjectStore(url));
  ASSIGN_OR_RETURN(t.repo, Repository::Open(std::move(store), "", keys));
  t.target = MakeRepositoryTarget(*t.repo, threads);
  return t;
}

}  // namespace dr
