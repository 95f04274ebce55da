// Trees: one blob per directory, entries sorted by name (raw bytes: Linux
// names are bytes, not UTF-8). An unchanged directory encodes to the same
// bytes and so the same id, which costs nothing to store again.
// Byte layout: docs/format/tree.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/hash.h"
#include "core/status.h"

namespace dr {

enum class NodeType : uint8_t {
  kFile = 1,
  kDir = 2,
  kSymlink = 3,
  kFifo = 4,
  kCharDev = 5,
  kBlockDev = 6,
  kSocket = 7,
};

const char* NodeTypeName(NodeType t);

// A piece of file content: a chunk (id + length) or a hole of `length` zeros
// that is not stored and is recreated as a hole on restore.
struct Extent {
  bool hole = false;
  uint64_t length = 0;
  Id chunk;  // when !hole
  bool operator==(const Extent&) const = default;
};

struct Node {
  std::string name;  // raw bytes, never empty, no '/', not "." or ".."
  NodeType type = NodeType::kFile;
  uint32_t mode = 0;  // permission bits incl. setuid/setgid/sticky (st_mode & 07777)
  uint32_t uid = 0, gid = 0;
  std::string user, group;  // names at backup time; may be empty
  int64_t mtime_ns = 0, ctime_ns = 0;
  uint64_t device = 0, inode = 0, nlink = 1;  // for change detection and hard links
  uint64_t size = 0;
  uint64_t rdev = 0;            // devices
  std::string link_target;      // symlinks
  uint64_t hardlink_group = 0;  // nonzero: entries with equal groups are one inode
  std::vector<std::pair<std::string, std::string>> xattrs;  // sorted by name
  std::vector<Extent> content;                              // files
  Id digest;                                                // files: keyed XXH3-128 of content
  Id subtree;                                               // directories

  bool operator==(const Node&) const = default;
};

struct Tree {
  std::vector<Node> nodes;  // sorted by name, unique
  // Returns the node with that name or nullptr.
  const Node* Find(std::string_view name) const;
};

std::string EncodeTree(const Tree& tree);
// Validates names, order, types and lengths; `what` names the blob.
Result<Tree> DecodeTree(std::string_view raw, const std::string& what);

}  // namespace dr
