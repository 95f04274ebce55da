#include "restore/mount/snapshot_fs.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "core/timefmt.h"

namespace dr {

namespace {

constexpr size_t kMaxTreesCached = 4096;
constexpr uint64_t kMaxTreeBytesCached = 64 << 20;

enum class Kind {
  kRoot,          // "/"
  kSnapshotsDir,  // "/snapshots"
  kHostsDir,      // "/hosts"
  kHostDir,       // "/hosts/<host>"
  kLink,          // "/latest", "/hosts/<host>/<name>"
  kSnapshotRoot,  // "/snapshots/<name>"
  kImage,         // "/snapshots/<name>/<image>" of a block snapshot
  kNode,          // anything inside a file snapshot
};

std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    if (next > pos) parts.push_back(path.substr(pos, next - pos));
    pos = next + 1;
  }
  return parts;
}

// The name a block snapshot's one file has: its source's last component.
std::string ImageName(const Snapshot& s) {
  std::string name = s.paths.empty() ? "" : s.paths.front();
  while (name.size() > 1 && name.back() == '/') name.pop_back();
  name = name.substr(name.rfind('/') + 1);
  return name.empty() || name == "." || name == ".." ? "image" : name;
}

uint32_t TypeBits(NodeType t) {
  switch (t) {
    case NodeType::kFile:
      return S_IFREG;
    case NodeType::kDir:
      return S_IFDIR;
    case NodeType::kSymlink:
      return S_IFLNK;
    case NodeType::kFifo:
      return S_IFIFO;
    case NodeType::kCharDev:
      return S_IFCHR;
    case NodeType::kBlockDev:
      return S_IFBLK;
    case NodeType::kSocket:
      return S_IFSOCK;
  }
  return S_IFREG;
}

// Stable inode numbers: the same entry keeps its number across lookups
// (find and cp -a rely on it), and entries of one hard-link group share one.
uint64_t InodeOf(const std::string& snapshot_key, const std::string& what) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over both
  for (const std::string* s : {&snapshot_key, &what}) {
    for (unsigned char c : *s) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
  }
  return h < 2 ? h + 2 : h;  // 1 is the root
}

Status NotADirectory(const std::string& path) {
  return Status::InvalidArgument(path + ": not a directory");
}

// A blob the repository cannot find is damage, not a missing path: readers
// must see EIO, never ENOENT (which rsync and tar take for a harmless race).
Status AsDamage(const Status& s) { return s.IsNotFound() ? Status::Corruption(s.message()) : s; }

// Host names are what agents say: made safe as one path component, and
// distinct from each other ('/', '%' and NUL percent-encoded; "", "." and
// ".." spelled out, which no encoded name can be).
std::string HostDirName(const Snapshot& s) {
  if (s.host.empty()) return "%";
  if (s.host == ".") return "%2E";
  if (s.host == "..") return "%2E%2E";
  std::string out;
  for (char c : s.host) {
    if (c == '/' || c == '%' || c == '\0') {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

struct SnapshotFs::Located {
  Kind kind = Kind::kRoot;
  std::string path;
  std::string name;    // snapshot dir name, or host
  std::string target;  // symlinks we make up
  Snapshot snapshot;   // kSnapshotRoot, kImage, kNode
  Node node;           // kNode; for kSnapshotRoot of a file snapshot: its root dir
};

struct SnapshotFs::OpenFile {
  std::vector<Extent> extents;  // a file's content
  std::vector<uint64_t> starts;
  std::shared_ptr<const BlockMap> map;  // or an image's blocks
  uint64_t size = 0;
};

SnapshotFs::SnapshotFs(std::unique_ptr<Repository> repo, const Options& options)
    : repo_(std::move(repo)), options_(options), cache_(options.cache_bytes) {}

Result<std::unique_ptr<SnapshotFs>> SnapshotFs::Create(std::unique_ptr<Repository> repo,
                                                       const Options& options) {
  std::unique_ptr<SnapshotFs> fs(new SnapshotFs(std::move(repo), options));
  fs->mounted_ns_ = NowUnixNs();
  RETURN_IF_ERROR(fs->Refresh(/*force=*/true));
  return fs;
}

std::string SnapshotFs::SnapshotDirName(const Snapshot& s) {
  const time_t secs = static_cast<time_t>(s.time_ns / 1'000'000'000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(when) + "_" + s.ShortId();
}

Status SnapshotFs::Refresh(bool force) {
  std::lock_guard l(snapshots_mu_);
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - listed_at_ < options_.refresh) return Status::OK();
  // Index segments written since: a new snapshot's blobs become findable.
  if (!force) RETURN_IF_ERROR(repo_->RefreshExclusions());
  ASSIGN_OR_RETURN(auto all, repo_->ListSnapshots());
  if (!options_.host.empty()) all = OfHost(std::move(all), options_.host);
  // Two snapshots whose short names clash (same second, same 8 hex
  // digits: chance, or an agent trying) are both shown by their full ids,
  // so no name ever stands for two snapshots.
  std::map<std::string, int> uses;
  for (const Snapshot& s : all) uses[SnapshotDirName(s)]++;
  auto name_of = [&](const Snapshot& s) {
    const std::string name = SnapshotDirName(s);
    return uses[name] > 1 ? name.substr(0, name.size() - 8) + s.id.Hex() : name;
  };
  by_name_.clear();
  latest_.clear();
  for (const Snapshot& s : all) by_name_[name_of(s)] = s;
  if (!all.empty()) latest_ = name_of(all.back());  // oldest first
  listed_at_ = now;
  return Status::OK();
}

Result<std::shared_ptr<const Tree>> SnapshotFs::LoadTree(const Id& id) {
  {
    std::lock_guard l(trees_mu_);
    if (auto it = trees_.find(id); it != trees_.end()) return it->second;
  }
  auto tree = repo_->LoadTree(id);
  if (!tree.ok()) return AsDamage(tree.status());
  uint64_t bytes = sizeof(Tree);
  for (const Node& n : tree->nodes) {
    bytes +=
        sizeof(Node) + n.name.size() + n.link_target.size() + n.content.size() * sizeof(Extent);
    for (const auto& [k, v] : n.xattrs) bytes += k.size() + v.size() + 64;
  }
  auto shared = std::make_shared<const Tree>(std::move(tree).value());
  std::lock_guard l(trees_mu_);
  // Cheap to load again: when full, start over rather than track ages.
  if (trees_.size() >= kMaxTreesCached || tree_bytes_ + bytes > kMaxTreeBytesCached) {
    trees_.clear();
    tree_bytes_ = 0;
  }
  if (trees_.emplace(id, shared).second) tree_bytes_ += bytes;
  return shared;
}

Result<std::shared_ptr<const BlockMap>> SnapshotFs::LoadBlockMap(const Snapshot& s) {
  {
    std::lock_guard l(trees_mu_);
    if (auto it = maps_.find(s.tree); it != maps_.end()) return it->second;
  }
  auto map = repo_->LoadBlockMap(s.tree);
  if (!map.ok()) return AsDamage(map.status());
  // The size stat shows comes from the snapshot; reads follow the map. A
  // map that disagrees would give a short or long file without an error.
  if (map->length != s.block->length || map->block_size != s.block->block_size) {
    return Status::Corruption(
        "snapshot " + s.ShortId() + ": its block map says " + std::to_string(map->length) +
        " bytes in blocks of " + std::to_string(map->block_size) + ", the snapshot " +
        std::to_string(s.block->length) + " in blocks of " + std::to_string(s.block->block_size));
  }
  auto shared = std::make_shared<const BlockMap>(std::move(map).value());
  std::lock_guard l(trees_mu_);
  if (maps_.size() >= 16) maps_.clear();
  maps_[s.tree] = shared;
  return shared;
}

Result<SnapshotFs::Located> SnapshotFs::Locate(const std::string& path) {
  const std::vector<std::string> parts = Split(path);
  Located at;
  at.path = path;
  if (parts.empty()) return at;
  auto not_found = [&] { return Status::NotFound(path + ": no such file or directory"); };
  const std::string& top = parts[0];
  if (top == "latest" && parts.size() == 1) {
    RETURN_IF_ERROR(Refresh(false));
    std::lock_guard l(snapshots_mu_);
    if (latest_.empty()) return not_found();
    at.kind = Kind::kLink;
    at.target = "snapshots/" + latest_;
    return at;
  }
  if (top == "hosts") {
    at.kind = Kind::kHostsDir;
    if (parts.size() == 1) return at;
    RETURN_IF_ERROR(Refresh(false));
    std::lock_guard l(snapshots_mu_);
    bool host_seen = false;
    for (const auto& [name, s] : by_name_) {
      if (HostDirName(s) != parts[1]) continue;
      host_seen = true;
      if (parts.size() == 3 && parts[2] == name) {
        at.kind = Kind::kLink;
        at.target = "../../snapshots/" + name;
        return at;
      }
    }
    if (!host_seen || parts.size() > 2) return not_found();
    at.kind = Kind::kHostDir;
    at.name = parts[1];
    return at;
  }
  if (top != "snapshots") return not_found();
  at.kind = Kind::kSnapshotsDir;
  if (parts.size() == 1) return at;
  auto find = [&] {
    std::lock_guard l(snapshots_mu_);
    auto it = by_name_.find(parts[1]);
    if (it == by_name_.end()) return false;
    at.snapshot = it->second;
    at.name = it->first;
    return true;
  };
  if (!find()) {
    RETURN_IF_ERROR(Refresh(false));  // perhaps taken since the last listing
    if (!find()) return not_found();
  }
  at.kind = Kind::kSnapshotRoot;
  at.node.type = NodeType::kDir;
  at.node.mode = 0755;
  at.node.subtree = at.snapshot.tree;
  at.node.mtime_ns = at.node.ctime_ns = at.snapshot.time_ns;
  if (parts.size() == 2) return at;
  if (at.snapshot.block) {
    if (parts.size() != 3 || parts[2] != ImageName(at.snapshot)) return not_found();
    at.kind = Kind::kImage;
    return at;
  }
  at.kind = Kind::kNode;
  for (size_t i = 2; i < parts.size(); ++i) {
    if (at.node.type != NodeType::kDir) return NotADirectory(path);
    ASSIGN_OR_RETURN(auto tree, LoadTree(at.node.subtree));
    const Node* child = tree->Find(parts[i]);
    if (!child) return not_found();
    at.node = *child;
  }
  return at;
}

FsAttr SnapshotFs::AttrOf(const Located& at) {
  FsAttr a;
  a.uid = ::geteuid();
  a.gid = ::getegid();
  a.mtime_ns = a.ctime_ns = mounted_ns_;
  switch (at.kind) {
    case Kind::kRoot:
      a.ino = 1;
      a.mode = S_IFDIR | 0555;
      a.nlink = 4;
      return a;
    case Kind::kSnapshotsDir:
    case Kind::kHostsDir:
    case Kind::kHostDir:
      a.ino = InodeOf("", at.path);
      a.mode = S_IFDIR | 0555;
      a.nlink = 2;
      return a;
    case Kind::kLink:
      a.ino = InodeOf("", at.path);
      a.mode = S_IFLNK | 0777;
      a.size = at.target.size();
      return a;
    case Kind::kImage:
      a.ino = InodeOf(at.snapshot.id.Hex(), "image");
      a.mode = S_IFREG | 0400;
      a.size = at.snapshot.block->length;
      a.stored = (at.snapshot.block->blocks - at.snapshot.block->zero_blocks) *
                 uint64_t{at.snapshot.block->block_size};
      a.mtime_ns = a.ctime_ns = at.snapshot.time_ns;
      return a;
    case Kind::kSnapshotRoot:
      a.ino = InodeOf(at.snapshot.id.Hex(), "/");
      a.mode = S_IFDIR | 0555;
      a.nlink = 2;
      a.mtime_ns = a.ctime_ns = at.snapshot.time_ns;
      return a;
    case Kind::kNode:
      break;
  }
  const Node& n = at.node;
  const bool linked = n.hardlink_group != 0 && n.type != NodeType::kDir;
  a.ino = linked ? InodeOf(at.snapshot.id.Hex(), "link " + std::to_string(n.hardlink_group))
                 : InodeOf(at.snapshot.id.Hex(), at.path);
  a.mode = TypeBits(n.type) | (n.mode & 07777);
  a.nlink = linked ? std::max<uint64_t>(n.nlink, 1) : 1;
  a.uid = n.uid;
  a.gid = n.gid;
  a.size = n.type == NodeType::kSymlink ? n.link_target.size() : n.size;
  for (const Extent& e : n.content)
    if (!e.hole) a.stored += e.length;
  a.rdev = n.rdev;
  a.mtime_ns = n.mtime_ns;
  a.ctime_ns = n.ctime_ns;
  return a;
}

Result<FsAttr> SnapshotFs::GetAttr(const std::string& path) {
  ASSIGN_OR_RETURN(Located at, Locate(path));
  FsAttr a = AttrOf(at);
  // A directory's link count is 2 plus its subdirectories: find relies on it.
  if (at.kind == Kind::kSnapshotsDir || at.kind == Kind::kHostsDir) {
    ASSIGN_OR_RETURN(auto entries, ReadDir(path));
    a.nlink = 2 + entries.size();
    return a;
  }
  if (at.kind == Kind::kSnapshotRoot && at.snapshot.block) return a;
  if (at.kind == Kind::kSnapshotRoot ||
      (at.kind == Kind::kNode && at.node.type == NodeType::kDir)) {
    ASSIGN_OR_RETURN(auto tree, LoadTree(at.node.subtree));
    a.nlink = 2 + std::count_if(tree->nodes.begin(), tree->nodes.end(),
                                [](const Node& c) { return c.type == NodeType::kDir; });
  }
  return a;
}

Result<std::vector<FsEntry>> SnapshotFs::ReadDir(const std::string& path) {
  ASSIGN_OR_RETURN(Located at, Locate(path));
  std::vector<FsEntry> out;
  auto add = [&](const std::string& name) -> Status {
    const std::string child = (path == "/" ? "" : path) + "/" + name;
    ASSIGN_OR_RETURN(Located c, Locate(child));
    out.push_back({name, AttrOf(c)});
    return Status::OK();
  };
  switch (at.kind) {
    case Kind::kRoot: {
      RETURN_IF_ERROR(Refresh(false));
      RETURN_IF_ERROR(add("snapshots"));
      RETURN_IF_ERROR(add("hosts"));
      bool any;
      {
        std::lock_guard l(snapshots_mu_);
        any = !latest_.empty();
      }
      if (any) RETURN_IF_ERROR(add("latest"));
      return out;
    }
    case Kind::kSnapshotsDir:
    case Kind::kHostsDir:
    case Kind::kHostDir: {
      RETURN_IF_ERROR(Refresh(false));
      std::vector<std::string> names;
      {
        std::lock_guard l(snapshots_mu_);
        for (const auto& [name, s] : by_name_) {
          if (at.kind == Kind::kSnapshotsDir) {
            names.push_back(name);
          } else if (at.kind == Kind::kHostsDir) {
            if (names.empty() || names.back() != HostDirName(s)) names.push_back(HostDirName(s));
          } else if (HostDirName(s) == at.name) {
            names.push_back(name);
          }
        }
      }
      std::sort(names.begin(), names.end());
      names.erase(std::unique(names.begin(), names.end()), names.end());
      for (const auto& n : names) RETURN_IF_ERROR(add(n));
      return out;
    }
    case Kind::kSnapshotRoot:
      if (at.snapshot.block) {
        RETURN_IF_ERROR(add(ImageName(at.snapshot)));
        return out;
      }
      break;
    case Kind::kNode:
      if (at.node.type != NodeType::kDir) return NotADirectory(path);
      break;
    case Kind::kLink:
    case Kind::kImage:
      return NotADirectory(path);
  }
  ASSIGN_OR_RETURN(auto tree, LoadTree(at.node.subtree));
  for (const Node& n : tree->nodes) {
    Located c;
    c.kind = Kind::kNode;
    c.path = (path == "/" ? "" : path) + "/" + n.name;
    c.snapshot = at.snapshot;
    c.node = n;
    // Directories get their true link count from GetAttr, which the kernel
    // asks for before it trusts one.
    out.push_back({n.name, AttrOf(c)});
  }
  return out;
}

Result<std::string> SnapshotFs::ReadLink(const std::string& path) {
  ASSIGN_OR_RETURN(Located at, Locate(path));
  if (at.kind == Kind::kLink) return at.target;
  if (at.kind == Kind::kNode && at.node.type == NodeType::kSymlink) return at.node.link_target;
  return Status::InvalidArgument(path + ": not a symbolic link");
}

Result<std::vector<std::pair<std::string, std::string>>> SnapshotFs::Xattrs(
    const std::string& path) {
  ASSIGN_OR_RETURN(Located at, Locate(path));
  if (at.kind != Kind::kNode) return std::vector<std::pair<std::string, std::string>>{};
  return at.node.xattrs;
}

Result<uint64_t> SnapshotFs::Open(const std::string& path) {
  ASSIGN_OR_RETURN(Located at, Locate(path));
  auto file = std::make_shared<OpenFile>();
  if (at.kind == Kind::kImage) {
    ASSIGN_OR_RETURN(file->map, LoadBlockMap(at.snapshot));
    file->size = file->map->length;
  } else if (at.kind == Kind::kNode && at.node.type == NodeType::kFile) {
    file->extents = at.node.content;
    uint64_t pos = 0;
    for (const Extent& e : file->extents) {
      file->starts.push_back(pos);
      pos += e.length;
    }
    file->size = pos;
  } else {
    return Status::InvalidArgument(path + ": not a regular file");
  }
  std::lock_guard l(files_mu_);
  const uint64_t handle = next_handle_++;
  files_[handle] = std::move(file);
  return handle;
}

void SnapshotFs::Release(uint64_t handle) {
  std::lock_guard l(files_mu_);
  files_.erase(handle);
}

Result<std::shared_ptr<SnapshotFs::OpenFile>> SnapshotFs::FileOf(uint64_t handle) {
  std::lock_guard l(files_mu_);
  auto it = files_.find(handle);
  if (it == files_.end()) return Status::InvalidArgument("a file that is not open");
  return it->second;
}

Result<uint64_t> SnapshotFs::Seek(uint64_t handle, uint64_t offset, bool data) {
  ASSIGN_OR_RETURN(auto file, FileOf(handle));
  const bool blocks = file->map != nullptr;
  const size_t pieces = blocks ? file->map->blocks.size() : file->extents.size();
  auto start_of = [&](size_t i) {
    return blocks ? i * uint64_t{file->map->block_size} : file->starts[i];
  };
  auto is_hole = [&](size_t i) {
    return blocks ? file->map->blocks[i].zero : file->extents[i].hole;
  };
  if (offset >= file->size) return Status::NotFound("past the end");
  size_t i = blocks ? offset / file->map->block_size
                    : std::upper_bound(file->starts.begin(), file->starts.end(), offset) -
                          file->starts.begin() - 1;
  for (; i < pieces; ++i) {
    if (is_hole(i) != data) return std::max(offset, start_of(i));
  }
  if (data) return Status::NotFound("no data after " + std::to_string(offset));
  return file->size;  // the implicit hole at the end
}

Result<size_t> SnapshotFs::Read(uint64_t handle, uint64_t offset, size_t size, char* out) {
  ASSIGN_OR_RETURN(auto file, FileOf(handle));
  if (offset >= file->size) return size_t{0};
  size = static_cast<size_t>(std::min<uint64_t>(size, file->size - offset));
  auto load = [this](const Id& id) -> Result<std::string> {
    auto blob = repo_->LoadBlob(id);
    if (!blob.ok()) return AsDamage(blob.status());
    return blob;
  };
  size_t done = 0;
  while (done < size) {
    const uint64_t pos = offset + done;
    // The piece holding `pos`: its start, length, and chunk (none: zeros).
    uint64_t start, length;
    const Id* chunk = nullptr;
    if (file->map) {
      const uint64_t block = pos / file->map->block_size;
      start = block * file->map->block_size;
      length = file->map->BlockLength(block);
      if (!file->map->blocks[block].zero) chunk = &file->map->blocks[block].chunk;
    } else {
      const size_t i = std::upper_bound(file->starts.begin(), file->starts.end(), pos) -
                       file->starts.begin() - 1;
      start = file->starts[i];
      length = file->extents[i].length;
      if (!file->extents[i].hole) chunk = &file->extents[i].chunk;
    }
    const size_t n = static_cast<size_t>(std::min<uint64_t>(size - done, start + length - pos));
    if (!chunk) {
      std::memset(out + done, 0, n);
    } else {
      ASSIGN_OR_RETURN(auto bytes, cache_.Get(*chunk, load));
      if (bytes->size() != length) {
        return Status::Corruption("chunk " + chunk->Hex() + " holds " +
                                  std::to_string(bytes->size()) + " bytes where its file has " +
                                  std::to_string(length));
      }
      std::memcpy(out + done, bytes->data() + (pos - start), n);
    }
    done += n;
  }
  return done;
}

}  // namespace dr
