#include "catalog/change_signals.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

namespace dr {
namespace {

struct Compression {
  uint64_t stored = 0, raw = 0;
  bool known = true;  // every chunk found in the index
};

Compression CompressionOf(const Repository& repo, const Node& file) {
  Compression c;
  for (const Extent& e : file.content) {
    if (e.hole) continue;
    auto where = repo.FindBlob(e.chunk);
    if (!where) {
      c.known = false;
      continue;
    }
    // The stored form, without an encrypted repository's seal.
    const uint32_t seal = repo.keyring() != nullptr ? kSealOverhead : 0;
    c.stored += where->stored_len - std::min(where->stored_len, seal);
    c.raw += where->raw_len;
  }
  return c;
}

// "a.docx" -> "a", ".profile" -> ".profile", "README" -> "README".
std::string_view Stem(std::string_view name) {
  const size_t dot = name.rfind('.');
  return dot == std::string_view::npos || dot == 0 ? name : name.substr(0, dot);
}

std::string_view Extension(std::string_view name) { return name.substr(Stem(name).size()); }

class Differ {
 public:
  Differ(Repository& repo, ChangeSignals* out) : repo_(repo), out_(out) {}

  // Either side may be absent: everything below the other was added or deleted.
  Status Dir(const Id* base, const Id* tree) {
    if (base != nullptr && tree != nullptr && *base == *tree) return Status::OK();
    Tree before, after;
    if (base != nullptr) {
      ASSIGN_OR_RETURN(before, repo_.LoadTree(*base));
    }
    if (tree != nullptr) {
      ASSIGN_OR_RETURN(after, repo_.LoadTree(*tree));
    }
    std::vector<const Node*> gone, came;
    for (const Node& b : before.nodes) {
      const Node* a = after.Find(b.name);
      if (b.type == NodeType::kDir) {
        const bool still_dir = a != nullptr && a->type == NodeType::kDir;
        RETURN_IF_ERROR(Dir(&b.subtree, still_dir ? &a->subtree : nullptr));
      } else if (b.type == NodeType::kFile) {
        if (a != nullptr && a->type == NodeType::kFile) {
          // Content, not the digest or size the agent wrote beside it:
          // the vault checked every chunk id, never those fields.
          if (a->content != b.content) {
            out_->changed++;
            Rewritten(b, *a);
          }
        } else {
          gone.push_back(&b);
        }
      }
    }
    for (const Node& a : after.nodes) {
      const Node* b = before.Find(a.name);
      if (a.type == NodeType::kDir && (b == nullptr || b->type != NodeType::kDir)) {
        RETURN_IF_ERROR(Dir(nullptr, &a.subtree));
      } else if (a.type == NodeType::kFile && (b == nullptr || b->type != NodeType::kFile)) {
        came.push_back(&a);
      }
    }
    PairRenames(gone, came);
    return Status::OK();
  }

 private:
  // Sizes from the index (the raw lengths of the stored chunks), not from
  // the nodes.
  void Rewritten(const Node& before, const Node& after) {
    out_->rewritten++;
    const Compression old = CompressionOf(repo_, before);
    // Compressible: stored below 90 % of its size.
    if (!old.known || old.raw < kMinWeighedBytes || old.stored * 10 >= old.raw * 9) return;
    const Compression now = CompressionOf(repo_, after);
    if (!now.known || now.raw < kMinWeighedBytes) return;
    out_->weighed++;
    if (now.stored * 100 >= now.raw * 98) out_->became_incompressible++;
  }

  // A new file that is a gone one under another extension is a rename:
  // "a.docx" -> "a.docx.locked" (an extension added) or "a.enc" (replaced).
  void PairRenames(const std::vector<const Node*>& gone, const std::vector<const Node*>& came) {
    std::map<std::string_view, const Node*> by_name;
    std::multimap<std::string_view, const Node*> by_stem;
    for (const Node* g : gone) {
      by_name.emplace(g->name, g);
      by_stem.emplace(Stem(g->name), g);
    }
    std::set<const Node*> paired;
    for (const Node* c : came) {
      const std::string_view name = c->name;
      const Node* match = nullptr;
      // The longest gone name first: "a.txt.locked" is "a.txt" renamed
      // rather than "a".
      for (size_t dot = name.rfind('.'); dot != std::string_view::npos && dot > 0 && !match;
           dot = name.rfind('.', dot - 1)) {
        auto it = by_name.find(name.substr(0, dot));
        if (it != by_name.end() && !paired.count(it->second)) match = it->second;
      }
      auto [from, to] = by_stem.equal_range(Stem(name));
      for (auto it = from; it != to && match == nullptr; ++it) {
        if (!paired.count(it->second) && Extension(it->second->name) != Extension(name))
          match = it->second;
      }
      if (match == nullptr) {
        out_->added++;
        continue;
      }
      paired.insert(match);
      out_->renamed++;
      if (match->content != c->content) Rewritten(*match, *c);
    }
    out_->deleted += gone.size() - paired.size();
  }

  Repository& repo_;
  ChangeSignals* out_;
};

double Share(uint64_t n, uint64_t of) { return of == 0 ? 0.0 : static_cast<double>(n) / of; }

std::string Percent(double share) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %%", share * 100);
  return buf;
}

// The signal flags when `count` reaches the floors and its share of the base
// is above `factor` times the group's highest share before.
struct Signal {
  uint64_t count;
  double share, floor_share, history_max;
};

bool Flags(const Signal& s, const ChangeThresholds& t) {
  // The history raises the bar to at most `history_factor` times the floor,
  // so snapshots just under a floor cannot ratchet it up for good.
  return s.count >= t.min_files && s.share >= s.floor_share &&
         s.share > t.history_factor * std::min(s.history_max, s.floor_share);
}

template <class F>
double HighestShare(const std::vector<ChangeSignals>& history, F count) {
  double best = 0;
  for (const ChangeSignals& h : history) best = std::max(best, Share(count(h), h.files_before));
  return best;
}

}  // namespace

Result<uint64_t> CountFiles(Repository& repo, const Id& tree) {
  ASSIGN_OR_RETURN(Tree t, repo.LoadTree(tree));
  uint64_t n = 0;
  for (const Node& node : t.nodes) {
    if (node.type == NodeType::kFile) ++n;
    if (node.type == NodeType::kDir) {
      ASSIGN_OR_RETURN(uint64_t below, CountFiles(repo, node.subtree));
      n += below;
    }
  }
  return n;
}

Result<ChangeSignals> MeasureChange(Repository& repo, const Id& base, const Id& tree,
                                    std::optional<uint64_t> files_before) {
  ChangeSignals s;
  if (!files_before) {
    ASSIGN_OR_RETURN(files_before, CountFiles(repo, base));
  }
  s.files_before = *files_before;
  Differ differ(repo, &s);
  RETURN_IF_ERROR(differ.Dir(&base, &tree));
  // A base count taken from a damaged record must not wrap around.
  const uint64_t grown =
      s.files_before > UINT64_MAX - s.added ? UINT64_MAX : s.files_before + s.added;
  s.files_after = grown >= s.deleted ? grown - s.deleted : 0;
  return s;
}

ChangeVerdict JudgeChange(const ChangeSignals& now, const std::vector<ChangeSignals>& history,
                          bool partial, const ChangeThresholds& t) {
  ChangeVerdict v;
  const uint64_t of = now.files_before;
  const std::string files = " of " + std::to_string(of) + " files";
  auto before = [](double share) { return "; this group's highest before: " + Percent(share); };

  const Signal encrypted{now.became_incompressible, Share(now.became_incompressible, of),
                         t.incompressible_floor,
                         HighestShare(history, [](auto& h) { return h.became_incompressible; })};
  if (Flags(encrypted, t) && Share(now.rewritten, of) >= t.rewritten_share &&
      Share(now.became_incompressible, now.weighed) >= t.incompressible_share) {
    v.reasons.push_back(std::to_string(now.rewritten) + files + " (" +
                        Percent(Share(now.rewritten, of)) + ") rewritten, and " +
                        std::to_string(now.became_incompressible) + " of the " +
                        std::to_string(now.weighed) + " that compressed no longer do (encrypted?)" +
                        before(encrypted.history_max));
  }
  const Signal renamed{now.renamed, Share(now.renamed, of), t.renamed_share,
                       HighestShare(history, [](auto& h) { return h.renamed; })};
  if (Flags(renamed, t)) {
    v.reasons.push_back(std::to_string(now.renamed) + files + " (" + Percent(renamed.share) +
                        ") renamed to another extension" + before(renamed.history_max));
  }
  const Signal deleted{now.deleted, Share(now.deleted, of), t.deleted_share,
                       HighestShare(history, [](auto& h) { return h.deleted; })};
  if (!partial && Flags(deleted, t)) {
    v.reasons.push_back(std::to_string(now.deleted) + files + " (" + Percent(deleted.share) +
                        ") deleted" + before(deleted.history_max));
  }
  v.suspicious = !v.reasons.empty();
  return v;
}

}  // namespace dr
