#include <cstdio>

#include "catalog/tree_walk.h"
#include "core/timefmt.h"
#include "tools/drctl/cli.h"

namespace dr::cli {

namespace {

std::string ModeString(const Node& n) {
  std::string s = "?rwxrwxrwx";
  const char* types = "-dlpcbs";
  s[0] = types[static_cast<int>(n.type) - 1];
  for (int i = 0; i < 9; ++i) {
    if (!(n.mode & (1u << (8 - i)))) s[1 + i] = '-';
  }
  if (n.mode & 04000) s[3] = (n.mode & 0100) ? 's' : 'S';
  if (n.mode & 02000) s[6] = (n.mode & 010) ? 's' : 'S';
  if (n.mode & 01000) s[9] = (n.mode & 01) ? 't' : 'T';
  return s;
}

nlohmann::json NodeJson(const std::string& path, const Node& n) {
  nlohmann::json j = {{"path", path},
                      {"type", NodeTypeName(n.type)},
                      {"mode", n.mode},
                      {"uid", n.uid},
                      {"gid", n.gid},
                      {"user", n.user},
                      {"group", n.group},
                      {"size", n.size},
                      {"mtime", FormatRfc3339Utc(n.mtime_ns)}};
  if (n.type == NodeType::kFile) j["digest"] = n.digest.Hex();
  if (n.type == NodeType::kSymlink) j["link_target"] = n.link_target;
  return j;
}

// A disk image snapshot has one entry: the image or device.
int ListBlockSnapshot(const Snapshot& s, const GlobalOptions& g) {
  const BlockInfo& b = *s.block;
  if (g.json) {
    PrintJson(nlohmann::json::array({{{"path", s.paths.front()},
                                      {"type", b.source_kind},
                                      {"size", b.length},
                                      {"block_size", b.block_size},
                                      {"blocks", b.blocks},
                                      {"zero_blocks", b.zero_blocks},
                                      {"changed_blocks", b.changed_blocks},
                                      {"bytes_stored", s.stats.bytes_added},
                                      {"method", b.method},
                                      {"consistency", s.consistency}}}));
    return kExitOk;
  }
  std::printf(
      "%s %s: %llu bytes (%s) in %llu blocks of %u KiB, %llu zero; %llu changed, %s "
      "stored by this snapshot (%s); consistency: %s\n",
      b.source_kind.c_str(), s.paths.front().c_str(), static_cast<unsigned long long>(b.length),
      HumanBytes(b.length).c_str(), static_cast<unsigned long long>(b.blocks), b.block_size >> 10,
      static_cast<unsigned long long>(b.zero_blocks),
      static_cast<unsigned long long>(b.changed_blocks), HumanBytes(s.stats.bytes_added).c_str(),
      b.method.c_str(), s.consistency.c_str());
  return kExitOk;
}

}  // namespace

void AddLsCommand(CLI::App& app, GlobalOptions& g, Runner* run) {
  auto* cmd = app.add_subcommand("ls", "list the files of a snapshot (below PATH)");
  auto spec = std::make_shared<std::string>();
  auto path = std::make_shared<std::string>("/");
  auto host = std::make_shared<std::string>();
  cmd->add_option("snapshot", *spec, "snapshot id, prefix or 'latest'")->required();
  cmd->add_option("path", *path, "directory or file in the snapshot");
  cmd->add_option("--host", *host, "only snapshots of this host for 'latest' and id prefixes");
  cmd->callback([&g, run, spec, path, host] {
    *run = [&g, spec, path, host] {
      auto repo = OpenRepo(g);
      if (!repo) return kExitError;
      auto snap = ResolveSnapshot(*repo, *spec, "", *host);
      if (!snap.ok()) return Fail(snap.status());
      if (snap->block) return ListBlockSnapshot(*snap, g);
      auto node = FindNode(*repo, snap->tree, *path);
      if (!node.ok()) return Fail(node.status().WithContext("snapshot " + snap->ShortId()));
      nlohmann::json arr = nlohmann::json::array();
      int failures = 0;
      auto print = [&](const std::string& p, const Node& n) {
        if (g.json) {
          arr.push_back(NodeJson(p, n));
          return;
        }
        std::printf("%s %8s %8s %12llu %s %s%s%s\n", ModeString(n).c_str(),
                    n.user.empty() ? std::to_string(n.uid).c_str() : n.user.c_str(),
                    n.group.empty() ? std::to_string(n.gid).c_str() : n.group.c_str(),
                    static_cast<unsigned long long>(n.size), FormatLocal(n.mtime_ns).c_str(),
                    p.c_str(), n.type == NodeType::kSymlink ? " -> " : "", n.link_target.c_str());
      };
      std::string root = *path;
      while (root.size() > 1 && root.back() == '/') root.pop_back();
      if (root.empty() || root[0] != '/') root = "/" + root;
      if (node->type == NodeType::kDir) {
        WalkTree(*repo, node->subtree, root, print, [&](const std::string& p, const Status& s) {
          std::fprintf(stderr, "%s: %s: %s\n", ProgramName(), p.c_str(), s.message().c_str());
          ++failures;
        });
      } else {
        print(root, *node);
      }
      if (g.json) PrintJson(arr);
      return failures ? kExitError : kExitOk;
    };
  });
}

}  // namespace dr::cli
