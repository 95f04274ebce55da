// Private to catalog/index: the state behind Catalog, shared by the file
// that syncs (catalog_sync.cc) and the one that answers (catalog.cc).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "catalog/index/catalog.h"
#include "catalog/index/sqlite_db.h"

namespace dr {

// The version of the schema in docs/format/catalog.md. A catalog of another
// version is dropped and rebuilt (it holds nothing that is not derived).
inline constexpr int kCatalogSchemaVersion = 2;

// A lineage is the series of snapshots of one source as one writer took it
// (identity, host, kind and paths): version intervals are sequence numbers
// within it.
struct Lineage {
  int64_t id = 0;
  int64_t head_seq = 0;      // the newest snapshot ingested; 0 = none yet
  int64_t head_time_ns = 0;  // its time
  std::optional<Id> head_tree;
};

class Catalog::Impl {
 public:
  explicit Impl(SqliteDb db) : db(std::move(db)) {}
  Status CreateSchema();

  // ---- sync (catalog_sync.cc)
  Result<int64_t> BindSite(const std::string& name, const std::string& url,
                           const std::string& repo_id);
  // Drops the site's snapshots and versions (and its drill anchors, when it
  // is now another repository); keeps the site.
  Status ForgetSite(const std::string& name, const std::string& repo_id);
  Result<CatalogSyncReport> Sync(Repository& repo, const std::string& site, const std::string& url);

  SqliteDb db;
};

// Stable text for a lineage: identity, host, kind and sorted paths.
std::string LineageKey(const Snapshot& s);
std::string SnapshotKind(const Snapshot& s);
// Lists stored in one text column, '\0'-separated (paths are raw bytes).
std::string JoinList(const std::vector<std::string>& items);
std::vector<std::string> SplitList(const std::string& joined);

}  // namespace dr
