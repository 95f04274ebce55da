// Navigating snapshot trees by path.
#pragma once

#include <functional>
#include <string>

#include "catalog/format/tree.h"
#include "catalog/repository.h"

namespace dr {

// The node at absolute `path` ("/" gives a directory node whose subtree is
// `root`). NotFound names the missing path.
Result<Node> FindNode(Repository& repo, const Id& root, const std::string& path);
// The same, loading trees with `load_tree` (a backup target reads its
// parent's trees without opening the repository).
using TreeLoader = std::function<Result<Tree>(const Id&)>;
Result<Node> FindNode(const TreeLoader& load_tree, const Id& root, const std::string& path);

// Calls fn(path, node) for every node below the directory tree `tree`
// (whose own path is `path`), parents before children, names in order.
// A tree that cannot be loaded is passed to `on_error` and skipped.
using NodeVisitor = std::function<void(const std::string& path, const Node& node)>;
using TreeErrorHandler = std::function<void(const std::string& path, const Status& error)>;
void WalkTree(Repository& repo, const Id& tree, const std::string& path, const NodeVisitor& fn,
              const TreeErrorHandler& on_error);

}  // namespace dr
