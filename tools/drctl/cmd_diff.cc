#include <cstdio>

#include "tools/drctl/cli.h"

namespace dr::cli {

namespace {

struct DiffPrinter {
  Repository& repo;
  bool json;
  nlohmann::json out = nlohmann::json::array();
  uint64_t added = 0, removed = 0, modified = 0;
  int errors = 0;

  void Emit(char what, const std::string& path, const std::string& detail = "") {
    (what == '+' ? added : what == '-' ? removed : modified)++;
    if (json) {
      out.push_back({{"change", std::string(1, what)}, {"path", path}, {"detail", detail}});
    } else {
      std::printf("%c    %s%s\n", what, path.c_str(),
                  detail.empty() ? "" : ("  (" + detail + ")").c_str());
    }
  }
  // Every entry below `tree` as added or removed.
  void All(char what, const Id& tree, const std::string& path) {
    auto t = repo.LoadTree(tree);
    if (!t.ok()) return Error(path, t.status());
    for (const Node& n : t->nodes) {
      std::string p = path + "/" + n.name;
      Emit(what, n.type == NodeType::kDir ? p + "/" : p);
      if (n.type == NodeType::kDir) All(what, n.subtree, p);
    }
  }
  void Error(const std::string& path, const Status& s) {
    std::fprintf(stderr, "%s: %s: %s\n", ProgramName(), path.c_str(), s.message().c_str());
    ++errors;
  }
  void Compare(const Id& a, const Id& b, const std::string& path) {
    if (a == b) return;  // identical subtree: nothing below differs
    auto ta = repo.LoadTree(a), tb = repo.LoadTree(b);
    if (!ta.ok()) return Error(path, ta.status());
    if (!tb.ok()) return Error(path, tb.status());
    size_t i = 0, j = 0;
    const auto& x = ta->nodes;
    const auto& y = tb->nodes;
    while (i < x.size() || j < y.size()) {
      if (j == y.size() || (i < x.size() && x[i].name < y[j].name)) {
        Removed(x[i++], path);
      } else if (i == x.size() || y[j].name < x[i].name) {
        Added(y[j++], path);
      } else {
        Both(x[i++], y[j++], path);
      }
    }
  }
  void Removed(const Node& n, const std::string& path) {
    std::string p = path + "/" + n.name;
    Emit('-', n.type == NodeType::kDir ? p + "/" : p);
    if (n.type == NodeType::kDir) All('-', n.subtree, p);
  }
  void Added(const Node& n, const std::string& path) {
    std::string p = path + "/" + n.name;
    Emit('+', n.type == NodeType::kDir ? p + "/" : p);
    if (n.type == NodeType::kDir) All('+', n.subtree, p);
  }
  void Both(const Node& a, const Node& b, const std::string& path) {
    std::string p = path + "/" + a.name;
    if (a.type != b.type) {
      Removed(a, path);
      Added(b, path);
      return;
    }
    if (a.type == NodeType::kDir) {
      Compare(a.subtree, b.subtree, p);
      return;
    }
    if (a.digest != b.digest || a.size != b.size || a.link_target != b.link_target) {
      Emit('M', p, "content");
    } else if (a.mode != b.mode || a.uid != b.uid || a.gid != b.gid || a.xattrs != b.xattrs ||
               a.mtime_ns != b.mtime_ns) {
      Emit('U', p, "metadata");
    }
  }
};

// Two block snapshots: the ranges of blocks whose content differs.
int DiffBlockMaps(Repository& repo, const Snapshot& s1, const Snapshot& s2,
                  const GlobalOptions& g) {
  auto m1 = repo.LoadBlockMap(s1.tree);
  if (!m1.ok()) return Fail(m1.status());
  auto m2 = repo.LoadBlockMap(s2.tree);
  if (!m2.ok()) return Fail(m2.status());
  if (m1->block_size != m2->block_size)
    return Fail(Status::InvalidArgument("the snapshots use different block sizes (" +
                                        std::to_string(m1->block_size) + " and " +
                                        std::to_string(m2->block_size) + ")"));
  nlohmann::json ranges = nlohmann::json::array();
  uint64_t changed = 0;
  const uint64_t n = std::max(m1->blocks.size(), m2->blocks.size());
  auto differs = [&](uint64_t i) {
    if (i >= m1->blocks.size() || i >= m2->blocks.size()) return true;
    return m1->blocks[i] != m2->blocks[i] || m1->BlockLength(i) != m2->BlockLength(i);
  };
  for (uint64_t i = 0; i < n;) {
    if (!differs(i)) {
      ++i;
      continue;
    }
    uint64_t j = i;
    while (j < n && differs(j)) ++j;
    changed += j - i;
    const uint64_t offset = i * m2->block_size;
    if (g.json) {
      ranges.push_back({{"first_block", i}, {"blocks", j - i}, {"offset", offset}});
    } else if (!g.quiet) {
      std::printf("M blocks %llu-%llu (offset %llu, %llu blocks)\n",
                  static_cast<unsigned long long>(i), static_cast<unsigned long long>(j - 1),
                  static_cast<unsigned long long>(offset), static_cast<unsigned long long>(j - i));
    }
    i = j;
  }
  if (g.json) {
    PrintJson({{"changed_ranges", ranges},
               {"changed_blocks", changed},
               {"length_before", m1->length},
               {"length_after", m2->length}});
  } else if (!g.quiet) {
    std::printf("%llu of %llu blocks differ; length %llu -> %llu\n",
                static_cast<unsigned long long>(changed), static_cast<unsigned long long>(n),
                static_cast<unsigned long long>(m1->length),
                static_cast<unsigned long long>(m2->length));
  }
  return kExitOk;
}

}  // namespace

void AddDiffCommand(CLI::App& app, GlobalOptions& g, Runner* run) {
  auto* cmd = app.add_subcommand(
      "diff",
      "show what changed between two snapshots (+ added, - removed, M content, U metadata)");
  auto a = std::make_shared<std::string>();
  auto b = std::make_shared<std::string>();
  cmd->add_option("snapshot1", *a, "older snapshot")->required();
  cmd->add_option("snapshot2", *b, "newer snapshot")->required();
  cmd->callback([&g, run, a, b] {
    *run = [&g, a, b] {
      auto repo = OpenRepo(g);
      if (!repo) return kExitError;
      auto s1 = repo->FindSnapshot(*a);
      if (!s1.ok()) return Fail(s1.status());
      auto s2 = repo->FindSnapshot(*b);
      if (!s2.ok()) return Fail(s2.status());
      if (s1->block && s2->block) return DiffBlockMaps(*repo, *s1, *s2, g);
      if (s1->block || s2->block)
        return Fail(
            Status::InvalidArgument("cannot compare a disk image snapshot with a file snapshot"));
      DiffPrinter d{*repo, g.json};
      d.Compare(s1->tree, s2->tree, "");
      if (g.json) {
        PrintJson({{"changes", d.out},
                   {"added", d.added},
                   {"removed", d.removed},
                   {"modified", d.modified}});
      } else if (!g.quiet) {
        std::printf("%llu added, %llu removed, %llu modified\n",
                    static_cast<unsigned long long>(d.added),
                    static_cast<unsigned long long>(d.removed),
                    static_cast<unsigned long long>(d.modified));
      }
      return d.errors ? kExitError : kExitOk;
    };
  });
}

}  // namespace dr::cli
