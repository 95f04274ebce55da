#include "catalog/format/tree.h"

#include <algorithm>

#include "core/bytes.h"

namespace dr {

namespace {
constexpr uint8_t kTreeVersion = 1;
}

const char* NodeTypeName(NodeType t) {
  switch (t) {
    case NodeType::kFile:
      return "file";
    case NodeType::kDir:
      return "dir";
    case NodeType::kSymlink:
      return "symlink";
    case NodeType::kFifo:
      return "fifo";
    case NodeType::kCharDev:
      return "chardev";
    case NodeType::kBlockDev:
      return "blockdev";
    case NodeType::kSocket:
      return "socket";
  }
  return "?";
}

const Node* Tree::Find(std::string_view name) const {
  auto it = std::lower_bound(nodes.begin(), nodes.end(), name,
                             [](const Node& n, std::string_view k) { return n.name < k; });
  return (it != nodes.end() && it->name == name) ? &*it : nullptr;
}

std::string EncodeTree(const Tree& tree) {
  std::string out;
  ByteWriter w(&out);
  w.U8(kTreeVersion);
  w.Var(tree.nodes.size());
  for (const Node& n : tree.nodes) {
    w.Bytes(n.name);
    w.U8(static_cast<uint8_t>(n.type));
    w.Var(n.mode);
    w.Var(n.uid);
    w.Var(n.gid);
    w.Bytes(n.user);
    w.Bytes(n.group);
    w.I64(n.mtime_ns);
    w.I64(n.ctime_ns);
    w.Var(n.device);
    w.Var(n.inode);
    w.Var(n.nlink);
    w.Var(n.size);
    w.Var(n.hardlink_group);
    w.Var(n.xattrs.size());
    for (const auto& [k, v] : n.xattrs) {
      w.Bytes(k);
      w.Bytes(v);
    }
    switch (n.type) {
      case NodeType::kFile:
        w.Var(n.content.size());
        for (const Extent& e : n.content) {
          w.U8(e.hole ? 1 : 0);
          w.Var(e.length);
          if (!e.hole) w.Raw(e.chunk.Bytes());
        }
        w.Raw(n.digest.Bytes());
        break;
      case NodeType::kDir:
        w.Raw(n.subtree.Bytes());
        break;
      case NodeType::kSymlink:
        w.Bytes(n.link_target);
        break;
      case NodeType::kCharDev:
      case NodeType::kBlockDev:
        w.Var(n.rdev);
        break;
      case NodeType::kFifo:
      case NodeType::kSocket:
        break;
    }
  }
  return out;
}

Result<Tree> DecodeTree(std::string_view raw, const std::string& what) {
  ByteReader r(raw);
  uint8_t version;
  uint64_t count;
  if (!r.U8(&version)) return Status::Corruption(what + ": empty tree");
  if (version != kTreeVersion) {
    return Status::InvalidArgument(what + ": unsupported tree version " + std::to_string(version));
  }
  if (!r.Var(&count) || count > raw.size()) return Status::Corruption(what + ": bad entry count");
  Tree t;
  t.nodes.resize(count);
  size_t i = 0;
  auto bad = [&](const std::string& why) {
    return Status::Corruption(what + ": entry " + std::to_string(i) + ": " + why);
  };
  for (i = 0; i < count; ++i) {
    Node& n = t.nodes[i];
    uint8_t type;
    uint64_t mode, uid, gid, nx;
    bool ok = r.Bytes(&n.name) && r.U8(&type) && r.Var(&mode) && r.Var(&uid) && r.Var(&gid) &&
              r.Bytes(&n.user) && r.Bytes(&n.group) && r.I64(&n.mtime_ns) && r.I64(&n.ctime_ns) &&
              r.Var(&n.device) && r.Var(&n.inode) && r.Var(&n.nlink) && r.Var(&n.size) &&
              r.Var(&n.hardlink_group) && r.Var(&nx);
    if (!ok) return Status::Corruption(what + ": truncated entry " + std::to_string(i));
    if (n.name.empty() || n.name == "." || n.name == ".." ||
        n.name.find('/') != std::string::npos || n.name.find('\0') != std::string::npos) {
      return Status::Corruption(what + ": entry " + std::to_string(i) + " has an invalid name");
    }
    if (i > 0 && !(t.nodes[i - 1].name < n.name)) {
      return Status::Corruption(what + ": entries not sorted at " + std::to_string(i));
    }
    if (type < 1 || type > 7) return bad("unknown type " + std::to_string(type));
    if (mode > 07777 || uid > UINT32_MAX || gid > UINT32_MAX || nx > r.remaining()) {
      return bad("field out of range");
    }
    n.type = static_cast<NodeType>(type);
    n.mode = static_cast<uint32_t>(mode);
    n.uid = static_cast<uint32_t>(uid);
    n.gid = static_cast<uint32_t>(gid);
    n.xattrs.resize(nx);
    for (auto& [k, v] : n.xattrs) {
      if (!r.Bytes(&k) || !r.Bytes(&v)) return bad("truncated xattr");
    }
    std::string_view id;
    switch (n.type) {
      case NodeType::kFile: {
        uint64_t ne, total = 0;
        if (!r.Var(&ne) || ne > r.remaining()) return bad("bad extent count");
        n.content.resize(ne);
        for (Extent& e : n.content) {
          uint8_t hole;
          if (!r.U8(&hole) || hole > 1 || !r.Var(&e.length)) return bad("truncated extent");
          e.hole = hole == 1;
          if (!e.hole) {
            if (!r.Raw(16, &id)) return bad("truncated extent");
            e.chunk = Id::FromBytes(id);
          }
          total += e.length;
        }
        if (total != n.size)
          return bad("extents add up to " + std::to_string(total) + " bytes, size is " +
                     std::to_string(n.size));
        if (!r.Raw(16, &id)) return bad("truncated digest");
        n.digest = Id::FromBytes(id);
        break;
      }
      case NodeType::kDir:
        if (!r.Raw(16, &id)) return bad("truncated subtree id");
        n.subtree = Id::FromBytes(id);
        break;
      case NodeType::kSymlink:
        if (!r.Bytes(&n.link_target)) return bad("truncated link target");
        break;
      case NodeType::kCharDev:
      case NodeType::kBlockDev:
        if (!r.Var(&n.rdev)) return bad("truncated device number");
        break;
      case NodeType::kFifo:
      case NodeType::kSocket:
        break;
    }
  }
  if (!r.done()) return Status::Corruption(what + ": trailing bytes after the last entry");
  return t;
}

}  // namespace dr
