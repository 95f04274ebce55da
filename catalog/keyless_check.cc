// The check of an encrypted repository by a site that holds no key
// (checker.h, CheckWithoutKey).
#include <chrono>
#include <functional>
#include <set>

#include "catalog/checker.h"
#include "catalog/format/index.h"
#include "catalog/format/pack.h"
#include "catalog/format/repo_config.h"
#include "catalog/gc_record.h"
#include "catalog/object_verify.h"
#include "catalog/repo_keys.h"
#include "catalog/snapshot_summary.h"

namespace dr {

Result<CheckReport> CheckWithoutKey(ObjectStore* store, const CheckOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const std::string url = store->Url();
  ASSIGN_OR_RETURN(std::string config_object, store->Get("config"));
  ASSIGN_OR_RETURN(RepoConfig config, RepoConfig::Decode(config_object, url + "/config"));
  if (!config.encrypted()) {
    return Status::InvalidArgument(
        url + " is not encrypted: check it with its content (no --without-key)");
  }
  const KeyedHasher names(config.naming_secret());
  CheckReport report;
  auto problem = [&](ProblemKind kind, const std::string& where, const std::string& message) {
    report.problems.push_back({kind, where, message});
    if (options.progress && report.problems.back().IsError()) options.progress->errors++;
  };
  using Each = std::function<void(const std::string&, const std::string&)>;
  // Reads and checks each object listed; `each` sees what passed.
  auto verify_listed = [&](const std::vector<ObjectInfo>& objects, ProblemKind kind,
                           const Each& each) {
    for (const auto& o : objects) {
      auto bytes = store->Get(o.key);
      if (bytes.status().IsNotFound()) continue;  // deleted since the listing (a prune)
      Status verified =
          bytes.ok() ? VerifySealedRepositoryObject(o.key, *bytes, names) : bytes.status();
      if (!verified.ok()) {
        problem(kind, o.key, verified.message());
        continue;
      }
      if (each) each(o.key, *bytes);
    }
  };
  auto verify_all = [&](const std::string& prefix, ProblemKind kind, const Each& each) {
    auto objects = store->List(prefix);
    if (!objects.ok()) return objects.status();
    verify_listed(*objects, kind, each);
    return Status::OK();
  };

  // Segments before packs: a pack arrives before the segment listing it,
  // so what a segment listed here names is in the pack listing made after.
  ASSIGN_OR_RETURN(auto segment_list, store->List("index/"));
  ASSIGN_OR_RETURN(auto pack_list, store->List("data/"));
  std::set<std::string> present;
  for (const auto& o : pack_list) present.insert(o.key);
  auto records = ListGcRecords(store);
  std::set<Id> condemned;
  if (records.ok())
    for (const Id& p : CondemnedPacks(*records)) condemned.insert(p);

  verify_listed(segment_list, ProblemKind::kIndex,
                [&](const std::string& key, const std::string& bytes) {
                  auto packs = DecodeIndexSegment(bytes, key);
                  if (!packs.ok()) return;  // verified above: cannot happen
                  for (const IndexPack& p : *packs) {
                    report.blobs += p.entries.size();
                    if (present.count(PackKey(p.pack))) continue;
                    if (condemned.count(p.pack)) {
                      problem(ProblemKind::kCondemnedGone, "pack " + p.pack.Hex(),
                              "deleted by a prune; the index still lists it");
                    } else {
                      problem(ProblemKind::kPackMissing, "pack " + p.pack.Hex(),
                              "listed by " + key + " but absent from the store");
                    }
                  }
                });
  RETURN_IF_ERROR(verify_all("snapshots/", ProblemKind::kSnapshotDamaged,
                             [&](const std::string&, const std::string&) { report.snapshots++; }));
  RETURN_IF_ERROR(verify_all(kSummaryPrefix, ProblemKind::kSnapshotDamaged, nullptr));
  RETURN_IF_ERROR(verify_all(kSlotPrefix, ProblemKind::kKeyDamaged, nullptr));
  RETURN_IF_ERROR(verify_all(kKeyringPrefix, ProblemKind::kKeyDamaged, nullptr));
  report.packs = pack_list.size();
  if (options.read_data) {
    uint64_t total = 0;
    for (const auto& o : pack_list) total += o.size;
    if (options.progress) options.progress->bytes_total = total;
    verify_listed(pack_list, ProblemKind::kPackDamaged,
                  [&](const std::string&, const std::string& bytes) {
                    report.bytes_read += bytes.size();
                    if (options.progress) options.progress->bytes_done += bytes.size();
                  });
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace dr
