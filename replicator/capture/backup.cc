#include "replicator/capture/backup.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <thread>
#include <unordered_map>

#include "catalog/format/blob.h"
#include "catalog/format/chunker.h"
#include "catalog/live_node.h"
#include "core/bounded_queue.h"
#include "core/env/dir.h"
#include "core/env/fd.h"
#include "core/env/file_io.h"
#include "core/env/xattr.h"
#include "core/timefmt.h"
#include "replicator/capture/btrfs_snapshot.h"
#include "replicator/capture/hooks.h"

namespace dr {

bool IsExcluded(const std::vector<std::string>& patterns, const std::string& path,
                const std::string& name) {
  for (const auto& p : patterns) {
    const std::string& subject = p.find('/') == std::string::npos ? name : path;
    if (::fnmatch(p.c_str(), subject.c_str(), 0) == 0) return true;
  }
  return false;
}

namespace {

// Attempts to read a file that keeps changing before giving up on it.
constexpr int kReadAttempts = 3;

// The parent directories of the sources, as a small tree of names, so the
// snapshot's root tree mirrors absolute paths ("/home/ann/docs").
struct SourceDir {
  std::map<std::string, SourceDir> children;
  bool is_source = false;  // back up this path and everything below it
};

class BackupRun {
 public:
  BackupRun(BackupTarget& target, const BackupOptions& options)
      : target_(target),
        opt_(options),
        chunker_(target.chunker(), target.hasher()),
        buf_(std::max<size_t>(8 << 20, 2 * static_cast<size_t>(target.chunker().max_size)), '\0') {
    if (!opt_.progress) opt_.progress = &own_progress_;
  }

  Result<BackupResult> Run();

 private:
  enum class ReadOutcome { kOk, kChanged };

  Result<Id> BackupSources(const SourceDir& dir, const std::string& path, const Tree* parent);
  std::optional<Node> ProcessEntry(int dirfd, const std::string& name, const std::string& path,
                                   const Node* parent, dev_t root_dev);
  Id BackupDirContents(int fd, const std::string& path, const Node* parent, dev_t root_dev);
  bool BackupFile(int dirfd, const std::string& name, const std::string& path, const Node* parent,
                  Node* node);
  Result<ReadOutcome> ReadFile(int dirfd, const std::string& name, const std::string& path,
                               Node* node);
  Result<ReadOutcome> ReadRegion(int fd, uint64_t start, uint64_t end, StreamDigest* digest,
                                 std::vector<Extent>* content);
  void EmitChunk(std::string_view data, StreamDigest* digest, std::vector<Extent>* content);
  Id StoreTreeOrFail(const Tree& tree);
  // A path that could not be read: recorded, and the snapshot is partial.
  void Warn(std::string message);
  // Worth telling, but the snapshot is still complete.
  void Note(std::string message);
  void Fail(const Status& s);
  bool failed() const { return failed_.load(); }
  std::optional<Snapshot> FindParent();
  // Hooks and btrfs snapshots around the capture; sets consistency_.
  Status Quiesce();
  // Where a source path is read from: itself, or its place in a snapshot.
  std::string ReadPathOf(const std::string& source) const {
    auto it = read_path_.find(source);
    return it == read_path_.end() ? source : it->second;
  }

  BackupTarget& target_;
  BackupOptions opt_;
  Chunker chunker_;
  std::string buf_;
  ProgressCounters own_progress_;

  std::mutex fail_mu_;
  Status fatal_;  // GUARDED_BY(fail_mu_)
  std::atomic<bool> failed_{false};

  std::vector<std::string> warnings_;
  std::vector<std::string> notes_;  // told with the warnings, but not partial
  SnapshotStats stats_;
  // Content of hard-linked files already read in this run, by (device,
  // inode), with the version (size, mtime, ctime) it was read at.
  struct LinkedContent {
    uint64_t size;
    int64_t mtime_ns, ctime_ns;
    std::vector<Extent> content;
    Id digest;
  };
  std::map<std::pair<uint64_t, uint64_t>, LinkedContent> link_content_;

  std::vector<std::unique_ptr<BtrfsSnapshot>> btrfs_;  // deleted when the run ends
  std::map<std::string, std::string> read_path_;
  std::optional<CaptureHooks> hooks_;  // the post-hook runs at the latest when the run ends
  std::string consistency_;
};

Status BackupRun::Quiesce() {
  hooks_.emplace(opt_.pre_hook, opt_.post_hook, opt_.paths.front());
  RETURN_IF_ERROR(hooks_->Begin());
  if (!opt_.btrfs_snapshot) {
    consistency_ = hooks_->LiveConsistency();
    return Status::OK();
  }
  for (const auto& p : opt_.paths) {
    BtrfsSnapshot* snap = nullptr;
    for (auto& s : btrfs_)
      if (s->Holds(p)) snap = s.get();
    if (!snap) {
      auto made = BtrfsSnapshot::Create(p);
      if (!made.ok()) return made.status().WithContext("--btrfs-snapshot");
      btrfs_.push_back(std::move(made).value());
      snap = btrfs_.back().get();
    }
    read_path_[p] = snap->Translate(p);
  }
  // Anything mounted below a source is not in its snapshot.
  for (const auto& mount : MountPointsUnder(opt_.paths)) {
    Warn(mount +
         " is a mount point: what is mounted there is not in the btrfs snapshot; back "
         "it up as a path of its own");
  }
  // The snapshots are fixed: the sources may change again at once.
  RETURN_IF_ERROR(hooks_->End());
  std::string subvolumes;
  for (const auto& s : btrfs_) subvolumes += (subvolumes.empty() ? "" : ", ") + s->subvolume();
  consistency_ = std::string("btrfs-snapshot (read-only snapshot of ") + subvolumes + ")" +
                 (hooks_->has_pre_hook() ? " between pre- and post-hook" : "");
  return Status::OK();
}

void BackupRun::Warn(std::string message) {
  opt_.progress->errors++;
  stats_.errors++;
  warnings_.push_back(std::move(message));
}

void BackupRun::Note(std::string message) { notes_.push_back(std::move(message)); }

void BackupRun::Fail(const Status& s) {
  std::lock_guard l(fail_mu_);
  if (fatal_.ok()) fatal_ = s;
  failed_ = true;
}

Id BackupRun::StoreTreeOrFail(const Tree& tree) {
  auto id = target_.AddTree(tree);
  if (!id.ok()) {
    Fail(id.status());
    return Id{};
  }
  return *id;
}

void BackupRun::EmitChunk(std::string_view data, StreamDigest* digest,
                          std::vector<Extent>* content) {
  Id id = target_.hasher().Hash(data);
  digest->Update(data);
  content->push_back({false, data.size(), id});
  stats_.bytes_read += data.size();
  opt_.progress->bytes_done += data.size();
  Status s = target_.AddChunk(id, data);
  if (!s.ok()) Fail(s);
}

Result<BackupRun::ReadOutcome> BackupRun::ReadRegion(int fd, uint64_t start, uint64_t end,
                                                     StreamDigest* digest,
                                                     std::vector<Extent>* content) {
  const size_t cap = buf_.size();
  const size_t max = chunker_.params().max_size;
  size_t have = 0;
  uint64_t pos = start;
  for (;;) {
    bool short_read = false;
    while (have < cap && pos < end) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(cap - have, end - pos));
      ASSIGN_OR_RETURN(size_t n, PreadFull(fd, buf_.data() + have, want, pos, "file"));
      have += n;
      pos += n;
      if (n < want) {
        short_read = true;  // the file shrank under us
        break;
      }
    }
    if (short_read) return ReadOutcome::kChanged;
    const bool at_end = pos >= end;
    size_t off = 0;
    while (off < have && (at_end || have - off >= max)) {
      size_t cut = chunker_.NextCut(std::string_view(buf_.data() + off, have - off));
      EmitChunk(std::string_view(buf_.data() + off, cut), digest, content);
      off += cut;
      if (failed()) return ReadOutcome::kOk;
    }
    std::memmove(buf_.data(), buf_.data() + off, have - off);
    have -= off;
    if (at_end && have == 0) return ReadOutcome::kOk;
  }
}

Result<BackupRun::ReadOutcome> BackupRun::ReadFile(int dirfd, const std::string& name,
                                                   const std::string& path, Node* node) {
  int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
  if (fd < 0 && errno == EPERM)
    fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open " + path);
  UniqueFd guard(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  for (int attempt = 0; attempt < kReadAttempts; ++attempt) {
    struct stat before, after;
    if (::fstat(fd, &before) != 0) return Status::FromErrno(errno, "stat " + path);
    if (!S_ISREG(before.st_mode)) return ReadOutcome::kChanged;
    const uint64_t size = static_cast<uint64_t>(before.st_size);
    StreamDigest digest(target_.hasher());
    std::vector<Extent> content;
    uint64_t offset = 0;
    ReadOutcome outcome = ReadOutcome::kOk;
    while (offset < size && outcome == ReadOutcome::kOk && !failed()) {
      off_t data = ::lseek(fd, static_cast<off_t>(offset), SEEK_DATA);
      uint64_t data_start = data < 0 ? size : std::min<uint64_t>(static_cast<uint64_t>(data), size);
      if (data < 0 && errno != ENXIO) return Status::FromErrno(errno, "seek " + path);
      if (data_start > offset) {
        content.push_back({true, data_start - offset, Id{}});
        digest.UpdateZeros(data_start - offset);
        offset = data_start;
        if (offset >= size) break;
      }
      off_t hole = ::lseek(fd, static_cast<off_t>(offset), SEEK_HOLE);
      uint64_t data_end = hole < 0 ? size : std::min<uint64_t>(static_cast<uint64_t>(hole), size);
      ASSIGN_OR_RETURN(outcome, ReadRegion(fd, offset, data_end, &digest, &content));
      offset = data_end;
    }
    if (::fstat(fd, &after) != 0) return Status::FromErrno(errno, "stat " + path);
    if (outcome == ReadOutcome::kOk && after.st_size == before.st_size &&
        StatMtimeNs(after) == StatMtimeNs(before) && StatCtimeNs(after) == StatCtimeNs(before)) {
      node->size = size;
      node->mtime_ns = StatMtimeNs(before);
      node->ctime_ns = StatCtimeNs(before);
      node->inode = before.st_ino;
      node->content = std::move(content);
      node->digest = digest.Finish();
      return ReadOutcome::kOk;
    }
  }
  return ReadOutcome::kChanged;
}

bool BackupRun::BackupFile(int dirfd, const std::string& name, const std::string& path,
                           const Node* parent, Node* node) {
  opt_.progress->files++;
  const std::pair<uint64_t, uint64_t> inode_key{node->device, node->inode};
  if (node->hardlink_group) {
    auto it = link_content_.find(inode_key);
    if (it != link_content_.end() && it->second.size == node->size &&
        it->second.mtime_ns == node->mtime_ns && it->second.ctime_ns == node->ctime_ns) {
      node->content = it->second.content;
      node->digest = it->second.digest;
      stats_.files_unchanged++;
      stats_.bytes_total += node->size;
      return true;
    }
  }
  bool unchanged = !opt_.force_reread && parent && parent->type == NodeType::kFile &&
                   parent->size == node->size && parent->mtime_ns == node->mtime_ns &&
                   parent->ctime_ns == node->ctime_ns && parent->inode == node->inode;
  if (unchanged) {
    // Reuse only what the repository really holds (a damaged parent must not
    // propagate).
    std::vector<Id> chunks;
    for (const Extent& e : parent->content)
      if (!e.hole) chunks.push_back(e.chunk);
    unchanged = target_.MayReuse(chunks);
  }
  if (unchanged) {
    node->content = parent->content;
    node->digest = parent->digest;
    stats_.files_unchanged++;
    opt_.progress->bytes_done += node->size;
  } else {
    auto outcome = ReadFile(dirfd, name, path, node);
    if (!outcome.ok()) {
      Warn(outcome.status().message());
      return false;
    }
    if (*outcome == ReadOutcome::kChanged) {
      Warn(path + ": file changed while it was read (" + std::to_string(kReadAttempts) +
           " attempts); not included in this snapshot");
      return false;
    }
    (parent && parent->type == NodeType::kFile ? stats_.files_changed : stats_.files_new)++;
  }
  stats_.bytes_total += node->size;
  if (node->hardlink_group) {
    link_content_[inode_key] = {node->size, node->mtime_ns, node->ctime_ns, node->content,
                                node->digest};
  }
  return true;
}

Id BackupRun::BackupDirContents(int fd, const std::string& path, const Node* parent,
                                dev_t root_dev) {
  std::optional<Tree> parent_tree;
  if (parent && parent->type == NodeType::kDir) {
    auto t = target_.LoadTree(parent->subtree);
    if (t.ok()) parent_tree = std::move(t).value();
  }
  Tree tree;
  auto names = ReadDirNames(fd, path);
  if (!names.ok()) {
    Warn(names.status().message());
    return StoreTreeOrFail(tree);
  }
  for (const std::string& name : *names) {
    if (failed()) break;
    const Node* p = parent_tree ? parent_tree->Find(name) : nullptr;
    auto node = ProcessEntry(fd, name, JoinPath(path, name), p, root_dev);
    if (node) tree.nodes.push_back(std::move(*node));
  }
  return StoreTreeOrFail(tree);
}

std::optional<Node> BackupRun::ProcessEntry(int dirfd, const std::string& name,
                                            const std::string& path, const Node* parent,
                                            dev_t root_dev) {
  if (IsExcluded(opt_.excludes, path, name)) return std::nullopt;
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    Warn(Status::FromErrno(errno, "stat " + path).message());
    return std::nullopt;
  }
  if (S_ISSOCK(st.st_mode)) return std::nullopt;  // sockets cannot be restored meaningfully
  Node node;
  Status s = ReadNodeMeta(dirfd, name, st, path, &node, opt_.force_reread ? nullptr : parent);
  if (!s.ok()) {
    Warn(s.message());
    return std::nullopt;
  }
  switch (node.type) {
    case NodeType::kDir: {
      stats_.dirs++;
      opt_.progress->dirs++;
      // In a btrfs snapshot a nested subvolume is an empty placeholder
      // directory (inode 2): its files are not in the snapshot.
      if (!btrfs_.empty() && st.st_ino == kBtrfsEmptySubvolumeInode) {
        Warn(path +
             " is a nested btrfs subvolume, empty in the snapshot; back it up as a path "
             "of its own");
      }
      if (opt_.one_file_system && st.st_dev != root_dev) {
        node.subtree = StoreTreeOrFail(Tree{});  // the mount point, not what is mounted
        break;
      }
      auto fd = OpenDirAt(dirfd, name, path);
      if (!fd.ok()) {
        Warn(fd.status().message());
        node.subtree = StoreTreeOrFail(Tree{});
        break;
      }
      node.subtree = BackupDirContents(fd->get(), path, parent, root_dev);
      break;
    }
    case NodeType::kFile:
      if (!BackupFile(dirfd, name, path, parent, &node)) return std::nullopt;
      break;
    default:
      stats_.others++;
      break;
  }
  return node;
}

Result<Id> BackupRun::BackupSources(const SourceDir& dir, const std::string& path,
                                    const Tree* parent) {
  Tree tree;
  UniqueFd dirfd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dirfd.valid()) return Status::FromErrno(errno, "open directory " + path);
  for (const auto& [name, child] : dir.children) {
    const std::string child_path = JoinPath(path, name);
    const Node* p = parent ? parent->Find(name) : nullptr;
    if (child.is_source) {
      // Read from a btrfs snapshot when there is one: the entry's parent
      // there, under the name it has there.
      int read_dir = dirfd.get();
      std::string read_name = name;
      UniqueFd snapshot_dir;
      if (const std::string from = ReadPathOf(child_path); from != child_path) {
        const std::filesystem::path fp(from);
        snapshot_dir =
            UniqueFd(::open(fp.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!snapshot_dir.valid()) {
          Warn(Status::FromErrno(errno, "source " + child_path + " in snapshot " + from).message());
          continue;
        }
        read_dir = snapshot_dir.get();
        read_name = fp.filename().string();
      }
      struct stat st;
      if (::fstatat(read_dir, read_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        Warn(Status::FromErrno(errno, "source " + child_path).message());
        continue;
      }
      auto node = ProcessEntry(read_dir, read_name, child_path, p, st.st_dev);
      if (node) {
        node->name = name;
        tree.nodes.push_back(std::move(*node));
      }
      continue;
    }
    // An ancestor of a source: record its metadata, then descend.
    struct stat st;
    if (::fstatat(dirfd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISDIR(st.st_mode)) {
      Warn("source directory " + child_path + " does not exist or is not a directory");
      continue;
    }
    Node node;
    RETURN_IF_ERROR(ReadNodeMeta(dirfd.get(), name, st, child_path, &node));
    std::optional<Tree> parent_tree;
    if (p && p->type == NodeType::kDir) {
      auto t = target_.LoadTree(p->subtree);
      if (t.ok()) parent_tree = std::move(t).value();
    }
    auto sub = BackupSources(child, child_path, parent_tree ? &*parent_tree : nullptr);
    if (!sub.ok()) {
      Warn(sub.status().message());
      continue;
    }
    node.subtree = *sub;
    tree.nodes.push_back(std::move(node));
  }
  if (tree.nodes.empty())
    return Status::NotFound("no source path under " + path + " could be read");
  return StoreTreeOrFail(tree);
}

std::optional<Snapshot> BackupRun::FindParent() {
  if (opt_.force_reread) return std::nullopt;
  if (opt_.parent) {
    auto s = target_.FindSnapshot(*opt_.parent);
    if (s.ok()) return *s;
    Warn("parent snapshot " + *opt_.parent + ": " + s.status().message());
    return std::nullopt;
  }
  auto all = target_.ListSnapshots();
  if (!all.ok()) return std::nullopt;
  for (auto it = all->rbegin(); it != all->rend(); ++it) {
    if (it->host == opt_.host && it->paths == opt_.paths && !it->block) return *it;
  }
  return std::nullopt;
}

Result<BackupResult> BackupRun::Run() {
  auto start = std::chrono::steady_clock::now();
  const int64_t start_ns = NowUnixNs();
  if (opt_.paths.empty()) return Status::InvalidArgument("no source paths given");
  SourceDir root;
  for (auto& p : opt_.paths) {
    std::error_code ec;
    p = std::filesystem::absolute(p, ec).lexically_normal().string();
    if (p.size() > 1 && p.back() == '/') p.pop_back();
  }
  std::sort(opt_.paths.begin(), opt_.paths.end());
  opt_.paths.erase(std::unique(opt_.paths.begin(), opt_.paths.end()), opt_.paths.end());
  if (opt_.host.empty()) opt_.host = LocalHostName();
  for (const auto& p : opt_.paths) {
    SourceDir* d = &root;
    for (const auto& part : std::filesystem::path(p)) {
      std::string s = part.string();
      if (s == "/" || s.empty()) continue;
      if (d->is_source) break;  // already covered by an enclosing source
      d = &d->children[s];
    }
    d->is_source = true;
    d->children.clear();
  }

  RETURN_IF_ERROR(target_.Prepare());
  std::optional<Snapshot> parent = FindParent();
  RETURN_IF_ERROR(Quiesce());
  std::optional<Tree> parent_root;
  if (parent) {
    opt_.progress->bytes_total = parent->stats.bytes_total;
    auto t = target_.LoadTree(parent->tree);
    if (t.ok()) {
      parent_root = std::move(t).value();
    } else {
      // Not partial: every file is read, so the snapshot is complete.
      Note("parent snapshot " + parent->ShortId() +
           " unreadable, every file is read again: " + t.status().message());
    }
  }

  Result<Id> root_tree = Status::NotFound("no source");
  if (root.is_source) {
    const std::string top = ReadPathOf("/");
    UniqueFd fd(::open(top.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    struct stat st;
    if (!fd.valid() || ::fstat(fd.get(), &st) != 0) {
      Fail(Status::FromErrno(errno, "open " + top));  // the post-hook still runs below
    } else {
      root_tree = BackupDirContents(fd.get(), "/", nullptr, st.st_dev);
    }
  } else {
    root_tree = BackupSources(root, "/", parent_root ? &*parent_root : nullptr);
  }
  if (Status post = hooks_->End(); !post.ok()) Warn(post.message());
  if (!failed()) {
    Status flushed = target_.FinishWrites();
    if (!flushed.ok()) Fail(flushed);
  }
  {
    std::lock_guard l(fail_mu_);
    if (!fatal_.ok()) return fatal_.WithContext("backup aborted, no snapshot written");
  }
  if (!root_tree.ok()) {
    std::string why = warnings_.empty() ? root_tree.status().message() : warnings_.front();
    return Status::NotFound("nothing to back up: " + why);
  }

  // Flushed above, so the statistics include the last pack.
  warnings_.insert(warnings_.end(), notes_.begin(), notes_.end());
  Snapshot snap = NewSnapshot(start_ns, start, opt_.host, warnings_, stats_, target_);
  snap.paths = opt_.paths;
  snap.tags = opt_.tags;
  snap.policy = opt_.policy;
  if (parent) snap.parent = parent->id;
  snap.tree = *root_tree;
  snap.consistency = consistency_;
  snap.partial = stats_.errors > 0;
  ASSIGN_OR_RETURN(snap.id, target_.Commit(snap));
  return BackupResult{std::move(snap), std::move(warnings_)};
}

}  // namespace

std::string LocalHostName() {
  char h[256] = {};
  ::gethostname(h, sizeof h - 1);
  return h;
}

Snapshot NewSnapshot(int64_t start_ns, std::chrono::steady_clock::time_point started,
                     const std::string& host, const std::vector<std::string>& warnings,
                     SnapshotStats stats, const BackupTarget& target) {
  Snapshot snap;
  snap.time_ns = start_ns;
  snap.host = host;
  if (struct passwd* pw = ::getpwuid(::getuid())) snap.username = pw->pw_name;
  snap.warnings.assign(warnings.begin(), warnings.begin() + std::min<size_t>(warnings.size(), 100));
  snap.program_version = DR_VERSION;
  const WriteStats added = target.write_stats();
  stats.bytes_added = added.bytes_added;
  stats.blobs_added = added.blobs_added;
  stats.duration_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  snap.stats = stats;
  return snap;
}

Result<BackupResult> RunBackup(BackupTarget& target, const BackupOptions& options) {
  BackupRun run(target, options);
  return run.Run();
}

Result<BackupResult> RunBackup(Repository& repo, const BackupOptions& options) {
  auto target = MakeRepositoryTarget(repo, options.threads);
  return RunBackup(*target, options);
}

}  // namespace dr
