// The catalog: a local SQLite database of recovery points and file versions,
// derived from one or more repositories ("sites": the same-city vault's
// namespace, the off-site copy, a local directory). It answers "which
// versions of this file exist, where, and since when" and "find files named
// X" without walking snapshots. The repositories stay the source of truth:
// the catalog can be deleted and rebuilt from them at any time, and nothing
// decides what is stored or kept from it. Schema: docs/format/catalog.md.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "catalog/format/tree.h"
#include "catalog/repository.h"
#include "core/status.h"

namespace dr {

struct CatalogSyncReport {
  int snapshots_added = 0;
  int snapshots_removed = 0;          // forgotten at the site since the last sync
  int lineages_reindexed = 0;         // a snapshot older than its lineage's newest arrived
  uint64_t versions_added = 0;        // new version rows (changed, added or re-added entries)
  int drills_added = 0;               // drill records of the site this catalog had not seen
  std::vector<std::string> warnings;  // a broken drill history, say (the sync still succeeds)
  double seconds = 0;
};

// A snapshot as the catalog knows it, at one site.
struct RecoveryPoint {
  std::string site;
  std::string id;  // 32 hex digits
  int64_t time_ns = 0;
  std::string host, identity, policy;
  std::string kind;  // "files", "image" or "device"
  std::vector<std::string> paths, tags;
  uint64_t bytes_total = 0, bytes_added = 0, files = 0;
  bool partial = false;
};

// One distinct version of a path: the same type, size, mtime and content,
// merged over every lineage and site that holds it.
struct FileVersion {
  std::string path;
  NodeType type = NodeType::kFile;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  std::string digest;       // hex: content digest (files), block-map head (images); empty otherwise
  std::string link_target;  // symlinks
  int64_t first_time_ns = 0, last_time_ns = 0;
  std::string first_snapshot, last_snapshot;  // ids (hex) of the earliest and newest holder
  int snapshots = 0;                          // how many snapshots hold it, over all sites
  std::vector<std::string> sites;             // sorted
};

struct FindQuery {
  // A glob (* ? [...]) matched against the name, or against the whole path
  // when it contains '/'.
  std::string pattern;
  std::optional<int64_t> since_ns, until_ns;  // versions present at some time in the window
  bool changed = false;                       // only versions that first appeared inside the window
  size_t limit = 0;                           // 0: no limit
};

// A drill as the catalog remembers it (catalog/drill_record.h): its
// record's number and digest in the site's repository anchor that history.
struct DrillEntry {
  std::string site;
  uint64_t seq = 0;
  std::string digest;  // hex BLAKE2b-256 of the stored record
  std::string drill_id;
  int64_t time_ns = 0;
  bool passed = false;
  std::string snapshot;  // the recovery point's id (hex)
  std::string report;    // the report, JSON text
};

class Catalog {
 public:
  // Opens or creates the catalog file (its directory must exist).
  static Result<std::unique_ptr<Catalog>> Open(const std::string& path);
  ~Catalog();

  // Brings `site` up to date with `repo`: adds its new snapshots (each one
  // entirely or not at all) and drops those no longer there. Work is
  // proportional to what changed: unchanged subtrees (same tree id as the
  // previous snapshot of the lineage) are never read. A site name is bound
  // to one repository id; another one is refused (rebuild the site).
  Result<CatalogSyncReport> Sync(Repository& repo, const std::string& site, const std::string& url);
  // Forgets everything about `site`, then syncs it from scratch.
  Result<CatalogSyncReport> Rebuild(Repository& repo, const std::string& site,
                                    const std::string& url);

  // Every snapshot known at every site (or at `site`), oldest first.
  Result<std::vector<RecoveryPoint>> RecoveryPoints(const std::string& site = "");
  // Every distinct version of `path` (absolute), oldest first.
  Result<std::vector<FileVersion>> Versions(const std::string& path);
  Result<std::vector<FileVersion>> Find(const FindQuery& query);

  // Remembers a drill recorded in `site`'s repository (binding the site as
  // Sync does), and lists the drills remembered (of `site`, or all).
  Status RecordDrill(const std::string& site, const std::string& url, const std::string& repo_id,
                     const DrillEntry& drill);
  Result<std::vector<DrillEntry>> Drills(const std::string& site = "");

  class Impl;

 private:
  explicit Catalog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The catalog file used when none is named: $DR_CATALOG, else
// $XDG_CACHE_HOME/dr/catalog.db, else ~/.cache/dr/catalog.db (the directory
// is created).
Result<std::string> DefaultCatalogPath();

}  // namespace dr
