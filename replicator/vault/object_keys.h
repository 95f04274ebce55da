// Which object keys of a namespace a client may name, write or read: the
// vault's first line against a path that leaves the namespace.
#pragma once

#include <string>

namespace dr {

// The repository layout only, never a path that could leave the namespace
// ("..", absolute, empty or dot-leading components). `prefix`: an empty key
// is allowed (a listing of everything).
bool IsValidKey(const std::string& key, bool prefix);
// Keys a replicating peer may write: the immutable parts of a repository.
bool IsReplicableKey(const std::string& key);

}  // namespace dr
