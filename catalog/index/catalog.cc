// Opening the catalog, its schema, and the queries it answers.
#include "catalog/index/catalog.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <tuple>

#include "catalog/index/catalog_impl.h"

namespace dr {
namespace {

// docs/format/catalog.md describes every table.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sites(
  site_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, url TEXT NOT NULL,
  repo_id TEXT NOT NULL, synced_ns INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS lineages(
  lineage_id INTEGER PRIMARY KEY, site_id INTEGER NOT NULL, key TEXT NOT NULL,
  head_seq INTEGER NOT NULL DEFAULT 0, head_time_ns INTEGER NOT NULL DEFAULT 0, head_tree BLOB,
  UNIQUE(site_id, key));
CREATE TABLE IF NOT EXISTS snapshots(
  site_id INTEGER NOT NULL, id BLOB NOT NULL, lineage_id INTEGER NOT NULL, seq INTEGER NOT NULL,
  time_ns INTEGER NOT NULL, host TEXT NOT NULL, identity TEXT NOT NULL, policy TEXT NOT NULL,
  kind TEXT NOT NULL, paths TEXT NOT NULL, tags TEXT NOT NULL, bytes_total INTEGER NOT NULL,
  bytes_added INTEGER NOT NULL, files INTEGER NOT NULL, partial INTEGER NOT NULL,
  PRIMARY KEY(site_id, id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS snapshots_by_lineage ON snapshots(lineage_id, seq);
CREATE TABLE IF NOT EXISTS paths(path_id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE,
                                 name TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS paths_by_name ON paths(name);
CREATE TABLE IF NOT EXISTS versions(
  lineage_id INTEGER NOT NULL, path_id INTEGER NOT NULL, first_seq INTEGER NOT NULL,
  last_seq INTEGER, type INTEGER NOT NULL, mode INTEGER NOT NULL, size INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL, content BLOB);
CREATE INDEX IF NOT EXISTS versions_by_path ON versions(path_id);
CREATE INDEX IF NOT EXISTS versions_open ON versions(lineage_id, path_id) WHERE last_seq IS NULL;
CREATE TABLE IF NOT EXISTS drills(
  site_id INTEGER NOT NULL, seq INTEGER NOT NULL, digest TEXT NOT NULL, drill_id TEXT NOT NULL,
  time_ns INTEGER NOT NULL, passed INTEGER NOT NULL, snapshot TEXT NOT NULL, report TEXT NOT NULL,
  PRIMARY KEY(site_id, seq)) WITHOUT ROWID;
)sql";

constexpr const char* kDropAll = R"sql(
DROP TABLE IF EXISTS drills; DROP TABLE IF EXISTS versions; DROP TABLE IF EXISTS paths; DROP TABLE IF EXISTS snapshots;
DROP TABLE IF EXISTS lineages; DROP TABLE IF EXISTS sites; DROP TABLE IF EXISTS meta;
)sql";

// The columns every version query selects, in this order.
constexpr const char* kVersionColumns =
    "SELECT p.path, v.lineage_id, v.first_seq, COALESCE(v.last_seq, l.head_seq), v.type, v.size, "
    "v.mtime_ns, v.content, si.name FROM paths p JOIN versions v ON v.path_id = p.path_id JOIN "
    "lineages l ON l.lineage_id = v.lineage_id JOIN sites si ON si.site_id = l.site_id ";

struct Holder {
  int64_t time_ns;
  std::string id;  // raw bytes
};

// Version rows merged into distinct versions, each with every snapshot that
// holds it.
class VersionMerger {
 public:
  static Result<VersionMerger> Prepare(SqliteDb& db) {
    ASSIGN_OR_RETURN(auto holders, db.Prepare("SELECT time_ns, id FROM snapshots WHERE lineage_id "
                                              "= ?1 AND seq BETWEEN ?2 AND ?3 ORDER BY seq"));
    return VersionMerger(std::move(holders));
  }

  // Reads every row of `rows` (a statement selecting kVersionColumns).
  Status AddRows(SqliteStatement& rows) {
    for (;;) {
      ASSIGN_OR_RETURN(bool row, rows.Step());
      if (!row) break;
      Key key{rows.Text(0), static_cast<int>(rows.Int(4)), rows.Int(5), rows.Int(6), rows.Text(7)};
      holders_.Bind(1, rows.Int(1)).Bind(2, rows.Int(2)).Bind(3, rows.Int(3));
      Merged& m = merged_[key];
      bool any = false;
      for (;;) {
        ASSIGN_OR_RETURN(bool h, holders_.Step());
        if (!h) break;
        m.holders.push_back(Holder{holders_.Int(0), holders_.Text(1)});
        any = true;
      }
      holders_.Reset();
      if (any) m.sites.insert(rows.Text(8));
    }
    return Status::OK();
  }

  // Versions held by at least one snapshot, by path, then oldest first.
  std::vector<FileVersion> Take() {
    std::vector<FileVersion> out;
    for (auto& [key, m] : merged_) {
      if (m.holders.empty()) continue;  // every snapshot holding it was forgotten
      std::sort(m.holders.begin(), m.holders.end(), [](const Holder& a, const Holder& b) {
        return std::tie(a.time_ns, a.id) < std::tie(b.time_ns, b.id);
      });
      FileVersion v;
      v.path = key.path;
      v.type = static_cast<NodeType>(key.type);
      v.size = static_cast<uint64_t>(key.size);
      v.mtime_ns = key.mtime_ns;
      if (v.type == NodeType::kSymlink) {
        v.link_target = key.content;
      } else if (key.content.size() == 16) {
        v.digest = Id::FromBytes(key.content).Hex();
      }
      v.first_time_ns = m.holders.front().time_ns;
      v.last_time_ns = m.holders.back().time_ns;
      v.first_snapshot = Id::FromBytes(m.holders.front().id).Hex();
      v.last_snapshot = Id::FromBytes(m.holders.back().id).Hex();
      std::set<std::string> ids;
      for (const Holder& h : m.holders) ids.insert(h.id);
      v.snapshots = static_cast<int>(ids.size());
      v.sites.assign(m.sites.begin(), m.sites.end());
      out.push_back(std::move(v));
    }
    std::stable_sort(out.begin(), out.end(), [](const FileVersion& a, const FileVersion& b) {
      return std::tie(a.path, a.first_time_ns, a.last_time_ns) <
             std::tie(b.path, b.first_time_ns, b.last_time_ns);
    });
    return out;
  }

  // Whether a snapshot holding `v` was taken inside [since, until]; with
  // `first_only`, whether the first one was.
  bool HeldWithin(const FileVersion& v, const FindQuery& q) const {
    const int64_t since = q.since_ns.value_or(INT64_MIN), until = q.until_ns.value_or(INT64_MAX);
    if (q.changed) return v.first_time_ns >= since && v.first_time_ns <= until;
    auto it = merged_.find(Key{v.path, static_cast<int>(v.type), static_cast<int64_t>(v.size),
                               v.mtime_ns, ContentOf(v)});
    if (it == merged_.end()) return false;
    for (const Holder& h : it->second.holders)
      if (h.time_ns >= since && h.time_ns <= until) return true;
    return false;
  }

 private:
  struct Key {
    std::string path;
    int type;
    int64_t size, mtime_ns;
    std::string content;
    auto operator<=>(const Key&) const = default;
  };
  struct Merged {
    std::vector<Holder> holders;
    std::set<std::string> sites;
  };
  static std::string ContentOf(const FileVersion& v) {
    if (v.type == NodeType::kSymlink) return v.link_target;
    Id id;
    return Id::FromHex(v.digest, &id) ? std::string(id.Bytes()) : std::string();
  }
  explicit VersionMerger(SqliteStatement holders) : holders_(std::move(holders)) {}

  SqliteStatement holders_;
  std::map<Key, Merged> merged_;
};

}  // namespace

Status Catalog::Impl::CreateSchema() {
  RETURN_IF_ERROR(
      db.Exec("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT "
              "NOT NULL)"));
  ASSIGN_OR_RETURN(auto version, db.Prepare("SELECT value FROM meta WHERE key = 'schema'"));
  ASSIGN_OR_RETURN(bool found, version.Step());
  const std::string have = found ? version.Text(0) : "";
  version.Reset();
  const std::string want = std::to_string(kCatalogSchemaVersion);
  if (have == want) return Status::OK();
  // Another version (or a fresh file): everything here is derived, so the
  // tables are made again and the next sync fills them.
  SqliteTransaction txn(&db);
  RETURN_IF_ERROR(txn.Begin());
  // Another process may have made the tables since the check above.
  ASSIGN_OR_RETURN(bool made, version.Step());
  const bool current = made && version.Text(0) == want;
  version.Reset();
  if (current) return txn.Commit();
  RETURN_IF_ERROR(db.Exec(kDropAll));
  RETURN_IF_ERROR(db.Exec(kSchema));
  RETURN_IF_ERROR(db.Exec("INSERT INTO meta(key, value) VALUES('schema', '" + want + "')"));
  return txn.Commit();
}

Catalog::Catalog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Catalog::~Catalog() = default;

Result<std::unique_ptr<Catalog>> Catalog::Open(const std::string& path) {
  ASSIGN_OR_RETURN(SqliteDb db, SqliteDb::Open(path));
  auto impl = std::make_unique<Impl>(std::move(db));
  RETURN_IF_ERROR(impl->CreateSchema());
  return std::unique_ptr<Catalog>(new Catalog(std::move(impl)));
}

Result<CatalogSyncReport> Catalog::Sync(Repository& repo, const std::string& site,
                                        const std::string& url) {
  return impl_->Sync(repo, site, url);
}

Result<CatalogSyncReport> Catalog::Rebuild(Repository& repo, const std::string& site,
                                           const std::string& url) {
  RETURN_IF_ERROR(impl_->ForgetSite(site, repo.config().repo_id));
  return impl_->Sync(repo, site, url);
}

Result<std::vector<RecoveryPoint>> Catalog::RecoveryPoints(const std::string& site) {
  ASSIGN_OR_RETURN(auto q, impl_->db.Prepare(
                               "SELECT si.name, s.id, s.time_ns, s.host, s.identity, s.policy, "
                               "s.kind, s.paths, s.tags, s.bytes_total, s.bytes_added, s.files, "
                               "s.partial FROM snapshots s JOIN sites si ON si.site_id = s.site_id "
                               "WHERE ?1 = '' OR si.name = ?1 ORDER BY s.time_ns, s.id, si.name"));
  q.Bind(1, site);
  std::vector<RecoveryPoint> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    RecoveryPoint p;
    p.site = q.Text(0);
    p.id = Id::FromBytes(q.Text(1)).Hex();
    p.time_ns = q.Int(2);
    p.host = q.Text(3);
    p.identity = q.Text(4);
    p.policy = q.Text(5);
    p.kind = q.Text(6);
    p.paths = SplitList(q.Text(7));
    p.tags = SplitList(q.Text(8));
    p.bytes_total = static_cast<uint64_t>(q.Int(9));
    p.bytes_added = static_cast<uint64_t>(q.Int(10));
    p.files = static_cast<uint64_t>(q.Int(11));
    p.partial = q.Int(12) != 0;
    out.push_back(std::move(p));
  }
  return out;
}

Result<std::vector<FileVersion>> Catalog::Versions(const std::string& path) {
  std::string clean = path;
  while (clean.size() > 1 && clean.back() == '/') clean.pop_back();
  if (clean.empty() || clean.front() != '/') {
    return Status::InvalidArgument("versions: '" + path + "' is not an absolute path");
  }
  ASSIGN_OR_RETURN(auto rows,
                   impl_->db.Prepare(std::string(kVersionColumns) + "WHERE p.path = ?1"));
  rows.Bind(1, clean);
  ASSIGN_OR_RETURN(VersionMerger merger, VersionMerger::Prepare(impl_->db));
  RETURN_IF_ERROR(merger.AddRows(rows));
  return merger.Take();
}

Result<std::vector<FileVersion>> Catalog::Find(const FindQuery& query) {
  if (query.pattern.empty()) return Status::InvalidArgument("find: the pattern is empty");
  const bool whole_path = query.pattern.find('/') != std::string::npos;
  ASSIGN_OR_RETURN(
      auto rows, impl_->db.Prepare(std::string(kVersionColumns) +
                                   (whole_path ? "WHERE p.path GLOB ?1" : "WHERE p.name GLOB ?1")));
  rows.Bind(1, query.pattern);
  ASSIGN_OR_RETURN(VersionMerger merger, VersionMerger::Prepare(impl_->db));
  RETURN_IF_ERROR(merger.AddRows(rows));
  std::vector<FileVersion> out;
  for (FileVersion& v : merger.Take()) {
    if (!merger.HeldWithin(v, query)) continue;
    out.push_back(std::move(v));
    if (query.limit != 0 && out.size() >= query.limit) break;
  }
  return out;
}

Status Catalog::RecordDrill(const std::string& site, const std::string& url,
                            const std::string& repo_id, const DrillEntry& drill) {
  ASSIGN_OR_RETURN(int64_t site_id, impl_->BindSite(site, url, repo_id));
  // An anchor is never replaced: the same number with another digest means
  // records were removed from the repository and the number used again.
  ASSIGN_OR_RETURN(auto have,
                   impl_->db.Prepare("SELECT digest FROM drills WHERE site_id = ?1 AND seq = ?2"));
  have.Bind(1, site_id).Bind(2, static_cast<int64_t>(drill.seq));
  ASSIGN_OR_RETURN(bool found, have.Step());
  const std::string known = found ? have.Text(0) : "";
  have.Reset();
  if (found) {
    if (known == drill.digest) return Status::OK();
    return Status::Corruption("catalog " + impl_->db.path() + " already remembers drill record " +
                              std::to_string(drill.seq) + " of " + site +
                              " with another digest: records were removed from the drill "
                              "history and the number used again");
  }
  ASSIGN_OR_RETURN(
      auto add,
      impl_->db.Prepare("INSERT INTO drills(site_id, seq, digest, drill_id, time_ns, "
                        "passed, snapshot, report) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"));
  add.Bind(1, site_id).Bind(2, static_cast<int64_t>(drill.seq)).Bind(3, drill.digest);
  add.Bind(4, drill.drill_id).Bind(5, drill.time_ns).Bind(6, static_cast<int64_t>(drill.passed));
  add.Bind(7, drill.snapshot).Bind(8, drill.report);
  return add.Run();
}

Result<std::vector<DrillEntry>> Catalog::Drills(const std::string& site) {
  ASSIGN_OR_RETURN(
      auto q, impl_->db.Prepare("SELECT si.name, d.seq, d.digest, d.drill_id, d.time_ns, d.passed, "
                                "d.snapshot, d.report FROM drills d JOIN sites si ON si.site_id = "
                                "d.site_id WHERE ?1 = '' OR si.name = ?1 ORDER BY si.name, d.seq"));
  q.Bind(1, site);
  std::vector<DrillEntry> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out.push_back(DrillEntry{q.Text(0), static_cast<uint64_t>(q.Int(1)), q.Text(2), q.Text(3),
                             q.Int(4), q.Int(5) != 0, q.Text(6), q.Text(7)});
  }
  return out;
}

Result<std::string> DefaultCatalogPath() {
  if (const char* env = std::getenv("DR_CATALOG"); env != nullptr && *env != '\0')
    return std::string(env);
  std::filesystem::path dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg == '/') {
    dir = std::filesystem::path(xdg) / "dr";
  } else if (const char* home = std::getenv("HOME"); home != nullptr && *home == '/') {
    dir = std::filesystem::path(home) / ".cache" / "dr";
  } else {
    return Status::InvalidArgument(
        "no catalog file: set DR_CATALOG or HOME, or pass --catalog FILE");
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("create " + dir.string() + ": " + ec.message());
  return (dir / "catalog.db").string();
}

}  // namespace dr
