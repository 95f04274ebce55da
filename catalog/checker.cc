#include "catalog/checker.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "catalog/format/blob.h"
#include "catalog/tree_walk.h"

namespace dr {

const char* ProblemKindName(ProblemKind k) {
  switch (k) {
    case ProblemKind::kIndex:
      return "index";
    case ProblemKind::kPackMissing:
      return "pack missing";
    case ProblemKind::kCondemnedGone:
      return "condemned pack deleted";
    case ProblemKind::kKeyDamaged:
      return "key damaged";
    case ProblemKind::kPackDamaged:
      return "pack damaged";
    case ProblemKind::kBlobDamaged:
      return "blob damaged";
    case ProblemKind::kSnapshotDamaged:
      return "snapshot damaged";
    case ProblemKind::kTreeDamaged:
      return "tree damaged";
    case ProblemKind::kBlobMissing:
      return "blob missing";
    case ProblemKind::kFileDamaged:
      return "file damaged";
    case ProblemKind::kUnindexedPack:
      return "unindexed pack";
  }
  return "?";
}

size_t CheckReport::error_count() const {
  return static_cast<size_t>(
      std::count_if(problems.begin(), problems.end(), [](const auto& p) { return p.IsError(); }));
}

namespace {

class CheckRun {
 public:
  CheckRun(Repository& repo, const CheckOptions& opt) : repo_(repo), opt_(opt) {
    if (!opt_.progress) opt_.progress = &own_progress_;
  }
  Result<CheckReport> Run();

 private:
  void Problem(ProblemKind kind, std::string where, std::string message) {
    std::lock_guard l(mu_);
    report_.problems.push_back({kind, std::move(where), std::move(message)});
  }
  void CheckPack(const Id& pack, const std::vector<std::pair<Id, BlobLocation>>& expected);
  void CheckSnapshots();
  // A block snapshot: its map loads and every block's chunk is sound.
  template <typename BlobProblem>
  void CheckBlockMap(const Snapshot& s, const std::string& where, BlobProblem blob_problem) {
    auto map = repo_.LoadBlockMap(s.tree);
    if (!map.ok()) {
      Problem(ProblemKind::kTreeDamaged, where + " block map", map.status().message());
      return;
    }
    report_.files++;
    std::string why;
    for (size_t i = 0; i < map->blocks.size(); ++i) {
      const BlockRef& b = map->blocks[i];
      if (!b.zero && blob_problem(b.chunk, &why)) {
        Problem(ProblemKind::kFileDamaged,
                where + " block " + std::to_string(i) + " (offset " +
                    std::to_string(i * uint64_t{map->block_size}) + ")",
                why);
      }
    }
  }

  Repository& repo_;
  CheckOptions opt_;
  ProgressCounters own_progress_;
  std::mutex mu_;
  CheckReport report_;                          // GUARDED_BY(mu_)
  std::unordered_map<Id, Id, IdHash> damaged_;  // blob -> pack; GUARDED_BY(mu_)
};

void CheckRun::CheckPack(const Id& pack, const std::vector<std::pair<Id, BlobLocation>>& expected) {
  const std::string key = PackKey(pack);
  const std::string where = "pack " + pack.Hex();
  auto mark_all_damaged = [&] {
    std::lock_guard l(mu_);
    for (const auto& [id, loc] : expected) damaged_[id] = pack;
  };
  std::vector<PackEntry> entries;
  std::string bytes;
  if (opt_.read_data) {
    auto data = repo_.store()->Get(key);
    if (!data.ok()) {
      Problem(ProblemKind::kPackDamaged, where, data.status().message());
      mark_all_damaged();
      return;
    }
    bytes = std::move(data).value();
    opt_.progress->bytes_done += bytes.size();
    {
      std::lock_guard l(mu_);
      report_.bytes_read += bytes.size();
    }
    if (repo_.names().Hash(bytes) != pack) {
      Problem(ProblemKind::kPackDamaged, where, "content does not match the pack's id");
    }
    auto parsed = ParsePack(bytes, where);
    if (parsed.ok())
      entries = std::move(parsed).value();
    else
      Problem(ProblemKind::kPackDamaged, where, parsed.status().message());
  } else {
    auto parsed = ReadPackHeader(repo_.store(), key);
    if (!parsed.ok()) {
      Problem(ProblemKind::kPackDamaged, where, parsed.status().message());
      mark_all_damaged();
      std::lock_guard l(mu_);
      report_.packs++;
      report_.blobs += expected.size();
      return;
    }
    entries = std::move(parsed).value();
  }
  std::unordered_map<Id, const PackEntry*, IdHash> by_id;
  for (const auto& e : entries) by_id[e.id] = &e;
  Repository::BlobBuffers buffers;
  for (const auto& [id, loc] : expected) {
    auto it = by_id.find(id);
    bool header_ok = it != by_id.end() && it->second->offset == loc.offset &&
                     it->second->stored_len == loc.stored_len && it->second->raw_len == loc.raw_len;
    bool data_ok = header_ok;
    if (opt_.read_data) {
      // Trust the index's location even if the header is damaged: the blob
      // itself may still be intact and its id proves it.
      if (static_cast<uint64_t>(loc.offset) + loc.stored_len > bytes.size()) {
        data_ok = false;
      } else {
        auto raw = repo_.DecodePacked(loc.type, id, loc.raw_len,
                                      std::string_view(bytes).substr(loc.offset, loc.stored_len),
                                      where, &buffers);
        data_ok = raw.ok();
        if (!raw.ok()) Problem(ProblemKind::kBlobDamaged, where, raw.status().message());
      }
    } else if (!header_ok) {
      Problem(ProblemKind::kPackDamaged, where,
              "blob " + id.Hex() + " is not where the index says");
    }
    if (!data_ok) {
      std::lock_guard l(mu_);
      damaged_[id] = pack;
    }
  }
  std::lock_guard l(mu_);
  report_.packs++;
  report_.blobs += expected.size();
}

void CheckRun::CheckSnapshots() {
  std::vector<std::string> bad;
  auto snaps = repo_.ListSnapshots(&bad);
  for (const auto& b : bad) Problem(ProblemKind::kSnapshotDamaged, "snapshots", b);
  if (!snaps.ok()) {
    Problem(ProblemKind::kSnapshotDamaged, "snapshots", snaps.status().message());
    return;
  }
  std::unordered_set<Id, IdHash> seen_trees;
  for (const Snapshot& s : *snaps) {
    report_.snapshots++;
    const std::string where = "snapshot " + s.ShortId();
    auto blob_problem = [&](const Id& id, std::string* why) {
      auto dmg = damaged_.find(id);
      if (dmg != damaged_.end()) {
        *why = "uses damaged blob " + id.Hex() + " in pack " + dmg->second.Hex();
        return true;
      }
      if (!repo_.FindBlob(id)) {
        *why = "uses blob " + id.Hex() + ", which is not in the repository";
        return true;
      }
      return false;
    };
    std::string why;
    if (blob_problem(s.tree, &why)) {
      Problem(ProblemKind::kTreeDamaged, where + " /", "root tree " + why);
      continue;
    }
    if (!seen_trees.insert(s.tree).second) continue;
    report_.trees++;
    if (s.block) {
      CheckBlockMap(s, where, blob_problem);
      continue;
    }
    // Walk only trees not seen in earlier snapshots: unchanged directories
    // are shared and need no second look.
    std::vector<std::pair<std::string, Id>> stack{{"/", s.tree}};
    while (!stack.empty()) {
      auto [path, tree_id] = stack.back();
      stack.pop_back();
      auto tree = repo_.LoadTree(tree_id);
      if (!tree.ok()) {
        Problem(ProblemKind::kTreeDamaged, where + " " + path, tree.status().message());
        continue;
      }
      for (const Node& n : tree->nodes) {
        std::string p = path == "/" ? "/" + n.name : path + "/" + n.name;
        if (n.type == NodeType::kDir) {
          if (blob_problem(n.subtree, &why)) {
            Problem(ProblemKind::kTreeDamaged, where + " " + p, "directory " + why);
          } else if (seen_trees.insert(n.subtree).second) {
            report_.trees++;
            stack.push_back({p, n.subtree});
          }
        } else if (n.type == NodeType::kFile) {
          report_.files++;
          for (const Extent& e : n.content) {
            if (!e.hole && blob_problem(e.chunk, &why)) {
              Problem(ProblemKind::kFileDamaged, where + " " + p, why);
              break;
            }
          }
        }
      }
    }
  }
}

Result<CheckReport> CheckRun::Run() {
  auto start = std::chrono::steady_clock::now();
  for (const auto& w : repo_.open_warnings()) Problem(ProblemKind::kIndex, "index", w);
  ASSIGN_OR_RETURN(auto objects, repo_.store()->List("data/"));
  std::unordered_map<Id, uint64_t, IdHash> stored;
  for (const auto& o : objects) {
    Id id;
    if (PackIdFromKey(o.key, &id)) stored[id] = o.size;
  }
  // Group the index by pack.
  std::map<Id, std::vector<std::pair<Id, BlobLocation>>> by_pack;
  repo_.ForEachIndexedBlob(
      [&](const Id& id, const BlobLocation& loc) { by_pack[loc.pack].emplace_back(id, loc); });
  std::vector<Id> to_check;
  for (auto& [pack, blobs] : by_pack) {
    if (!stored.count(pack)) {
      // Still, any snapshot using it is reported below (its blobs count as
      // damaged): condemned means no snapshot should.
      if (repo_.IsCondemned(pack)) {
        Problem(ProblemKind::kCondemnedGone, "pack " + pack.Hex(),
                "condemned and already deleted by a prune that was interrupted; the next "
                "prune finishes the job");
      } else {
        Problem(ProblemKind::kPackMissing, "pack " + pack.Hex(),
                "listed in the index but not stored");
      }
      std::lock_guard l(mu_);
      for (const auto& [id, loc] : blobs) damaged_[id] = pack;
      continue;
    }
    opt_.progress->bytes_total += opt_.read_data ? stored[pack] : 0;
    to_check.push_back(pack);
  }
  std::unordered_set<Id, IdHash> indexed;
  for (const Id& p : repo_.IndexedPacks()) indexed.insert(p);
  for (const auto& [pack, size] : stored) {
    if (!indexed.count(pack)) {
      Problem(ProblemKind::kUnindexedPack, "pack " + pack.Hex(),
              "not in any index (left by an interrupted backup; the next backup adopts it)");
    }
  }
  std::atomic<size_t> next{0};
  int n = opt_.threads > 0 ? opt_.threads
                           : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  std::vector<std::thread> workers;
  for (int i = 0; i < n; ++i) {
    workers.emplace_back([&] {
      for (size_t k; (k = next++) < to_check.size();)
        CheckPack(to_check[k], by_pack.at(to_check[k]));
    });
  }
  for (auto& t : workers) t.join();
  CheckSnapshots();
  report_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report_;
}

}  // namespace

Result<CheckReport> CheckRepository(Repository& repo, const CheckOptions& options) {
  CheckRun run(repo, options);
  return run.Run();
}

}  // namespace dr
