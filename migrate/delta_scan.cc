// ScanDelta (migrator.h): what a sync now would pick up, by metadata only.
#include <fcntl.h>
#include <sys/stat.h>

#include "catalog/live_node.h"
#include "catalog/tree_walk.h"
#include "core/env/dir.h"
#include "migrate/migrator.h"

namespace dr {

namespace {

class DeltaScan {
 public:
  DeltaScan(BackupTarget& target, SourceDelta* out) : target_(target), out_(out) {}

  // The live directory `fd` against the snapshot directory `tree` (none:
  // everything below is new).
  void Dir(int fd, const Tree* tree, const std::string& path) {
    auto names = ReadDirNames(fd, path);
    if (!names.ok()) return;
    size_t gone = tree ? tree->nodes.size() : 0;
    for (const std::string& name : *names) {
      struct stat st;
      if (::fstatat(fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      const Node* was = tree ? tree->Find(name) : nullptr;
      if (was) --gone;
      Entry(fd, name, st, was, JoinPath(path, name));
    }
    out_->entries_gone += gone;
  }

  void Entry(int dirfd, const std::string& name, const struct stat& st, const Node* was,
             const std::string& path) {
    const NodeType type = NodeTypeOf(st.st_mode);
    if (was && was->type != type) {
      ++out_->entries_gone;
      was = nullptr;
    }
    if (type == NodeType::kFile) {
      const bool same = was && was->size == static_cast<uint64_t>(st.st_size) &&
                        was->mtime_ns == StatMtimeNs(st) && was->ctime_ns == StatCtimeNs(st) &&
                        was->inode == st.st_ino;
      if (same) return;
      (was ? out_->files_changed : out_->files_new)++;
      out_->bytes += static_cast<uint64_t>(st.st_size);
      return;
    }
    if (type != NodeType::kDir) return;
    auto sub = OpenDirAt(dirfd, name, path);
    if (!sub.ok()) return;
    std::optional<Tree> tree;
    if (was) {
      auto t = target_.LoadTree(was->subtree);
      if (t.ok()) tree = std::move(t).value();
    }
    Dir(sub->get(), tree ? &*tree : nullptr, path);
  }

 private:
  BackupTarget& target_;
  SourceDelta* out_;
};

}  // namespace

Result<SourceDelta> ScanDelta(MigrationContext& ctx, const MigrationSystem& system,
                              const SystemState& state) {
  SourceDelta d;
  if (!system.HasFiles() || state.applied_snapshot.empty()) return d;
  // What the last sync captured, read as a capture reads its parent.
  ASSIGN_OR_RETURN(std::shared_ptr<BackupTarget> target, ctx.open_target());
  auto snap = target->FindSnapshot(state.applied_snapshot);
  if (!snap.ok()) return d;
  DeltaScan scan(*target, &d);
  const TreeLoader load = [&target](const Id& id) { return target->LoadTree(id); };
  for (const std::string& path : system.paths) {
    auto was = FindNode(load, snap->tree, path);
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) {
      if (was.ok()) ++d.entries_gone;
      continue;
    }
    const std::string parent = path.substr(0, std::max<size_t>(path.rfind('/'), 1));
    const std::string name = path.substr(path.rfind('/') + 1);
    UniqueFd dirfd(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dirfd.valid()) return Status::FromErrno(errno, "open " + parent);
    scan.Entry(dirfd.get(), name, st, was.ok() ? &*was : nullptr, path);
  }
  d.known = true;
  return d;
}

}  // namespace dr
