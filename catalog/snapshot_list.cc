// Listing and picking snapshots: shared by Repository and by readers that
// have no index (a backup-only vault agent).
#include <algorithm>

#include "catalog/repository.h"
#include "core/envelope.h"

namespace dr {

std::string EncodeSnapshotObject(const Snapshot& snapshot, const Keyring* keys) {
  std::string plain = EncodeSnapshot(snapshot);
  if (!keys) return plain;
  return SealEnvelope(EnvelopeKind::kSealedSnapshot, keys->SealObject("snapshot", plain));
}

Result<Snapshot> DecodeSnapshotObject(std::string_view object, const Keyring* keys,
                                      const std::string& what) {
  if (!keys) return DecodeSnapshot(object, what);
  ASSIGN_OR_RETURN(std::string sealed, OpenEnvelope(EnvelopeKind::kSealedSnapshot, object, what));
  ASSIGN_OR_RETURN(std::string plain, keys->OpenObject("snapshot", sealed, what));
  return DecodeSnapshot(plain, what);
}

Result<std::vector<Snapshot>> ListSnapshotsIn(ObjectStore* store, const KeyedHasher& hasher,
                                              std::vector<std::string>* bad, const Keyring* keys) {
  ASSIGN_OR_RETURN(auto objects, store->List("snapshots/"));
  std::vector<Snapshot> out;
  for (const auto& o : objects) {
    const std::string what = store->Url() + "/" + o.key;
    Id id;
    auto raw = store->Get(o.key);
    // Gone since the listing: forgotten meanwhile (a vault applies
    // retention after each commit), so no longer a snapshot.
    if (raw.status().IsNotFound()) continue;
    Result<Snapshot> s =
        raw.ok() ? DecodeSnapshotObject(*raw, keys, what) : Result<Snapshot>(raw.status());
    if (s.ok() && (!SnapshotIdFromKey(o.key, &id) || hasher.Hash(*raw) != id)) {
      s = Status::Corruption(what + ": content does not match its name");
    }
    if (!s.ok()) {
      if (bad) bad->push_back(s.status().message());
      continue;
    }
    s->id = id;
    out.push_back(std::move(s).value());
  }
  std::sort(out.begin(), out.end(), [](const Snapshot& a, const Snapshot& b) {
    return a.time_ns != b.time_ns ? a.time_ns < b.time_ns : a.id < b.id;
  });
  return out;
}

Result<Snapshot> PickSnapshot(const std::vector<Snapshot>& all, const std::string& spec,
                              const std::string& where) {
  if (spec == "latest") {
    if (all.empty()) return Status::NotFound("repository " + where + " has no snapshots");
    return all.back();
  }
  if (spec.size() < 4 || spec.size() > 32 ||
      spec.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return Status::InvalidArgument("snapshot '" + spec +
                                   "' is not 'latest' or an id (4 to 32 lower-case hex digits)");
  }
  const Snapshot* found = nullptr;
  for (const auto& s : all) {
    if (s.id.Hex().rfind(spec, 0) != 0) continue;
    if (found) return Status::InvalidArgument("snapshot prefix '" + spec + "' is ambiguous");
    found = &s;
  }
  if (!found) return Status::NotFound("no snapshot " + spec + " in " + where);
  return *found;
}

std::vector<Snapshot> OfHost(std::vector<Snapshot> all, const std::string& host) {
  if (host.empty()) return all;
  std::erase_if(all, [&](const Snapshot& s) { return s.host != host; });
  return all;
}

}  // namespace dr
