#include "catalog/reachability.h"

#include "catalog/format/metadata_refs.h"

namespace dr {

namespace {
constexpr size_t kMaxMissingNamed = 10;
}

Status MarkReachable(Repository& repo, const std::vector<Snapshot>& snapshots, Reachability* into) {
  std::vector<Id> stack;
  std::vector<Id> parents;  // parallel to stack
  auto note_missing = [&](const Snapshot& s, const Id& id, const Id& from) {
    if (into->missing.size() < kMaxMissingNamed) {
      into->missing.push_back("snapshot " + s.ShortId() + ": blob " + id.Hex() +
                              " (referenced by " + from.Hex() + ") is not in the index");
    }
    into->missing_count++;
  };
  for (const Snapshot& s : snapshots) {
    stack.assign(1, s.tree);
    parents.assign(1, s.id);
    while (!stack.empty()) {
      const Id id = stack.back();
      const Id from = parents.back();
      stack.pop_back();
      parents.pop_back();
      auto ordinal = repo.IndexOrdinal(id);
      if (!ordinal) {
        note_missing(s, id, from);
        continue;
      }
      if (!into->set.Mark(*ordinal)) continue;  // seen: shared subtree or chunk
      auto loc = repo.FindBlob(id);
      if (!loc || loc->type != BlobType::kTree) continue;
      ASSIGN_OR_RETURN(std::string raw, repo.LoadBlob(id));
      ASSIGN_OR_RETURN(std::vector<Id> refs, MetadataReferences(raw, "metadata blob " + id.Hex()));
      into->metadata_blobs++;
      for (const Id& r : refs) {
        stack.push_back(r);
        parents.push_back(id);
      }
    }
  }
  return Status::OK();
}

}  // namespace dr
