// Repository: the one entry point to a repository on an ObjectStore.
//
// Reading (LoadBlob, LoadTree, snapshots) and writing (Claim/AddBlob, Flush,
// CommitSnapshot) are safe from several threads at once.
//
// Crash-safety contract (docs/design.md): a pack is written before the index
// segment that lists it, and a snapshot is written only by CommitSnapshot,
// after Flush made every pack and index segment durable. A crash at any moment
// therefore leaves the old state or the new one, plus perhaps packs no index
// lists yet; AdoptUnindexedPacks() indexes those so their chunks are reused.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "catalog/format/blob.h"
#include "catalog/format/block_map.h"
#include "catalog/format/index.h"
#include "catalog/format/pack.h"
#include "catalog/format/repo_config.h"
#include "catalog/format/snapshot.h"
#include "catalog/format/tree.h"
#include "catalog/pack_reader.h"
#include "catalog/repo_keys.h"
#include "catalog/store/object_store.h"
#include "core/hash.h"
#include "core/status.h"

namespace dr {

struct InitOptions {
  ChunkerParams chunker;
  uint32_t pack_size = 16 << 20;
  int compression_level = 3;
  // Set: an encrypted repository (docs/format/keys.md) whose first key slot
  // is this passphrase or new key file.
  std::optional<SlotSpec> encrypt;
};

struct WriteStats {
  uint64_t blobs_added = 0;
  uint64_t bytes_added = 0;  // stored (compressed) bytes of new blobs
  uint64_t raw_bytes_added = 0;
  uint64_t packs_written = 0;
};

// Every snapshot in `store`, oldest first (what Repository::ListSnapshots
// does, for readers that have no index, such as a backup-only vault agent).
// `names` keys the object names; `keys` opens sealed snapshots (encrypted
// repositories) and is null for plaintext ones.
Result<std::vector<Snapshot>> ListSnapshotsIn(ObjectStore* store, const KeyedHasher& names,
                                              std::vector<std::string>* bad = nullptr,
                                              const Keyring* keys = nullptr);
// A snapshot object as stored: sealed when `keys` is given.
std::string EncodeSnapshotObject(const Snapshot& snapshot, const Keyring* keys);
Result<Snapshot> DecodeSnapshotObject(std::string_view object, const Keyring* keys,
                                      const std::string& what);
// `spec` ("latest", an id or a unique prefix) among `all`; `where` names the
// repository in errors.
Result<Snapshot> PickSnapshot(const std::vector<Snapshot>& all, const std::string& spec,
                              const std::string& where);
// The snapshots of `all` whose host is `host`; all of them when it is empty.
std::vector<Snapshot> OfHost(std::vector<Snapshot> all, const std::string& host);

class Repository {
 public:
  // Writes a new config. AlreadyExists if `store` already holds a repository.
  static Status Init(ObjectStore* store, const InitOptions& options);
  // Reads the config and every index segment. A missing config gives
  // NotFound ("... is not a repository (no config); run drctl init").
  // With `session_kind` ("restore", "check", ...), a session marker is put
  // up before the index is read and held until the repository is closed, so
  // a concurrent prune deletes nothing this reader may still look for
  // (when the store refuses the marker, reading goes on without one).
  // An encrypted repository is opened with `keys` (UnlockKeys); without a
  // key, or with a wrong one, Open fails naming the repository.
  static Result<std::unique_ptr<Repository>> Open(std::unique_ptr<ObjectStore> store,
                                                  const std::string& session_kind = "",
                                                  const KeySource& keys = {});
  ~Repository();

  // With an encrypted repository's id secret filled in.
  const RepoConfig& config() const;
  // Keys blob ids and file digests.
  const KeyedHasher& hasher() const;
  // Keys the names of packs, index segments and snapshots (the id hasher
  // unless the repository is encrypted).
  const KeyedHasher& names() const;
  // The data keys of an encrypted repository; null for a plaintext one.
  const Keyring* keyring() const;
  ObjectStore* store();
  // Problems met while opening (an unreadable index segment, say); `check`
  // reports them, other commands carry on with what could be read.
  const std::vector<std::string>& open_warnings() const;

  // ---- reading
  // Indexed in a pack no prune has condemned: what a writer may rely on.
  // (A condemned pack's blobs can still be loaded until it is deleted.)
  bool HasBlob(const Id& id) const;
  std::optional<BlobLocation> FindBlob(const Id& id) const;
  // Reads, decompresses and verifies a blob against its id.
  Result<std::string> LoadBlob(const Id& id);
  // Same, into reusable buffers (no allocation per blob); the view lives
  // until the next call with the same buffers.
  struct BlobBuffers {
    BlobScratch stored, opened, raw;
  };
  Result<std::string_view> LoadBlobView(const Id& id, BlobBuffers* buffers);
  // A blob's bytes as a pack holds them (`packed`), opened (encrypted
  // repositories), decompressed and verified against `id`.
  Result<std::string_view> DecodePacked(BlobType type, const Id& id, uint32_t raw_len,
                                        std::string_view packed, const std::string& what,
                                        BlobBuffers* buffers) const;
  Result<Tree> LoadTree(const Id& id);
  // A block snapshot's map, from its head (the snapshot's `tree`).
  Result<BlockMap> LoadBlockMap(const Id& head);
  // All snapshots, oldest first. Undecodable ones are skipped and named in
  // `*bad` (if given).
  Result<std::vector<Snapshot>> ListSnapshots(std::vector<std::string>* bad = nullptr);
  // `spec`: "latest", a full id, or a unique prefix of at least 4 hex digits;
  // among the snapshots of `host` only, unless it is empty.
  Result<Snapshot> FindSnapshot(const std::string& spec, const std::string& host = "");
  // The last snapshot taken at or before `unix_ns` (of `host`, if given).
  Result<Snapshot> FindSnapshotAt(int64_t unix_ns, const std::string& host = "");
  std::vector<Id> IndexedPacks() const;
  size_t IndexedBlobCount() const;
  size_t IndexMemoryBytes() const;
  // Calls `fn` for every indexed blob (under the index's read lock: `fn`
  // must not call back into this repository).
  void ForEachIndexedBlob(const std::function<void(const Id&, const BlobLocation&)>& fn) const;

  // ---- writing
  // True when the caller must store `id`: it is neither indexed nor claimed
  // by another writer. A claimed blob must be passed to AddBlob.
  bool Claim(const Id& id);
  // Appends an encoded blob (EncodeBlob output) to the open pack. A full pack
  // is handed to background writers (at most a few packs wait, so memory is
  // bounded and compression never waits for fsync). Returns the first write
  // error seen, if any.
  Status AddBlob(BlobType type, const Id& id, std::string_view stored, uint32_t raw_len);
  // Appends a blob exactly as a pack of this repository holds it (sealed,
  // in an encrypted one): what a repack copies.
  Status CopyPackedBlob(BlobType type, const Id& id, std::string_view packed, uint32_t raw_len);
  // Encodes, hashes and stores a tree (if new); returns its id.
  Result<Id> StoreTree(const Tree& tree) { return StoreMetadata(EncodeTree(tree)); }
  // Stores a metadata blob (a tree or block map part; blob type 1) if new.
  Result<Id> StoreMetadata(std::string_view raw);
  // Hands the open pack (however full) to the background writers without
  // waiting: its blobs become durable, and HasBlob true, soon after. A vault
  // uses it so that an agent waiting for acknowledgements is not left waiting
  // for a pack to fill.
  void SealOpenPack();
  // Writes the open pack, waits for the background writers, and writes every
  // pending index entry. After OK, every blob added so far is durable and
  // indexed. REQUIRES: no concurrent AddBlob.
  Status Flush();
  // Flush(), check the root tree is indexed, then write the snapshot.
  Result<Id> CommitSnapshot(Snapshot snapshot);
  // The same for a snapshot object already encoded with
  // EncodeSnapshotObject(snapshot, keyring()): a vault journals exactly the
  // bytes written (sealed ones carry a random nonce) before writing them.
  // Its id is names().Hash(object).
  Result<Id> CommitSnapshotObject(const std::string& object);
  WriteStats write_stats() const;
  // The first write error of a background pack writer, if any. Once set,
  // every later AddBlob and Flush fails: the owner must drop this instance
  // (claims of the failed pack stay taken) and open the repository again.
  Status write_error() const;

  // Indexes packs present in the store but listed by no index segment (left
  // by an interrupted backup), and removes the store's leftovers of
  // interrupted writes older than a day. Returns how many packs were adopted.
  Result<int> AdoptUnindexedPacks();

  // ---- prune (catalog/prune.h, catalog/gc_record.h)
  // Re-reads the condemnation records, and loads index segments others
  // wrote since Open. A writer calls it after its session marker is
  // durable, so either a prune sees the marker or the writer sees the
  // record.
  Status RefreshExclusions();
  bool IsCondemned(const Id& pack) const;
  // Treats `packs` as condemned through this handle: their blobs stay
  // readable, but nothing written here relies on them or is written under
  // their names (a repack whose output would equal its source gets a name
  // of its own, so condemning the source never condemns the copy).
  void ExcludePacks(const std::vector<Id>& packs);
  // Lists the packs really in the store and treats an indexed pack that is
  // not as absent (its blobs are stored again when needed). For a site whose
  // index may name packs it no longer holds (a replica fed pack by pack).
  Status ExcludeMissingPacks();
  // The blob's position among the indexed blobs (for bitmaps), while
  // nothing was added since Open.
  std::optional<size_t> IndexOrdinal(const Id& id) const;

 private:
  // The index, its lock, the open pack and the background pack writers
  // (threads, a bounded queue, the first latched error) live in Impl.
  struct Impl;
  explicit Repository(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dr
