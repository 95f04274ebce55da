#include "catalog/object_verify.h"

#include "catalog/format/blob.h"
#include "catalog/format/index.h"
#include "catalog/format/pack.h"
#include "catalog/format/repo_config.h"
#include "catalog/format/snapshot.h"
#include "catalog/repo_keys.h"
#include "catalog/retention_lock.h"
#include "catalog/snapshot_summary.h"
#include "core/envelope.h"

namespace dr {

namespace {

// The id a content-addressed key names: "data/xx/<hex>", "index/<hex>",
// "snapshots/<hex>".
bool IdOfKey(const std::string& key, Id* id) {
  if (key.rfind("index/", 0) == 0) return Id::FromHex(key.substr(6), id);
  return PackIdFromKey(key, id) || SnapshotIdFromKey(key, id);
}

Status VerifyPack(const std::string& key, std::string_view pack, const KeyedHasher& hasher) {
  ASSIGN_OR_RETURN(auto entries, ParsePack(pack, key));
  BlobScratch scratch;
  for (const PackEntry& e : entries) {
    if (e.offset > pack.size() || e.stored_len > pack.size() - e.offset)
      return Status::Corruption(key + ": blob " + e.id.Hex() + " lies past the end of the pack");
    auto raw = DecodeBlobInto(pack.substr(e.offset, e.stored_len), e.raw_len, e.id, hasher,
                              key + ": blob " + e.id.Hex(), &scratch);
    if (!raw.ok()) return raw.status();
  }
  return Status::OK();
}

Status VerifySealedPack(const std::string& key, std::string_view pack) {
  ASSIGN_OR_RETURN(auto entries, ParsePack(pack, key));
  for (const PackEntry& e : entries) {
    if (e.offset > pack.size() || e.stored_len > pack.size() - e.offset)
      return Status::Corruption(key + ": blob " + e.id.Hex() + " lies past the end of the pack");
    if (e.stored_len < kSealOverhead || e.stored_len - kSealOverhead > e.raw_len)
      return Status::Corruption(key + ": blob " + e.id.Hex() + " is not the size of a sealed blob");
  }
  return Status::OK();
}

}  // namespace

Status VerifySealedRepositoryObject(const std::string& key, std::string_view bytes,
                                    const KeyedHasher& names) {
  if (key == "config") return RepoConfig::Decode(bytes, key).status();
  if (key.rfind(kRetentionLockPrefix, 0) == 0) return VerifyRetentionLockObject(key, bytes);
  if (key.rfind(kSlotPrefix, 0) == 0) {
    return DecodeKeySlot(key.substr(sizeof(kSlotPrefix) - 1), bytes, key).status();
  }
  if (key.rfind(kKeyringPrefix, 0) == 0) {
    // Sealed with the master key: only its size says anything here.
    if (bytes.size() < kSealOverhead || bytes.size() > kMaxKeyringObjectBytes)
      return Status::Corruption(key + ": not the size of a sealed keyring");
    return Status::OK();
  }
  if (key.rfind(kSummaryPrefix, 0) == 0) {
    Id id;
    if (!Id::FromHex(key.substr(sizeof(kSummaryPrefix) - 1), &id))
      return Status::InvalidArgument(key + " is not a repository object");
    ASSIGN_OR_RETURN(Snapshot s, DecodeSnapshotSummary(bytes, key));
    if (s.id != id) return Status::Corruption(key + ": summarizes another snapshot");
    return Status::OK();
  }
  Id id;
  if (!IdOfKey(key, &id)) return Status::InvalidArgument(key + " is not a repository object");
  if (names.Hash(bytes) != id)
    return Status::Corruption(key + ": content does not hash to the id in its name");
  if (key.rfind("data/", 0) == 0) return VerifySealedPack(key, bytes);
  if (key.rfind("index/", 0) == 0) return DecodeIndexSegment(bytes, key).status();
  return OpenEnvelope(EnvelopeKind::kSealedSnapshot, bytes, key).status();
}

Status VerifyRepositoryObject(const std::string& key, std::string_view bytes,
                              const KeyedHasher* hasher) {
  if (key == "config") return RepoConfig::Decode(bytes, key).status();
  if (key.rfind(kRetentionLockPrefix, 0) == 0) return VerifyRetentionLockObject(key, bytes);
  Id id;
  if (!IdOfKey(key, &id)) return Status::InvalidArgument(key + " is not a repository object");
  if (!hasher) return Status::InvalidArgument(key + ": no namespace secret to check it with");
  if (hasher->Hash(bytes) != id)
    return Status::Corruption(key + ": content does not hash to the id in its name");
  if (key.rfind("data/", 0) == 0) return VerifyPack(key, bytes, *hasher);
  if (key.rfind("index/", 0) == 0) return DecodeIndexSegment(bytes, key).status();
  return DecodeSnapshot(bytes, key).status();
}

}  // namespace dr
