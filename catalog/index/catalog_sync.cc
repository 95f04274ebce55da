// Sync: a site's snapshots into the catalog. Each new snapshot is compared
// with the previous one of its lineage tree by tree; a subtree whose id did
// not change is skipped without being read, so the work follows the changes.
// A version row stays open (last_seq NULL) while the newest snapshot of its
// lineage still holds it unchanged.
#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <unordered_map>

#include "catalog/drill_record.h"
#include "catalog/index/catalog_impl.h"
#include "core/timefmt.h"

namespace dr {
namespace {

std::string ChildPath(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

// What a version row holds of a node; two nodes with equal fields are the
// same version.
struct VersionFields {
  NodeType type = NodeType::kFile;
  uint32_t mode = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  std::string content;  // files: digest bytes; symlinks: target; images: map head
  bool operator==(const VersionFields&) const = default;
};

VersionFields FieldsOf(const Node& n) {
  VersionFields f{n.type, n.mode, n.size, n.mtime_ns, ""};
  if (n.type == NodeType::kFile) f.content = std::string(n.digest.Bytes());
  if (n.type == NodeType::kSymlink) f.content = n.link_target;
  return f;
}

// Adds one snapshot to its lineage inside the caller's transaction.
class SnapshotIngest {
 public:
  static Result<SnapshotIngest> Prepare(SqliteDb& db) {
    ASSIGN_OR_RETURN(auto find_path, db.Prepare("SELECT path_id FROM paths WHERE path = ?1"));
    ASSIGN_OR_RETURN(auto add_path, db.Prepare("INSERT INTO paths(path, name) VALUES(?1, ?2)"));
    ASSIGN_OR_RETURN(auto insert,
                     db.Prepare("INSERT INTO versions(lineage_id, path_id, first_seq, type, mode, "
                                "size, mtime_ns, content) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"));
    ASSIGN_OR_RETURN(auto close, db.Prepare("UPDATE versions SET last_seq = ?1 WHERE lineage_id = "
                                            "?2 AND path_id = ?3 AND last_seq IS NULL"));
    ASSIGN_OR_RETURN(auto close_under,
                     db.Prepare("UPDATE versions SET last_seq = ?1 WHERE lineage_id = ?2 AND "
                                "last_seq IS NULL AND path_id IN (SELECT path_id FROM paths WHERE "
                                "path >= ?3 AND path < ?4)"));
    ASSIGN_OR_RETURN(auto open,
                     db.Prepare("SELECT type, mode, size, mtime_ns, content FROM versions WHERE "
                                "lineage_id = ?1 AND path_id = ?2 AND last_seq IS NULL"));
    return SnapshotIngest(&db, std::move(find_path), std::move(add_path), std::move(insert),
                          std::move(close), std::move(close_under), std::move(open));
  }

  // Compares `s` with the lineage's previous snapshot and records the
  // differences at sequence number `seq`.
  Status Add(Repository& repo, const Lineage& lineage, const Snapshot& s, int64_t seq) {
    lineage_ = lineage.id;
    seq_ = seq;
    added_ = 0;
    if (s.block) {  // an image or device: one path whose content is the map head
      const std::string path = s.paths.empty() ? "/" : s.paths.front();
      VersionFields f{NodeType::kFile, 0, s.block->length, 0, std::string(s.tree.Bytes())};
      ASSIGN_OR_RETURN(int64_t path_id, PathId(path));
      ASSIGN_OR_RETURN(std::optional<VersionFields> open, OpenVersion(path_id));
      if (open && *open == f) return Status::OK();
      RETURN_IF_ERROR(Close(path_id));
      return Insert(path_id, f);
    }
    if (lineage.head_tree && *lineage.head_tree == s.tree) return Status::OK();
    return Walk(repo, "/", s.tree, lineage.head_seq > 0 ? lineage.head_tree : std::nullopt);
  }
  uint64_t added() const { return added_; }

 private:
  SnapshotIngest(SqliteDb* db, SqliteStatement find_path, SqliteStatement add_path,
                 SqliteStatement insert, SqliteStatement close, SqliteStatement close_under,
                 SqliteStatement open)
      : db_(db),
        find_path_(std::move(find_path)),
        add_path_(std::move(add_path)),
        insert_(std::move(insert)),
        close_(std::move(close)),
        close_under_(std::move(close_under)),
        open_(std::move(open)) {}

  // The open version of a path, if any.
  Result<std::optional<VersionFields>> OpenVersion(int64_t path_id) {
    open_.Bind(1, lineage_).Bind(2, path_id);
    ASSIGN_OR_RETURN(bool found, open_.Step());
    std::optional<VersionFields> f;
    if (found) {
      f = VersionFields{static_cast<NodeType>(open_.Int(0)), static_cast<uint32_t>(open_.Int(1)),
                        static_cast<uint64_t>(open_.Int(2)), open_.Int(3), open_.Text(4)};
    }
    open_.Reset();
    return f;
  }

  Status Walk(Repository& repo, const std::string& dir, const Id& now_id,
              const std::optional<Id>& before_id) {
    ASSIGN_OR_RETURN(Tree now, repo.LoadTree(now_id));
    Tree before;
    if (before_id) {
      auto loaded = repo.LoadTree(*before_id);
      if (loaded.ok()) {
        before = std::move(*loaded);
      } else {
        // The previous tree is gone (pruned) or unreadable: end every open
        // version below and record this subtree afresh.
        RETURN_IF_ERROR(CloseUnder(dir));
      }
    }
    size_t i = 0, j = 0;
    while (i < now.nodes.size() || j < before.nodes.size()) {
      const Node* n = i < now.nodes.size() ? &now.nodes[i] : nullptr;
      const Node* b = j < before.nodes.size() ? &before.nodes[j] : nullptr;
      const int order = !n ? 1 : !b ? -1 : n->name.compare(b->name);
      if (order > 0) {  // gone
        const std::string path = ChildPath(dir, b->name);
        ASSIGN_OR_RETURN(int64_t path_id, PathId(path));
        RETURN_IF_ERROR(Close(path_id));
        if (b->type == NodeType::kDir) RETURN_IF_ERROR(CloseUnder(path));
        ++j;
        continue;
      }
      const std::string path = ChildPath(dir, n->name);
      ASSIGN_OR_RETURN(int64_t path_id, PathId(path));
      const VersionFields fields = FieldsOf(*n);
      if (order < 0) {  // new
        RETURN_IF_ERROR(Insert(path_id, fields));
        if (n->type == NodeType::kDir) RETURN_IF_ERROR(Walk(repo, path, n->subtree, std::nullopt));
        ++i;
        continue;
      }
      if (FieldsOf(*b) != fields) {
        RETURN_IF_ERROR(Close(path_id));
        RETURN_IF_ERROR(Insert(path_id, fields));
      }
      if (n->type == NodeType::kDir && b->type == NodeType::kDir) {
        if (n->subtree != b->subtree) RETURN_IF_ERROR(Walk(repo, path, n->subtree, b->subtree));
      } else if (n->type == NodeType::kDir) {
        RETURN_IF_ERROR(Walk(repo, path, n->subtree, std::nullopt));
      } else if (b->type == NodeType::kDir) {
        RETURN_IF_ERROR(CloseUnder(path));
      }
      ++i;
      ++j;
    }
    return Status::OK();
  }

  Result<int64_t> PathId(const std::string& path) {
    find_path_.Bind(1, path);
    ASSIGN_OR_RETURN(bool found, find_path_.Step());
    if (found) {
      const int64_t id = find_path_.Int(0);
      find_path_.Reset();
      return id;
    }
    find_path_.Reset();
    const std::string name = path.substr(path.rfind('/') + 1);
    RETURN_IF_ERROR(add_path_.Bind(1, path).Bind(2, name).Run());
    return db_->LastInsertRowId();
  }

  Status Insert(int64_t path_id, const VersionFields& f) {
    insert_.Bind(1, lineage_).Bind(2, path_id).Bind(3, seq_);
    insert_.Bind(4, static_cast<int64_t>(f.type)).Bind(5, static_cast<int64_t>(f.mode));
    insert_.Bind(6, static_cast<int64_t>(f.size)).Bind(7, f.mtime_ns);
    if (f.content.empty()) {
      insert_.BindNull(8);
    } else {
      insert_.BindBlob(8, f.content);
    }
    ++added_;
    return insert_.Run();
  }

  Status Close(int64_t path_id) {
    return close_.Bind(1, seq_ - 1).Bind(2, lineage_).Bind(3, path_id).Run();
  }

  Status CloseUnder(const std::string& dir) {
    const std::string prefix = dir == "/" ? "/" : dir + "/";
    std::string end = prefix;
    end.back() = '/' + 1;
    return close_under_.Bind(1, seq_ - 1).Bind(2, lineage_).Bind(3, prefix).Bind(4, end).Run();
  }

  SqliteDb* db_;
  SqliteStatement find_path_, add_path_, insert_, close_, close_under_, open_;
  int64_t lineage_ = 0, seq_ = 0;
  uint64_t added_ = 0;
};

std::string LineageKeyPart(const std::string& s) { return s + '\0'; }

}  // namespace

std::string SnapshotKind(const Snapshot& s) {
  if (!s.block) return "files";
  return s.block->source_kind.empty() ? "image" : s.block->source_kind;
}

std::string JoinList(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) {
    if (!out.empty()) out += '\0';
    out += i;
  }
  return out;
}

std::vector<std::string> SplitList(const std::string& joined) {
  std::vector<std::string> out;
  if (joined.empty()) return out;
  size_t start = 0;
  for (;;) {
    const size_t end = joined.find('\0', start);
    out.push_back(joined.substr(start, end - start));
    if (end == std::string::npos) return out;
    start = end + 1;
  }
}

std::string LineageKey(const Snapshot& s) {
  std::vector<std::string> paths = s.paths;
  std::sort(paths.begin(), paths.end());
  return LineageKeyPart(s.identity) + LineageKeyPart(s.host) + LineageKeyPart(SnapshotKind(s)) +
         JoinList(paths);
}

Result<int64_t> Catalog::Impl::BindSite(const std::string& name, const std::string& url,
                                        const std::string& repo_id) {
  ASSIGN_OR_RETURN(auto find, db.Prepare("SELECT site_id, repo_id FROM sites WHERE name = ?1"));
  find.Bind(1, name);
  ASSIGN_OR_RETURN(bool found, find.Step());
  if (found) {
    if (find.Text(1) != repo_id) {
      return Status::InvalidArgument("catalog " + db.path() + ": site '" + name +
                                     "' is repository " + find.Text(1) + ", not " + repo_id + " (" +
                                     url + "); name another site, or run `drctl catalog rebuild`");
    }
    return find.Int(0);
  }
  ASSIGN_OR_RETURN(auto add,
                   db.Prepare("INSERT INTO sites(name, url, repo_id) VALUES(?1, ?2, ?3)"));
  RETURN_IF_ERROR(add.Bind(1, name).Bind(2, url).Bind(3, repo_id).Run());
  return db.LastInsertRowId();
}

Status Catalog::Impl::ForgetSite(const std::string& name, const std::string& repo_id) {
  SqliteTransaction txn(&db);
  RETURN_IF_ERROR(txn.Begin());
  // The drill anchors stay while the site is the same repository: they are
  // what the repository's drill history is checked against.
  for (const char* sql : {
           "DELETE FROM versions WHERE lineage_id IN (SELECT lineage_id FROM lineages WHERE "
           "site_id = (SELECT site_id FROM sites WHERE name = ?1))",
           "DELETE FROM snapshots WHERE site_id = (SELECT site_id FROM sites WHERE name = ?1)",
           "DELETE FROM lineages WHERE site_id = (SELECT site_id FROM sites WHERE name = ?1)",
           "DELETE FROM drills WHERE site_id = (SELECT site_id FROM sites WHERE name = ?1 AND "
           "repo_id != ?2)",
           "UPDATE sites SET repo_id = ?2 WHERE name = ?1",
       }) {
    ASSIGN_OR_RETURN(auto stmt, db.Prepare(sql));
    RETURN_IF_ERROR(stmt.Bind(1, name).Bind(2, repo_id).Run());
  }
  RETURN_IF_ERROR(db.Exec("DELETE FROM paths WHERE path_id NOT IN (SELECT path_id FROM versions)"));
  return txn.Commit();
}

namespace {

// The lineages of one site, loaded and saved around the sync.
class SiteLineages {
 public:
  static Result<SiteLineages> Load(SqliteDb& db, int64_t site_id) {
    SiteLineages l(&db, site_id);
    ASSIGN_OR_RETURN(auto q, db.Prepare("SELECT lineage_id, key, head_seq, head_time_ns, head_tree "
                                        "FROM lineages WHERE site_id = ?1"));
    q.Bind(1, site_id);
    for (;;) {
      ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      Lineage lin{q.Int(0), q.Int(2), q.Int(3), std::nullopt};
      if (!q.IsNull(4) && q.Text(4).size() == 16) lin.head_tree = Id::FromBytes(q.Text(4));
      l.by_key_[q.Text(1)] = lin;
    }
    return l;
  }

  Result<Lineage> Get(const std::string& key) {
    auto it = by_key_.find(key);
    if (it != by_key_.end()) return it->second;
    ASSIGN_OR_RETURN(auto add, db_->Prepare("INSERT INTO lineages(site_id, key) VALUES(?1, ?2)"));
    RETURN_IF_ERROR(add.Bind(1, site_id_).Bind(2, key).Run());
    Lineage lin{db_->LastInsertRowId(), 0, 0, std::nullopt};
    by_key_[key] = lin;
    return lin;
  }

  // Inside the snapshot's transaction.
  Status Advance(const std::string& key, const Snapshot& s) {
    Lineage& lin = by_key_.at(key);
    ASSIGN_OR_RETURN(auto up, db_->Prepare("UPDATE lineages SET head_seq = ?1, head_time_ns = ?2, "
                                           "head_tree = ?3 WHERE lineage_id = ?4"));
    RETURN_IF_ERROR(up.Bind(1, lin.head_seq + 1)
                        .Bind(2, s.time_ns)
                        .BindBlob(3, s.tree.Bytes())
                        .Bind(4, lin.id)
                        .Run());
    return Status::OK();
  }
  void Advanced(const std::string& key, const Snapshot& s) {
    Lineage& lin = by_key_.at(key);
    ++lin.head_seq;
    lin.head_time_ns = s.time_ns;
    lin.head_tree = s.tree;
  }
  void Reset(const std::string& key) { by_key_.at(key) = Lineage{by_key_.at(key).id, 0, 0, {}}; }

 private:
  SiteLineages(SqliteDb* db, int64_t site_id) : db_(db), site_id_(site_id) {}
  SqliteDb* db_;
  int64_t site_id_;
  std::map<std::string, Lineage> by_key_;
};

Status InsertSnapshotRow(SqliteDb& db, int64_t site_id, const Lineage& lin, const Snapshot& s) {
  ASSIGN_OR_RETURN(auto add,
                   db.Prepare("INSERT INTO snapshots(site_id, id, lineage_id, seq, time_ns, "
                              "host, identity, policy, kind, paths, tags, bytes_total, "
                              "bytes_added, files, partial) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                              "?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"));
  const SnapshotStats& st = s.stats;
  add.Bind(1, site_id).BindBlob(2, s.id.Bytes()).Bind(3, lin.id).Bind(4, lin.head_seq + 1);
  add.Bind(5, s.time_ns).Bind(6, s.host).Bind(7, s.identity).Bind(8, s.policy);
  add.Bind(9, SnapshotKind(s)).Bind(10, JoinList(s.paths)).Bind(11, JoinList(s.tags));
  add.Bind(12, static_cast<int64_t>(st.bytes_total)).Bind(13, static_cast<int64_t>(st.bytes_added));
  add.Bind(14, static_cast<int64_t>(st.files_new + st.files_changed + st.files_unchanged));
  add.Bind(15, static_cast<int64_t>(s.partial));
  return add.Run();
}

// Drops the rows of snapshots no longer at the site, then the version rows
// that no remaining snapshot of their lineage holds, then empty lineages.
Status DropRemoved(SqliteDb& db, int64_t site_id, const std::vector<std::string>& removed) {
  if (removed.empty()) return Status::OK();
  SqliteTransaction txn(&db);
  RETURN_IF_ERROR(txn.Begin());
  ASSIGN_OR_RETURN(auto del, db.Prepare("DELETE FROM snapshots WHERE site_id = ?1 AND id = ?2"));
  for (const std::string& id : removed) RETURN_IF_ERROR(del.Bind(1, site_id).BindBlob(2, id).Run());
  // Closed rows no remaining snapshot holds. Open rows stay while their
  // lineage does: the lineage's next snapshot is compared with its head
  // tree, which assumes every entry of it still has its open row.
  ASSIGN_OR_RETURN(auto gc,
                   db.Prepare("DELETE FROM versions WHERE lineage_id IN (SELECT lineage_id FROM "
                              "lineages WHERE site_id = ?1) AND last_seq IS NOT NULL AND NOT "
                              "EXISTS (SELECT 1 FROM snapshots s WHERE s.lineage_id = "
                              "versions.lineage_id AND s.seq BETWEEN versions.first_seq AND "
                              "versions.last_seq)"));
  RETURN_IF_ERROR(gc.Bind(1, site_id).Run());
  for (const char* sql : {"DELETE FROM versions WHERE lineage_id IN (SELECT lineage_id FROM "
                          "lineages WHERE site_id = ?1 AND NOT EXISTS (SELECT 1 FROM snapshots s "
                          "WHERE s.lineage_id = lineages.lineage_id))",
                          "DELETE FROM lineages WHERE site_id = ?1 AND NOT EXISTS (SELECT 1 FROM "
                          "snapshots s WHERE s.lineage_id = lineages.lineage_id)"}) {
    ASSIGN_OR_RETURN(auto stmt, db.Prepare(sql));
    RETURN_IF_ERROR(stmt.Bind(1, site_id).Run());
  }
  return txn.Commit();
}

// Remembers the site's drill records this catalog has not seen, so that a
// later edit of any of them is caught by `drill history`; only from a chain
// that checks out, and a record that changed since it was remembered is
// reported, never re-anchored.
Status ImportDrills(SqliteDb& db, int64_t site_id, const std::string& site, ObjectStore* store,
                    CatalogSyncReport* report) {
  ASSIGN_OR_RETURN(DrillHistory history, ReadDrillHistory(store));
  if (history.records.empty()) return Status::OK();
  if (!history.problems.empty()) {
    report->warnings.push_back("drill history of " + site +
                               " not imported: " + history.problems.front());
    return Status::OK();
  }
  std::map<uint64_t, std::string> known;
  ASSIGN_OR_RETURN(auto q, db.Prepare("SELECT seq, digest FROM drills WHERE site_id = ?1"));
  q.Bind(1, site_id);
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    known[static_cast<uint64_t>(q.Int(0))] = q.Text(1);
  }
  ASSIGN_OR_RETURN(auto add,
                   db.Prepare("INSERT INTO drills(site_id, seq, digest, drill_id, time_ns, "
                              "passed, snapshot, report) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"));
  for (const DrillRecord& r : history.records) {
    auto it = known.find(r.seq);
    if (it != known.end()) {
      if (it->second != r.digest) {
        report->warnings.push_back("drill record " + std::to_string(r.seq) + " of " + site +
                                   " differs from the one this catalog remembered");
      }
      continue;
    }
    std::string drill_id, snapshot, started;
    bool passed = false;
    try {  // a record with members of the wrong type still anchors by digest
      const nlohmann::json& j = r.report;
      if (j.is_object()) {
        drill_id = j.value("drill_id", "");
        started = j.value("started", "");
        passed = j.value("passed", false);
        if (j.contains("recovery_point") && j["recovery_point"].is_object()) {
          snapshot = j["recovery_point"].value("snapshot", "");
        }
      }
    } catch (const nlohmann::json::exception&) {
    }
    auto t = ParseTimeArg(started.substr(0, std::min<size_t>(started.size(), 19)) + "Z");
    add.Bind(1, site_id).Bind(2, static_cast<int64_t>(r.seq)).Bind(3, r.digest);
    add.Bind(4, drill_id).Bind(5, t.ok() ? *t : 0).Bind(6, static_cast<int64_t>(passed));
    add.Bind(7, snapshot)
        .Bind(8, r.report.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    RETURN_IF_ERROR(add.Run());
    ++report->drills_added;
  }
  return Status::OK();
}

}  // namespace

Result<CatalogSyncReport> Catalog::Impl::Sync(Repository& repo, const std::string& site,
                                              const std::string& url) {
  const auto start = std::chrono::steady_clock::now();
  CatalogSyncReport report;
  std::vector<std::string> unreadable;
  ASSIGN_OR_RETURN(std::vector<Snapshot> all, repo.ListSnapshots(&unreadable));
  ASSIGN_OR_RETURN(int64_t site_id, BindSite(site, url, repo.config().repo_id));

  std::set<std::string> known;
  {
    ASSIGN_OR_RETURN(auto q, db.Prepare("SELECT id FROM snapshots WHERE site_id = ?1"));
    q.Bind(1, site_id);
    for (;;) {
      ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      known.insert(q.Text(0));
    }
  }
  std::set<std::string> present;
  for (const Snapshot& s : all) present.insert(std::string(s.id.Bytes()));
  std::vector<std::string> removed;
  std::set_difference(known.begin(), known.end(), present.begin(), present.end(),
                      std::back_inserter(removed));
  if (unreadable.empty()) {
    RETURN_IF_ERROR(DropRemoved(db, site_id, removed));
    report.snapshots_removed = static_cast<int>(removed.size());
  } else {
    // A snapshot that could not be read this time is not a forgotten one:
    // nothing is dropped until every snapshot reads.
    report.warnings.push_back(
        std::to_string(unreadable.size()) +
        " snapshots unreadable, nothing dropped this time; first: " + unreadable.front());
  }

  std::stable_sort(all.begin(), all.end(), [](const Snapshot& a, const Snapshot& b) {
    return a.time_ns != b.time_ns ? a.time_ns < b.time_ns : a.id < b.id;
  });
  ASSIGN_OR_RETURN(SiteLineages lineages, SiteLineages::Load(db, site_id));
  ASSIGN_OR_RETURN(SnapshotIngest ingest, SnapshotIngest::Prepare(db));
  // A snapshot older than its lineage's newest (a late replica, a clock
  // step) cannot extend the intervals: its lineage is indexed again, in order.
  std::set<std::string> reindex, skipped;
  auto add_one = [&](const Snapshot& s, const std::string& key) -> Status {
    ASSIGN_OR_RETURN(Lineage lin, lineages.Get(key));
    SqliteTransaction txn(&db);
    RETURN_IF_ERROR(txn.Begin());
    Status added = ingest.Add(repo, lin, s, lin.head_seq + 1);
    if (!added.ok()) {
      return Status::FromCode(static_cast<int>(added.code()),
                              "snapshot " + s.ShortId() + ": " + added.message());
    }
    RETURN_IF_ERROR(InsertSnapshotRow(db, site_id, lin, s));
    RETURN_IF_ERROR(lineages.Advance(key, s));
    RETURN_IF_ERROR(txn.Commit());
    lineages.Advanced(key, s);
    report.versions_added += ingest.added();
    return Status::OK();
  };
  for (const Snapshot& s : all) {
    if (known.count(std::string(s.id.Bytes()))) continue;
    const std::string key = LineageKey(s);
    if (reindex.count(key)) continue;
    ASSIGN_OR_RETURN(Lineage lin, lineages.Get(key));
    if (lin.head_seq > 0 && s.time_ns < lin.head_time_ns) {
      reindex.insert(key);
      continue;
    }
    if (Status a = add_one(s, key); !a.ok()) {
      if (a.code() != Code::kCorruption && a.code() != Code::kNotFound) return a;
      report.warnings.push_back("not indexed: " + a.message());
      skipped.insert(std::string(s.id.Bytes()));
    }
  }
  for (const std::string& key : reindex) {
    ASSIGN_OR_RETURN(Lineage lin, lineages.Get(key));
    {
      SqliteTransaction txn(&db);
      RETURN_IF_ERROR(txn.Begin());
      for (const char* sql : {"DELETE FROM versions WHERE lineage_id = ?1",
                              "DELETE FROM snapshots WHERE lineage_id = ?1",
                              "UPDATE lineages SET head_seq = 0, head_time_ns = 0, head_tree = "
                              "NULL WHERE lineage_id = ?1"}) {
        ASSIGN_OR_RETURN(auto stmt, db.Prepare(sql));
        RETURN_IF_ERROR(stmt.Bind(1, lin.id).Run());
      }
      RETURN_IF_ERROR(txn.Commit());
    }
    lineages.Reset(key);
    for (const Snapshot& s : all) {
      if (LineageKey(s) != key) continue;
      if (Status a = add_one(s, key); !a.ok()) {
        if (a.code() != Code::kCorruption && a.code() != Code::kNotFound) return a;
        report.warnings.push_back("not indexed: " + a.message());
        skipped.insert(std::string(s.id.Bytes()));
      }
    }
    ++report.lineages_reindexed;
  }
  for (const Snapshot& s : all) {
    const std::string id(s.id.Bytes());
    report.snapshots_added += !known.count(id) && !skipped.count(id);
  }
  if (Status d = ImportDrills(db, site_id, site, repo.store(), &report); !d.ok()) {
    report.warnings.push_back("drill history of " + site + " not read: " + d.message());
  }
  ASSIGN_OR_RETURN(auto stamp,
                   db.Prepare("UPDATE sites SET synced_ns = ?1, url = ?2 WHERE site_id = ?3"));
  RETURN_IF_ERROR(stamp.Bind(1, NowUnixNs()).Bind(2, url).Bind(3, site_id).Run());
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace dr
