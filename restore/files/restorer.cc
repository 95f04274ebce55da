#include "restore/files/restorer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "catalog/live_node.h"
#include "catalog/tree_walk.h"
#include "core/bounded_queue.h"
#include "core/bytes.h"
#include "core/env/dir.h"
#include "core/env/fd.h"
#include "core/env/file_io.h"
#include "restore/files/metadata.h"
#include "restore/files/selection.h"
#include "restore/files/target_dir.h"

namespace dr {

namespace {

// Bound on files opened by the walker and waiting for a writer.
constexpr size_t kMaxQueuedFiles = 256;

struct FileJob {
  UniqueFd fd;
  Node node;
  std::string display;
  bool existed = false;  // an existing file, updated in place
};

// Whether restoring `a` where the base restored `b` would leave the entry as
// it is: the same content, and the same metadata a restore sets. A hard-link
// group counts as unchanged only with the same group and link count: any
// change to a group changes every member's node (and so every directory
// holding one), and then all its members are restored and linked from the
// walk.
bool RestoresAlike(const Node& a, const Node& b) {
  return a.type == b.type && a.mode == b.mode && a.uid == b.uid && a.gid == b.gid &&
         a.user == b.user && a.group == b.group && a.mtime_ns == b.mtime_ns && a.size == b.size &&
         a.rdev == b.rdev && a.link_target == b.link_target && a.xattrs == b.xattrs &&
         a.content == b.content && a.digest == b.digest && a.subtree == b.subtree &&
         a.hardlink_group == b.hardlink_group && (a.hardlink_group == 0 || a.nlink == b.nlink);
}

// The quick check rsync makes: the entry at `n.name` is of n's type and, for
// a file, has n's size, mode and mtime (which a restore sets last); a
// directory n's mtime, which moves when anything is added, removed or
// renamed in it.
bool TargetLooksLike(int dirfd, const Node& n) {
  struct stat st;
  if (::fstatat(dirfd, n.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return false;
  switch (n.type) {
    case NodeType::kFile:
      return S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) == n.size &&
             (st.st_mode & 07777) == n.mode &&
             int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec == n.mtime_ns;
    case NodeType::kDir:
      return S_ISDIR(st.st_mode) &&
             int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec == n.mtime_ns;
    case NodeType::kSymlink:
      return S_ISLNK(st.st_mode);
    case NodeType::kFifo:
      return S_ISFIFO(st.st_mode);
    case NodeType::kCharDev:
      return S_ISCHR(st.st_mode) && st.st_rdev == n.rdev;
    case NodeType::kBlockDev:
      return S_ISBLK(st.st_mode) && st.st_rdev == n.rdev;
    default:
      return false;
  }
}

Result<std::string> ReadRange(int fd, uint64_t offset, uint64_t length,
                              const std::string& display) {
  std::string buf(static_cast<size_t>(length), '\0');
  ASSIGN_OR_RETURN(size_t got, PreadFull(fd, buf.data(), buf.size(), offset, display));
  buf.resize(got);
  return buf;
}

// Creates a symlink, FIFO or device node called `name` in `dirfd`; false
// with errno set on failure.
bool MakeSpecial(int dirfd, const std::string& name, const Node& n) {
  switch (n.type) {
    case NodeType::kSymlink:
      return ::symlinkat(n.link_target.c_str(), dirfd, name.c_str()) == 0;
    case NodeType::kFifo:
      return ::mkfifoat(dirfd, name.c_str(), 0600) == 0;
    case NodeType::kCharDev:
    case NodeType::kBlockDev:
      return ::mknodat(dirfd, name.c_str(),
                       (n.type == NodeType::kCharDev ? S_IFCHR : S_IFBLK) | 0600,
                       static_cast<dev_t>(n.rdev)) == 0;
    default:
      errno = EINVAL;
      return false;
  }
}

const char* SpecialName(NodeType t) {
  return t == NodeType::kSymlink ? "symlink" : t == NodeType::kFifo ? "fifo" : "device";
}

class RestoreRun {
 public:
  RestoreRun(Repository& repo, const RestoreOptions& opt)
      : repo_(repo), opt_(opt), selection_(opt.include_paths), queue_(kMaxQueuedFiles) {
    if (!opt_.progress) opt_.progress = &own_progress_;
  }
  Result<RestoreResult> Run(const Snapshot& snapshot);

 private:
  void RestoreDir(int dirfd, const Tree& tree, const Tree* base, const std::string& path);
  void RestoreNode(int dirfd, const Node& node, const Node* base, const std::string& path);
  bool LeaveAlone(int dirfd, const Node& node, const Node* base);
  bool Mirrored(const std::string& path) const;
  void RemoveExtras(int dirfd, const Tree& tree, const std::string& path);
  bool PrepareEntry(int dirfd, const Node& node, const std::string& path);
  bool LinkToGroup(int dirfd, const Node& node, const std::string& path);
  void RememberLinkSource(const Node& node, int fd);
  void RestoreDirNode(int dirfd, const Node& node, const Node* base, const std::string& path);
  void QueueFile(int dirfd, const Node& node, const Node* base, const std::string& path);
  Result<FileJob> OpenFile(int dirfd, const Node& node, const Node* base, const std::string& path);
  void RestoreSpecial(int dirfd, const Node& node, const std::string& path);
  void SyncDir(int fd, const std::string& path);
  void SyncTargetParent();
  void Worker();
  Status WriteFile(FileJob& job);
  void Error(std::string msg);
  void Hook(RestoreStep step, const std::string& path) {
    if (opt_.test_hook) opt_.test_hook(step, path);
  }

  Repository& repo_;
  RestoreOptions opt_;
  PathSelection selection_;
  std::vector<std::string> sources_;  // the snapshot's paths (mirror stays below them)
  BoundedQueue<FileJob> queue_;
  ProgressCounters own_progress_;
  UniqueFd target_fd_;

  std::mutex mu_;
  RestoreResult result_;  // counters and errors; GUARDED_BY(mu_) for workers
  // Walker only: the names from the target down to the directory being
  // restored, and the first restored member of each hard-link group (a
  // member with other content is restored on its own).
  std::vector<std::string> rel_;
  std::unordered_map<uint64_t, LinkSource> link_first_;
};

void RestoreRun::Error(std::string msg) {
  std::lock_guard l(mu_);
  opt_.progress->errors++;
  result_.errors.push_back(std::move(msg));
}

Status RestoreRun::WriteFile(FileJob& job) {
  const Node& n = job.node;
  const int fd = job.fd.get();
  StreamDigest digest(repo_.hasher());
  thread_local Repository::BlobBuffers buffers;
  uint64_t offset = 0, written = 0, kept = 0;
  std::chrono::steady_clock::duration fetching{}, writing{};
  Status first_error;
  for (const Extent& e : n.content) {
    if (e.hole) {
      // A new file already reads zeros there. An old one may hold data: it
      // is punched out, never read or compared (the hole may be terabytes).
      if (job.existed) RETURN_IF_ERROR(ZeroRange(fd, offset, e.length, job.display));
      digest.UpdateZeros(e.length);
      offset += e.length;
      continue;
    }
    if (job.existed) {
      auto old = ReadRange(fd, offset, e.length, job.display);
      if (old.ok() && old->size() == e.length && repo_.hasher().Hash(*old) == e.chunk) {
        digest.Update(*old);
        offset += e.length;
        kept += e.length;
        opt_.progress->bytes_done += e.length;
        continue;
      }
    }
    const auto fetch_start = std::chrono::steady_clock::now();
    auto data = repo_.LoadBlobView(e.chunk, &buffers);
    const auto fetched = std::chrono::steady_clock::now();
    fetching += fetched - fetch_start;
    if (!data.ok()) {
      if (first_error.ok()) first_error = data.status();
      digest.UpdateZeros(e.length);  // keeps offsets right; the digest will not match
    } else {
      if (data->size() != e.length) {
        return Status::Corruption(job.display + ": chunk " + e.chunk.Hex() +
                                  " has the wrong length");
      }
      RETURN_IF_ERROR(PwriteFull(fd, *data, offset, job.display));
      writing += std::chrono::steady_clock::now() - fetched;
      digest.Update(*data);
      written += e.length;
    }
    offset += e.length;
    opt_.progress->bytes_done += e.length;
  }
  if (::ftruncate(fd, static_cast<off_t>(n.size)) != 0) {
    return Status::FromErrno(errno, "set size of " + job.display);
  }
  {
    std::lock_guard l(mu_);
    result_.bytes_written += written;
    result_.bytes_kept += kept;
    result_.fetch_busy_s += std::chrono::duration<double>(fetching).count();
    result_.write_busy_s += std::chrono::duration<double>(writing).count();
  }
  if (!first_error.ok()) {
    return Status::Corruption(job.display + ": not restored exactly: " + first_error.message());
  }
  if (digest.Finish() != n.digest) {
    return Status::Corruption(job.display + ": restored content does not match the file digest");
  }
  Hook(RestoreStep::kBeforeMetadata, job.display);
  RETURN_IF_ERROR(ApplyMetadata(fd, n, job.display));
  // Durable before the restore reports it restored; its name is made durable
  // by its directory's fsync.
  RETURN_IF_ERROR(Fsync(fd, job.display));
  Hook(RestoreStep::kSynced, job.display);
  std::lock_guard l(mu_);
  result_.files_verified++;
  return Status::OK();
}

void RestoreRun::Worker() {
  while (auto job = queue_.Pop()) {
    Status s = WriteFile(*job);
    if (!s.ok()) Error(s.message());
    opt_.progress->files++;
    std::lock_guard l(mu_);
    result_.files++;
  }
}

// Removes a non-directory in the way of a directory (or of a socket, which
// is not restored). Other entries replace what stands at their name when
// they are created (CreateOrReplace). A directory in the way of a
// non-directory is never removed: false, with an error.
bool RestoreRun::PrepareEntry(int dirfd, const Node& node, const std::string& path) {
  struct stat st;
  if (::fstatat(dirfd, node.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return true;
  const bool is_dir = S_ISDIR(st.st_mode);
  if (node.type == NodeType::kDir && is_dir) return true;
  if (is_dir && Mirrored(path)) {
    // The source replaced a directory: so does the mirror.
    Status s = RemoveEntryAt(dirfd, node.name, path);
    if (!s.ok()) {
      Error(s.message());
      return false;
    }
    std::lock_guard l(mu_);
    result_.entries_removed++;
    return true;
  }
  if (is_dir) {
    Error(path + ": a directory is in the way of the " + NodeTypeName(node.type) +
          " to restore; remove it or restore elsewhere");
    return false;
  }
  if (node.type != NodeType::kDir && node.type != NodeType::kSocket) return true;
  if (::unlinkat(dirfd, node.name.c_str(), 0) != 0) {
    Error(Status::FromErrno(errno, "replace " + path).message());
    return false;
  }
  return true;
}

// A later member of a hard-link group with the first member's content is
// linked to it. Returns false when `n` is to be restored on its own.
bool RestoreRun::LinkToGroup(int dirfd, const Node& n, const std::string& path) {
  auto it = link_first_.find(n.hardlink_group);
  if (it == link_first_.end() || it->second.digest != n.digest) return false;
  Hook(RestoreStep::kBeforeCreate, path);
  Status s = LinkTo(target_fd_.get(), it->second, dirfd, n.name, path);
  if (!s.ok()) {
    Error(s.message());
    return true;
  }
  std::lock_guard l(mu_);
  result_.hardlinks++;
  return true;
}

void RestoreRun::RememberLinkSource(const Node& n, int fd) {
  if (!n.hardlink_group || n.type == NodeType::kDir) return;
  auto [it, inserted] = link_first_.try_emplace(n.hardlink_group);
  if (!inserted) return;
  it->second.path = rel_;
  it->second.path.push_back(n.name);
  it->second.id = FileIdOf(fd);
  it->second.digest = n.digest;
}

void RestoreRun::SyncDir(int fd, const std::string& path) {
  Status s = Fsync(fd, "directory " + path);
  if (!s.ok()) return Error(s.message());
  Hook(RestoreStep::kSynced, path);
}

void RestoreRun::RestoreDirNode(int dirfd, const Node& n, const Node* base,
                                const std::string& path) {
  Hook(RestoreStep::kBeforeCreate, path);
  if (::mkdirat(dirfd, n.name.c_str(), 0700) != 0 && errno != EEXIST) {
    return Error(Status::FromErrno(errno, "create directory " + path).message());
  }
  // Everything below, and this directory's own metadata, goes through this
  // one descriptor: if the directory is swapped for a symlink meanwhile, the
  // restore carries on in the directory it opened, wherever that is now.
  auto fd = OpenDirAt(dirfd, n.name, path);
  if (!fd.ok()) return Error(fd.status().message());
  auto tree = repo_.LoadTree(n.subtree);
  // The base's entries below, when the target held this directory too.
  std::optional<Tree> base_tree;
  if (base && base->type == NodeType::kDir) {
    auto t = repo_.LoadTree(base->subtree);
    if (t.ok()) base_tree = std::move(t).value();  // else: nothing is taken for granted
  }
  if (!tree.ok()) {
    Error(path + ": directory contents lost: " + tree.status().message());
  } else {
    rel_.push_back(n.name);
    RestoreDir(fd->get(), *tree, base_tree ? &*base_tree : nullptr, path);
    rel_.pop_back();
  }
  {
    std::lock_guard l(mu_);
    result_.dirs++;
  }
  opt_.progress->dirs++;
  // Children are all created by now (file contents may still be in flight,
  // which does not touch the directory), so its times stick.
  Hook(RestoreStep::kBeforeMetadata, path);
  Status s = ApplyMetadata(fd->get(), n, path);
  if (!s.ok()) Error(s.message());
  // Bottom-up: its entries (subdirectories were synced before) are durable
  // before its parent's entry for it is.
  SyncDir(fd->get(), path);
}

Result<FileJob> RestoreRun::OpenFile(int dirfd, const Node& n, const Node* base,
                                     const std::string& path) {
  // A file the base restored and nobody touched since may change size in
  // place: WriteFile rewrites only the chunks that differ, then truncates.
  const bool as_base = base && base->type == NodeType::kFile && TargetLooksLike(dirfd, *base);
  ASSIGN_OR_RETURN(UniqueFd fd,
                   OpenForUpdateInPlace(dirfd, n.name, n, as_base ? base->size : n.size, path));
  const bool existed = fd.valid();
  if (!existed) {
    // A new inode, never the old one truncated: that would also change every
    // hard link to it (and ext4 flushes truncated-then-rewritten files on
    // close).
    Hook(RestoreStep::kBeforeCreate, path);
    ASSIGN_OR_RETURN(fd, CreateFileAt(dirfd, n.name, path));
  }
  return FileJob{std::move(fd), n, path, existed};
}

void RestoreRun::QueueFile(int dirfd, const Node& n, const Node* base, const std::string& path) {
  auto job = OpenFile(dirfd, n, base, path);
  if (!job.ok()) return Error(job.status().message());
  RememberLinkSource(n, job->fd.get());
  {
    std::lock_guard l(mu_);
    result_.bytes_total += n.size;
  }
  queue_.Push(std::move(job).value(), 1);
}

void RestoreRun::RestoreSpecial(int dirfd, const Node& n, const std::string& path) {
  Hook(RestoreStep::kBeforeCreate, path);
  auto make = [&](const std::string& name) { return MakeSpecial(dirfd, name, n); };
  Status s = CreateOrReplace(dirfd, n.name, make,
                             std::string("create ") + SpecialName(n.type) + " " + path);
  if (!s.ok()) return Error(s.message());
  auto fd = OpenMadeEntry(dirfd, n.name, n.type, path);
  if (!fd.ok()) return Error(fd.status().message());
  RememberLinkSource(n, fd->get());
  {
    std::lock_guard l(mu_);
    result_.others++;
  }
  Hook(RestoreStep::kBeforeMetadata, path);
  s = ApplyMetadata(fd->get(), n, path);
  if (!s.ok()) Error(s.message());
}

void RestoreRun::RestoreNode(int dirfd, const Node& n, const Node* base, const std::string& path) {
  const bool selected = selection_.Selected(path);
  if (!selected && !(n.type == NodeType::kDir && selection_.OnTheWay(path))) return;
  if (LeaveAlone(dirfd, n, base)) return;
  if (!PrepareEntry(dirfd, n, path)) return;
  if (n.hardlink_group && n.type != NodeType::kDir && LinkToGroup(dirfd, n, path)) return;
  switch (n.type) {
    case NodeType::kDir:
      return RestoreDirNode(dirfd, n, base, path);
    case NodeType::kFile:
      return QueueFile(dirfd, n, base, path);
    case NodeType::kSocket:
      return;
    default:
      return RestoreSpecial(dirfd, n, path);
  }
}

void RestoreRun::RestoreDir(int dirfd, const Tree& tree, const Tree* base,
                            const std::string& path) {
  if (Mirrored(path)) RemoveExtras(dirfd, tree, path);
  for (const Node& n : tree.nodes)
    RestoreNode(dirfd, n, base ? base->Find(n.name) : nullptr, JoinPath(path, n.name));
}

// An entry the base restored, unchanged since in the snapshot and, by the
// quick check, in the target. Counted as kept; a directory's whole subtree
// is skipped.
bool RestoreRun::LeaveAlone(int dirfd, const Node& n, const Node* base) {
  if (!base || !RestoresAlike(n, *base) || !TargetLooksLike(dirfd, n)) return false;
  if (n.type == NodeType::kFile) {
    std::lock_guard l(mu_);
    result_.files_unchanged++;
    result_.bytes_total += n.size;
    result_.bytes_kept += n.size;
    opt_.progress->bytes_done += n.size;
  }
  return true;
}

bool RestoreRun::Mirrored(const std::string& path) const {
  if (!opt_.mirror || !opt_.include_paths.empty()) return false;
  for (const std::string& src : sources_) {
    if (src == "/" || path == src ||
        (path.size() > src.size() && path.compare(0, src.size(), src) == 0 &&
         path[src.size()] == '/'))
      return true;
  }
  return false;
}

void RestoreRun::RemoveExtras(int dirfd, const Tree& tree, const std::string& path) {
  auto names = ReadDirNames(dirfd, path);
  if (!names.ok()) return Error(names.status().message());
  for (const std::string& name : *names) {
    if (tree.Find(name)) continue;
    Status s = RemoveEntryAt(dirfd, name, JoinPath(path, name));
    if (!s.ok()) {
      Error(s.message());
      continue;
    }
    std::lock_guard l(mu_);
    result_.entries_removed++;
  }
}

// The target's own entry in its parent (create_directories may just have
// made it) is made durable last.
void RestoreRun::SyncTargetParent() {
  auto parent = OpenDirAt(target_fd_.get(), "..", opt_.target + "/..");
  if (!parent.ok()) return Error(parent.status().message());
  Status s = Fsync(parent->get(), "directory " + opt_.target + "/..");
  if (!s.ok()) return Error(s.message());
  Hook(RestoreStep::kSynced, "");
}

Result<RestoreResult> RestoreRun::Run(const Snapshot& snapshot) {
  auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(Tree root, repo_.LoadTree(snapshot.tree));
  for (const auto& p : selection_.paths()) {
    RETURN_IF_ERROR(
        FindNode(repo_, snapshot.tree, p).status().WithContext("snapshot " + snapshot.ShortId()));
  }
  std::error_code ec;
  std::filesystem::create_directories(opt_.target, ec);
  target_fd_.reset(::open(opt_.target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!target_fd_.valid()) {
    return Status::FromErrno(
        errno, "restore target " + opt_.target + (ec ? " (" + ec.message() + ")" : ""));
  }
  if (::faccessat(target_fd_.get(), ".", W_OK, AT_EACCESS) != 0) {
    return Status::FromErrno(errno, "restore target " + opt_.target + " is not writable");
  }
  opt_.progress->bytes_total = snapshot.stats.bytes_total;
  // Restoring from a local store is CPU-bound (decompress, verify): one
  // writer per core measured fastest; a network store wants more in flight.
  int n = opt_.threads > 0 ? opt_.threads
                           : std::max(static_cast<int>(std::thread::hardware_concurrency()),
                                      repo_.store()->PreferredConcurrency());
  std::vector<std::thread> workers;
  for (int i = 0; i < n; ++i) workers.emplace_back([this] { Worker(); });
  std::optional<Tree> base;
  if (opt_.base_tree) {
    // An unreadable base only costs speed: everything is compared instead.
    auto t = repo_.LoadTree(*opt_.base_tree);
    if (t.ok()) base = std::move(t).value();
  }
  sources_ = snapshot.paths;
  RestoreDir(target_fd_.get(), root, base ? &*base : nullptr, "/");
  queue_.Close();
  for (auto& t : workers) t.join();
  // After the writers, so that the target's parent is the very last sync.
  SyncDir(target_fd_.get(), "/");
  SyncTargetParent();
  result_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result_;
}

}  // namespace

Result<RestoreResult> RestoreSnapshot(Repository& repo, const Snapshot& snapshot,
                                      const RestoreOptions& options) {
  if (snapshot.block)
    return Status::InvalidArgument(
        "snapshot " + snapshot.ShortId() +
        " is a disk image; restore it to an image file, device or rbd://");
  RestoreRun run(repo, options);
  return run.Run(snapshot);
}

}  // namespace dr
