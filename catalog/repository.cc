#include "catalog/repository.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <thread>
#include <unordered_set>

#include "catalog/format/blob.h"
#include "catalog/gc_record.h"
#include "catalog/repository_impl.h"
#include "catalog/session_marker.h"
#include "core/bounded_queue.h"
#include "core/crash_point.h"
#include "core/envelope.h"
#include "core/timefmt.h"

namespace dr {

namespace {
constexpr char kConfigKey[] = "config";
// Packs listed per index segment. Small enough that an interrupted backup
// leaves few unindexed packs, large enough to keep segment count modest.
constexpr size_t kPacksPerSegment = 4;
// Full packs waiting for a writer (the store says how many writers): the
// write of one pack overlaps with filling the next, and the bytes in flight
// stay at (writers + queued + 1) packs.
constexpr size_t kPacksQueued = 1;

}  // namespace

Repository::Repository(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Repository::~Repository() = default;

Repository::Impl::~Impl() {
  if (write_queue_) {
    write_queue_->Close();
    for (auto& t : writers_) t.join();
  }
}

Status Repository::Init(ObjectStore* store, const InitOptions& options) {
  ASSIGN_OR_RETURN(RepoConfig config,
                   RepoConfig::Generate(options.chunker, options.pack_size,
                                        options.compression_level, options.encrypt.has_value()));
  // A pack is sealed once it reaches pack_size, so it can hold one more
  // chunk (stored form at most its raw size plus zstd's overhead) and its
  // header beyond that.
  const uint64_t largest_pack = uint64_t{config.pack_size} + config.chunker.max_size +
                                (config.chunker.max_size >> 7) + (1u << 20);
  if (largest_pack > store->MaxObjectBytes()) {
    return Status::InvalidArgument(
        "packs of " + std::to_string(config.pack_size >> 20) + " MiB with chunks up to " +
        std::to_string(config.chunker.max_size >> 20) + " MiB can reach " +
        std::to_string(largest_pack >> 20) + " MiB, more than the " +
        std::to_string(store->MaxObjectBytes() >> 20) + " MiB one write to " + store->Url() +
        " may hold; choose a smaller pack size");
  }
  const std::string encoded = config.Encode();
  if (options.encrypt) {
    // The keys go in before `config`, so a config never exists without
    // them. An init that then loses a race leaves a slot and a keyring
    // bound to its own repo_id, which open nothing of the winner's.
    auto existing = store->Get(kConfigKey);
    if (existing.ok()) {
      return Status::AlreadyExists(store->Url() + " already holds a repository (config exists)");
    }
    if (!existing.status().IsNotFound()) return existing.status();
    RETURN_IF_ERROR(CreateKeys(store, config.repo_id, encoded, *options.encrypt).status());
    CrashPoint("encrypt-keys-written");
  }
  Status s = store->PutIfAbsent(kConfigKey, encoded);
  if (s.code() == Code::kAlreadyExists) {
    return Status::AlreadyExists(store->Url() + " already holds a repository (config exists)");
  }
  return s;
}

Result<std::unique_ptr<Repository>> Repository::Open(std::unique_ptr<ObjectStore> store,
                                                     const std::string& session_kind,
                                                     const KeySource& keys) {
  const std::string what = store->Url() + "/config";
  auto raw = store->Get(kConfigKey);
  if (!raw.ok()) {
    if (raw.status().IsNotFound()) {
      return Status::NotFound(store->Url() +
                              " is not a repository (no config); create one with 'drctl init'");
    }
    return raw.status();
  }
  ASSIGN_OR_RETURN(RepoConfig config, RepoConfig::Decode(*raw, what));
  std::unique_ptr<Keyring> keyring;
  if (!config.encrypted() && keys.given()) {
    // A key for a plaintext repository: either the wrong repository, or a
    // config edited to drop encryption, which would have new backups
    // written in the clear.
    return Status::InvalidArgument(what +
                                   " says the repository is not encrypted, but a key was given: "
                                   "refusing (an edited config would store new data unencrypted)");
  }
  if (config.encrypted()) {
    ASSIGN_OR_RETURN(UnlockedKeys unlocked, UnlockKeys(store.get(), config.repo_id, keys, *raw));
    config.secret = unlocked.keyring.id_secret();
    keyring = std::make_unique<Keyring>(std::move(unlocked.keyring));
  }
  auto impl = std::make_unique<Impl>(std::move(store), std::move(config), std::move(keyring));
  if (!session_kind.empty()) {
    // A store this reader cannot write to (a read-only copy) cannot be
    // pruned by it either, nor, for the same reason, by anyone it shares
    // the credentials with; reading goes on without a marker.
    auto marker = SessionMarker::Begin(impl->store_.get(), session_kind);
    if (marker.ok()) impl->session_ = std::move(marker).value();
  }
  // Condemned packs first, so a blob also stored elsewhere is indexed at
  // its surviving copy. A writer re-reads them once its session marker is
  // up (RefreshExclusions); a reader only loses a preference.
  Status excluded = impl->RefreshExclusions();
  if (!excluded.ok()) impl->open_warnings_.push_back(excluded.message());
  RETURN_IF_ERROR(impl->LoadIndex());
  return std::unique_ptr<Repository>(new Repository(std::move(impl)));
}

bool Repository::Impl::HasBlob(const Id& id) const {
  std::shared_lock l(index_mu_);
  return index_.HasLive(id);
}

std::optional<BlobLocation> Repository::Impl::FindBlob(const Id& id) const {
  std::shared_lock l(index_mu_);
  return index_.Find(id);
}

std::vector<Id> Repository::IndexedPacks() const {
  std::shared_lock l(impl_->index_mu_);
  return impl_->index_.packs();
}

size_t Repository::IndexedBlobCount() const {
  std::shared_lock l(impl_->index_mu_);
  return impl_->index_.blob_count();
}

size_t Repository::IndexMemoryBytes() const {
  std::shared_lock l(impl_->index_mu_);
  return impl_->index_.MemoryBytes();
}

void Repository::ForEachIndexedBlob(
    const std::function<void(const Id&, const BlobLocation&)>& fn) const {
  std::shared_lock l(impl_->index_mu_);
  impl_->index_.ForEach(fn);
}

Result<std::string> Repository::Impl::LoadBlob(const Id& id) {
  auto loc = FindBlob(id);
  if (!loc) return Status::NotFound("blob " + id.Hex() + " is not in the index");
  const std::string key = PackKey(loc->pack);
  ASSIGN_OR_RETURN(std::string stored, store_->GetRange(key, loc->offset, loc->stored_len));
  BlobBuffers buffers;
  ASSIGN_OR_RETURN(std::string_view raw, DecodePacked(loc->type, id, loc->raw_len, stored,
                                                      "pack " + loc->pack.Hex(), &buffers));
  return std::string(raw);
}

Result<std::string_view> Repository::Impl::DecodePacked(BlobType type, const Id& id,
                                                        uint32_t raw_len, std::string_view packed,
                                                        const std::string& what,
                                                        BlobBuffers* buffers) const {
  if (keys_) {
    ASSIGN_OR_RETURN(packed, keys_->OpenBlob(type, id, raw_len, packed, what, &buffers->opened));
  }
  return DecodeBlobInto(packed, raw_len, id, hasher_, what, &buffers->raw);
}

Result<std::string_view> Repository::Impl::LoadBlobView(const Id& id, BlobBuffers* buffers) {
  auto loc = FindBlob(id);
  if (!loc) return Status::NotFound("blob " + id.Hex() + " is not in the index");
  char* stored = ScratchSpace(&buffers->stored, loc->stored_len);
  RETURN_IF_ERROR(store_->ReadRangeInto(PackKey(loc->pack), loc->offset, loc->stored_len, stored));
  if (keys_) {
    const std::string what = "pack " + loc->pack.Hex();
    ASSIGN_OR_RETURN(
        std::string_view opened,
        keys_->OpenBlobInPlace(loc->type, id, loc->raw_len, stored, loc->stored_len, what));
    return DecodeBlobInto(opened, loc->raw_len, id, hasher_, what, &buffers->raw);
  }
  return DecodePacked(loc->type, id, loc->raw_len, std::string_view(stored, loc->stored_len),
                      "pack " + loc->pack.Hex(), buffers);
}

Result<Tree> Repository::LoadTree(const Id& id) {
  ASSIGN_OR_RETURN(std::string raw, impl_->LoadBlob(id));
  return DecodeTree(raw, "tree " + id.Hex());
}

Result<BlockMap> Repository::LoadBlockMap(const Id& head) {
  return ::dr::LoadBlockMap(head, [this](const Id& id) { return impl_->LoadBlob(id); });
}

Result<std::vector<Snapshot>> Repository::ListSnapshots(std::vector<std::string>* bad) {
  return ListSnapshotsIn(impl_->store_.get(), impl_->names_, bad, impl_->keys_.get());
}

namespace {
std::string WhereFor(const std::string& url, const std::string& host) {
  return host.empty() ? url : url + " for host '" + host + "'";
}
}  // namespace

Result<Snapshot> Repository::FindSnapshot(const std::string& spec, const std::string& host) {
  ASSIGN_OR_RETURN(auto all, ListSnapshots());
  return PickSnapshot(OfHost(std::move(all), host), spec, WhereFor(impl_->store_->Url(), host));
}

Result<Snapshot> Repository::FindSnapshotAt(int64_t unix_ns, const std::string& host) {
  ASSIGN_OR_RETURN(auto unfiltered, ListSnapshots());
  const auto all = OfHost(std::move(unfiltered), host);
  const Snapshot* best = nullptr;
  for (const auto& s : all) {
    if (s.time_ns <= unix_ns) best = &s;
  }
  if (!best) {
    return Status::NotFound(all.empty() ? "repository " + WhereFor(impl_->store_->Url(), host) +
                                              " has no snapshots"
                                        : "no snapshot at or before that time (the first is " +
                                              FormatRfc3339Utc(all.front().time_ns) + ")");
  }
  return *best;
}

bool Repository::Impl::Claim(const Id& id) {
  std::unique_lock l(index_mu_);
  if (index_.HasLive(id)) return false;
  return claimed_.insert(id).second;
}

void Repository::Impl::LatchError(const Status& s) {
  std::lock_guard l(error_mu_);
  if (first_error_.ok()) first_error_ = s;
}

Status Repository::Impl::AddBlob(BlobType type, const Id& id, std::string_view stored,
                                 uint32_t raw_len) {
  if (!keys_) return AddPacked(type, id, stored, raw_len);
  // Sealed outside the pack lock, so the compression threads seal in parallel.
  thread_local BlobScratch sealed;
  return AddPacked(type, id, keys_->SealBlob(type, id, raw_len, stored, &sealed), raw_len);
}

Status Repository::Impl::AddPacked(BlobType type, const Id& id, std::string_view stored,
                                   uint32_t raw_len) {
  {
    std::lock_guard l(error_mu_);
    if (!first_error_.ok()) return first_error_;
  }
  PendingPack full;
  {
    std::lock_guard l(pack_mu_);
    if (pack_.empty()) pack_.Reserve(config_.pack_size + config_.chunker.max_size + (256 << 10));
    pack_.Add(type, id, stored, raw_len);
    if (pack_.size() >= config_.pack_size) {
      full.entries = pack_.entries();
      full.bytes = pack_.Finish();
    }
  }
  blobs_added_++;
  bytes_added_ += stored.size();
  raw_bytes_added_ += raw_len;
  if (!full.bytes.empty()) EnqueuePack(std::move(full));
  return Status::OK();
}

void Repository::Impl::EnqueuePack(PendingPack pack) {
  {
    std::lock_guard l(inflight_mu_);
    if (!write_queue_) {
      write_queue_ = std::make_unique<BoundedQueue<PendingPack>>(kPacksQueued);
      for (int i = 0; i < store_->PreferredConcurrency(); ++i)
        writers_.emplace_back([this] { WriterLoop(); });
    }
    ++inflight_;
  }
  write_queue_->Push(std::move(pack), 1);
}

void Repository::Impl::WriterLoop() {
  while (auto pack = write_queue_->Pop()) {
    (void)WritePack(std::move(pack->bytes), std::move(pack->entries));  // errors are latched
    std::lock_guard l(inflight_mu_);
    --inflight_;
    inflight_cv_.notify_all();
  }
}

namespace {
// The same blobs in the same order give the same pack bytes and so the same
// name. If that name is one a prune condemned, writing it would only
// overwrite a pack that is about to be deleted; a random extra blob gives the
// pack a name of its own (the blob is garbage for the next prune).
std::string Resalted(const std::string& pack, std::vector<PackEntry>* entries,
                     const KeyedHasher& hasher, const Keyring* keys) {
  PackBuilder b;
  for (const auto& e : *entries) {
    b.Add(e.type, e.id, std::string_view(pack).substr(e.offset, e.stored_len), e.raw_len);
  }
  std::random_device rd;
  std::string salt(32, '\0');
  for (char& c : salt) c = static_cast<char>(rd());
  const Id id = hasher.Hash(salt);
  const auto raw_len = static_cast<uint32_t>(salt.size());
  const std::string stored = EncodeBlob(salt, 1);
  BlobScratch sealed;
  b.Add(BlobType::kData, id,
        keys ? keys->SealBlob(BlobType::kData, id, raw_len, stored, &sealed)
             : std::string_view(stored),
        raw_len);
  *entries = b.entries();
  return b.Finish();
}
}  // namespace

Status Repository::Impl::WritePack(std::string pack, std::vector<PackEntry> entries) {
  Id pack_id = names_.Hash(pack);
  for (;;) {
    {
      std::shared_lock l(index_mu_);
      if (!index_.IsExcluded(pack_id)) break;
    }
    pack = Resalted(pack, &entries, hasher_, keys_.get());
    pack_id = names_.Hash(pack);
  }
  Status st = store_->Put(PackKey(pack_id), pack);
  if (!st.ok()) {
    LatchError(st);
    return st;
  }
  packs_written_++;
  CrashPoint("pack-durable");
  std::vector<IndexPack> batch;
  {
    std::unique_lock l(index_mu_);
    index_.AddPack(pack_id, entries);
    for (const auto& e : entries) claimed_.erase(e.id);
    unwritten_index_.push_back({pack_id, std::move(entries)});
    if (unwritten_index_.size() >= kPacksPerSegment) batch.swap(unwritten_index_);
  }
  return WriteIndexSegment(std::move(batch));
}

Status Repository::Impl::WriteIndexSegment(std::vector<IndexPack> packs) {
  if (packs.empty()) return Status::OK();
  std::string seg = EncodeIndexSegment(packs);
  const std::string key = "index/" + names_.Hash(seg).Hex();
  Status st = store_->Put(key, seg);
  if (st.ok()) {
    std::unique_lock l(index_mu_);
    loaded_segments_[key] = PacksOf(packs);
  }
  if (!st.ok()) LatchError(st);
  if (st.ok()) CrashPoint("index-written");
  return st;
}

Result<Id> Repository::Impl::StoreMetadata(std::string_view raw) {
  // Readers refuse a blob over kMaxBlobBytes (docs/format/pack.md), so one
  // is never written: it would make its pack's index entries unreadable.
  if (raw.size() > kMaxBlobBytes) {
    return Status::InvalidArgument("metadata blob of " + std::to_string(raw.size()) +
                                   " bytes is over the limit of " + std::to_string(kMaxBlobBytes) +
                                   " (a directory with too many entries or extents)");
  }
  Id id = hasher_.Hash(raw);
  if (Claim(id)) {
    BlobScratch scratch;
    RETURN_IF_ERROR(AddBlob(BlobType::kTree, id,
                            EncodeBlobInto(raw, config_.compression_level, &scratch),
                            static_cast<uint32_t>(raw.size())));
  }
  return id;
}

void Repository::Impl::SealOpenPack() {
  PendingPack last;
  {
    std::lock_guard l(pack_mu_);
    if (!pack_.empty()) {
      last.entries = pack_.entries();
      last.bytes = pack_.Finish();
    }
  }
  if (!last.bytes.empty()) EnqueuePack(std::move(last));
}

Status Repository::Impl::Flush() {
  SealOpenPack();
  {
    std::unique_lock l(inflight_mu_);
    inflight_cv_.wait(l, [this] { return inflight_ == 0; });
  }
  {
    std::lock_guard l(error_mu_);
    if (!first_error_.ok()) return first_error_;
  }
  std::vector<IndexPack> batch;
  {
    std::unique_lock l(index_mu_);
    batch.swap(unwritten_index_);
  }
  return WriteIndexSegment(std::move(batch));
}

Result<Id> Repository::Impl::CommitSnapshotObject(const std::string& object) {
  RETURN_IF_ERROR(Flush());
  // Never write a snapshot that readers would refuse (docs/format/snapshot.md).
  ASSIGN_OR_RETURN(Snapshot snapshot,
                   DecodeSnapshotObject(object, keys_.get(), "snapshot to commit"));
  if (!HasBlob(snapshot.tree)) {
    return Status::Corruption("refusing to commit a snapshot whose root tree " +
                              snapshot.tree.Hex() + " is not stored");
  }
  Id id = names_.Hash(object);
  CrashPoint("snapshot-next");
  RETURN_IF_ERROR(store_->Put(SnapshotKey(id), object));
  CrashPoint("snapshot-written");
  return id;
}

Status Repository::Impl::write_error() const {
  std::lock_guard l(error_mu_);
  return first_error_;
}

WriteStats Repository::write_stats() const {
  return {impl_->blobs_added_.load(), impl_->bytes_added_.load(), impl_->raw_bytes_added_.load(),
          impl_->packs_written_.load()};
}

Result<int> Repository::Impl::AdoptUnindexedPacks() {
  // A day is far longer than any Put, so no write in progress is touched.
  RETURN_IF_ERROR(store_->RemoveLeftovers(std::chrono::hours(24)).status());
  ASSIGN_OR_RETURN(auto objects, store_->List("data/"));
  std::vector<IndexPack> adopted;
  for (const auto& o : objects) {
    Id pack_id;
    if (!PackIdFromKey(o.key, &pack_id)) continue;
    {
      std::shared_lock l(index_mu_);
      // A condemned pack stays unindexed: a prune is about to delete it.
      if (index_.HasPack(pack_id) || index_.IsExcluded(pack_id)) continue;
    }
    // A damaged orphan is left for `check` to report; it is referenced by nothing.
    auto entries = ReadPackHeader(store_.get(), o.key);
    if (!entries.ok()) continue;
    {
      std::unique_lock l(index_mu_);
      index_.AddPack(pack_id, *entries);
    }
    adopted.push_back({pack_id, std::move(entries).value()});
  }
  int n = static_cast<int>(adopted.size());
  RETURN_IF_ERROR(WriteIndexSegment(std::move(adopted)));
  return n;
}

// ---- the public face: forwards to Impl
const RepoConfig& Repository::config() const { return impl_->config_; }
const KeyedHasher& Repository::hasher() const { return impl_->hasher_; }
const KeyedHasher& Repository::names() const { return impl_->names_; }
const Keyring* Repository::keyring() const { return impl_->keys_.get(); }
Result<std::string_view> Repository::DecodePacked(BlobType type, const Id& id, uint32_t raw_len,
                                                  std::string_view packed, const std::string& what,
                                                  BlobBuffers* buffers) const {
  return impl_->DecodePacked(type, id, raw_len, packed, what, buffers);
}
Status Repository::CopyPackedBlob(BlobType type, const Id& id, std::string_view packed,
                                  uint32_t raw_len) {
  return impl_->AddPacked(type, id, packed, raw_len);
}
ObjectStore* Repository::store() { return impl_->store_.get(); }
const std::vector<std::string>& Repository::open_warnings() const { return impl_->open_warnings_; }
bool Repository::HasBlob(const Id& id) const { return impl_->HasBlob(id); }
std::optional<BlobLocation> Repository::FindBlob(const Id& id) const { return impl_->FindBlob(id); }
Result<std::string> Repository::LoadBlob(const Id& id) { return impl_->LoadBlob(id); }
Result<std::string_view> Repository::LoadBlobView(const Id& id, BlobBuffers* buffers) {
  return impl_->LoadBlobView(id, buffers);
}
bool Repository::Claim(const Id& id) { return impl_->Claim(id); }
Status Repository::AddBlob(BlobType type, const Id& id, std::string_view stored, uint32_t raw_len) {
  return impl_->AddBlob(type, id, stored, raw_len);
}
Result<Id> Repository::StoreMetadata(std::string_view raw) { return impl_->StoreMetadata(raw); }
void Repository::SealOpenPack() { impl_->SealOpenPack(); }
Status Repository::Flush() { return impl_->Flush(); }
Result<Id> Repository::CommitSnapshot(Snapshot snapshot) {
  return impl_->CommitSnapshotObject(EncodeSnapshotObject(snapshot, impl_->keys_.get()));
}
Result<Id> Repository::CommitSnapshotObject(const std::string& object) {
  return impl_->CommitSnapshotObject(object);
}
Status Repository::write_error() const { return impl_->write_error(); }
Result<int> Repository::AdoptUnindexedPacks() { return impl_->AdoptUnindexedPacks(); }
Status Repository::RefreshExclusions() { return impl_->RefreshExclusions(); }
bool Repository::IsCondemned(const Id& pack) const {
  std::shared_lock l(impl_->index_mu_);
  return impl_->index_.IsExcluded(pack);
}
void Repository::ExcludePacks(const std::vector<Id>& packs) {
  std::unique_lock l(impl_->index_mu_);
  impl_->index_.ExcludePacks(packs);
}
std::optional<size_t> Repository::IndexOrdinal(const Id& id) const {
  std::shared_lock l(impl_->index_mu_);
  return impl_->index_.Ordinal(id);
}

}  // namespace dr
