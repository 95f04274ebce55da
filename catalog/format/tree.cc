#include "catalog/format/tree.h"

#include <algorithm>
#include <cstdint>

#include "catalog/format/blob.h"
#include "core/codec.h"

namespace dr {

namespace {
constexpr uint8_t kTreeVersion = 1;

// The smallest encoding of each sequence element (docs/format/tree.md), what
// a count is checked against before anything is allocated: a count the bytes
// left cannot hold is refused at once, so a small blob cannot ask for many
// Node objects (an empty tree is 2 bytes; a 64 MiB one holds at most
// 64 MiB / 30 entries).
//
// An entry: name 2 (length 1, at least one byte), type 1, mode, uid and gid 1
// each, user and group 1 each (empty), mtime_ns and ctime_ns 8 each, device,
// inode, nlink, size and hardlink_group 1 each, nxattrs 1, and an empty tail
// (fifo, socket): 2+1+3+2+16+5+1 = 30.
constexpr size_t kMinEntryBytes = 30;
// An xattr: an empty name and an empty value, a length byte each.
constexpr size_t kMinXattrBytes = 2;
// An extent: a hole flag and a one-byte length (a hole has no chunk id).
constexpr size_t kMinExtentBytes = 2;
// The largest file size: st_size is an off_t.
constexpr uint64_t kMaxFileSize = INT64_MAX;
}  // namespace

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

namespace {

bool ValidName(std::string_view n) {
  return !n.empty() && n != "." && n != ".." && n.find('/') == std::string_view::npos &&
         n.find('\0') == std::string_view::npos;
}

// The layout of docs/format/tree.md, entry fields 1 to 17, with the decoder
// checks; codec::UncheckedWriter encodes with it and codec::Reader decodes.
// A chunk's length is its raw blob length, at most kMaxBlobBytes; a hole's is
// bounded only by the file size.
template <class A, codec::Of<Extent> E>
void ExtentFields(A& a, E& e) {
  a.Bool("hole flag", e.hole);
  a.Var("extent length", e.length, e.hole ? codec::kNoLimit : kMaxBlobBytes);
  if (!e.hole) a.IdField("chunk id", e.chunk);
}

template <class A, codec::Of<Node> N>
void TailFields(A& a, N& n) {
  switch (n.type) {
    case NodeType::kFile: {
      // The lengths add up to the size, checked as they are read so that
      // the sum never wraps: total <= size stays true.
      uint64_t total = 0;
      a.Seq("extent", n.content, codec::kNoLimit, kMinExtentBytes, [&](auto& e) {
        ExtentFields(a, e);
        a.Check(e.length <= n.size - total,
                [&] { return "extents run past the size " + std::to_string(n.size); });
        total += e.length;
      });
      a.Check(total == n.size, [&] {
        return "extents add up to " + std::to_string(total) + " bytes, size is " +
               std::to_string(n.size);
      });
      a.IdField("digest", n.digest);
      break;
    }
    case NodeType::kDir:
      a.IdField("subtree id", n.subtree);
      break;
    case NodeType::kSymlink:
      a.Bytes("link target", n.link_target);
      break;
    case NodeType::kCharDev:
    case NodeType::kBlockDev:
      a.Var("device number", n.rdev);
      break;
    case NodeType::kFifo:
    case NodeType::kSocket:
      break;
  }
}

template <class A, codec::Of<Node> N>
void NodeFields(A& a, N& n) {
  a.Bytes("name", n.name);
  a.Check(ValidName(n.name), "invalid name");
  a.Enum("type", n.type, 1, 7);
  a.Var("mode", n.mode, 07777);
  a.Var("uid", n.uid);  // u32
  a.Var("gid", n.gid);
  a.Bytes("user", n.user);
  a.Bytes("group", n.group);
  a.I64("mtime_ns", n.mtime_ns);
  a.I64("ctime_ns", n.ctime_ns);
  a.Var("device", n.device);
  a.Var("inode", n.inode);
  a.Var("nlink", n.nlink);
  a.Var("size", n.size, kMaxFileSize);
  a.Var("hardlink_group", n.hardlink_group);
  a.Seq("xattr", n.xattrs, codec::kNoLimit, kMinXattrBytes, [&](auto& x) {
    a.Bytes("xattr name", x.first);
    a.Bytes("xattr value", x.second);
  });
  TailFields(a, n);
}

template <class A, codec::Of<Tree> T>
void TreeFields(A& a, T& t) {
  a.Version("tree version", kTreeVersion);
  // By position, not by pointer: the reader's vector grows while decoding.
  size_t i = 0;
  a.Seq("entry", t.nodes, codec::kNoLimit, kMinEntryBytes, [&](auto& n) {
    NodeFields(a, n);
    a.Check(i == 0 || t.nodes[i - 1].name < n.name, "not sorted after the previous entry");
    ++i;
  });
}

}  // namespace

std::string EncodeTree(const Tree& tree) {
  std::string out;
  codec::UncheckedWriter w(&out);
  // Always the bytes of `tree`, even of one the decoder refuses (a bad name,
  // an order or size mismatch): the checks are the decoder's.
  TreeFields(w, tree);
  return out;
}

Result<Tree> DecodeTree(std::string_view raw, const std::string& what) {
  if (raw.empty()) return Status::Corruption(what + ": empty tree");
  Tree t;
  codec::Reader r(raw, Code::kCorruption);
  TreeFields(r, t);
  r.Finish();
  RETURN_IF_ERROR(r.status(what));
  return t;
}

}  // namespace dr
