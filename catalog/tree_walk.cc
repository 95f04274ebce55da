#include "catalog/tree_walk.h"

namespace dr {

namespace {
std::string Join(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}
}  // namespace

Result<Node> FindNode(Repository& repo, const Id& root, const std::string& path) {
  return FindNode([&repo](const Id& id) { return repo.LoadTree(id); }, root, path);
}

Result<Node> FindNode(const TreeLoader& load_tree, const Id& root, const std::string& path) {
  Node node;
  node.type = NodeType::kDir;
  node.name = "/";
  node.subtree = root;
  std::string so_far;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    std::string part = path.substr(pos, next - pos);
    pos = next + 1;
    if (part.empty() || part == ".") continue;
    so_far += "/" + part;
    if (node.type != NodeType::kDir) {
      return Status::NotFound(path + ": not in the snapshot (" + so_far + " is not a directory)");
    }
    ASSIGN_OR_RETURN(Tree tree, load_tree(node.subtree));
    const Node* child = tree.Find(part);
    if (!child) {
      return Status::NotFound(path + ": not in the snapshot" +
                              (so_far == path ? "" : " (" + so_far + " is missing)"));
    }
    node = *child;
  }
  return node;
}

void WalkTree(Repository& repo, const Id& tree, const std::string& path, const NodeVisitor& fn,
              const TreeErrorHandler& on_error) {
  auto t = repo.LoadTree(tree);
  if (!t.ok()) {
    on_error(path, t.status());
    return;
  }
  for (const Node& n : t->nodes) {
    std::string p = Join(path, n.name);
    fn(p, n);
    if (n.type == NodeType::kDir) WalkTree(repo, n.subtree, p, fn, on_error);
  }
}

}  // namespace dr
