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
#include "core/env/xattr.h"
#include "restore/files/metadata.h"
#include "restore/files/selection.h"

namespace dr {

namespace {

// Bound on files opened by the walker and waiting for a writer.
constexpr size_t kMaxQueuedFiles = 256;

struct FileJob {
  UniqueFd fd;
  Node node;
  std::string display;
  bool existed = false;  // the target already held a regular file of this size
};

Result<std::string> ReadRange(int fd, uint64_t offset, uint64_t length,
                              const std::string& display) {
  std::string buf(static_cast<size_t>(length), '\0');
  ASSIGN_OR_RETURN(size_t got, PreadFull(fd, buf.data(), buf.size(), offset, display));
  buf.resize(got);
  return buf;
}

class RestoreRun {
 public:
  RestoreRun(Repository& repo, const RestoreOptions& opt)
      : repo_(repo), opt_(opt), selection_(opt.include_paths), queue_(kMaxQueuedFiles) {
    if (!opt_.progress) opt_.progress = &own_progress_;
  }
  Result<RestoreResult> Run(const Snapshot& snapshot);

 private:
  void RestoreDir(int dirfd, const Tree& tree, const std::string& path, const std::string& rel);
  void RestoreNode(int dirfd, const Node& node, const std::string& path, const std::string& rel);
  bool PrepareEntry(int dirfd, const Node& node, const std::string& path);
  void Worker();
  Status WriteFile(FileJob& job);
  void Error(std::string msg);

  Repository& repo_;
  RestoreOptions opt_;
  PathSelection selection_;
  BoundedQueue<FileJob> queue_;
  ProgressCounters own_progress_;
  UniqueFd target_fd_;

  std::mutex mu_;
  RestoreResult result_;  // counters and errors; GUARDED_BY(mu_) for workers
  // First restored path (relative to the target) and content digest of each
  // hard-link group; a member with other content is restored on its own.
  std::unordered_map<uint64_t, std::pair<std::string, Id>> link_first_;
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
  Status first_error;
  for (const Extent& e : n.content) {
    if (e.hole) {
      if (job.existed) {
        // Make sure the old bytes there are zeros (punch, or write if the
        // file system cannot punch holes).
        ASSIGN_OR_RETURN(std::string old, ReadRange(fd, offset, e.length, job.display));
        if (!IsAllZero(old) &&
            ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                        static_cast<off_t>(e.length)) != 0) {
          RETURN_IF_ERROR(PwriteFull(fd, std::string(e.length, '\0'), offset, job.display));
        }
      }
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
    auto data = repo_.LoadBlobView(e.chunk, &buffers);
    if (!data.ok()) {
      if (first_error.ok()) first_error = data.status();
      digest.UpdateZeros(e.length);  // keeps offsets right; the digest will not match
    } else {
      if (data->size() != e.length) {
        return Status::Corruption(job.display + ": chunk " + e.chunk.Hex() +
                                  " has the wrong length");
      }
      RETURN_IF_ERROR(PwriteFull(fd, *data, offset, job.display));
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
  }
  if (!first_error.ok()) {
    return Status::Corruption(job.display + ": not restored exactly: " + first_error.message());
  }
  if (digest.Finish() != n.digest) {
    return Status::Corruption(job.display + ": restored content does not match the file digest");
  }
  RETURN_IF_ERROR(ApplyMetadata(-1, "", fd, n, job.display));
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

// Removes whatever stands at `name` unless it is of the node's kind, so the
// node can be created. Returns false (with an error) when that is not safe.
bool RestoreRun::PrepareEntry(int dirfd, const Node& node, const std::string& path) {
  struct stat st;
  if (::fstatat(dirfd, node.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return true;
  if (NodeTypeOf(st.st_mode) == node.type &&
      (node.type == NodeType::kDir || node.type == NodeType::kFile)) {
    return true;
  }
  if (S_ISDIR(st.st_mode)) {
    Error(path + ": a directory is in the way of the " + NodeTypeName(node.type) +
          " to restore; remove it or restore elsewhere");
    return false;
  }
  if (::unlinkat(dirfd, node.name.c_str(), 0) != 0) {
    Error(Status::FromErrno(errno, "replace " + path).message());
    return false;
  }
  return true;
}

void RestoreRun::RestoreNode(int dirfd, const Node& n, const std::string& path,
                             const std::string& rel) {
  const bool selected = selection_.Selected(path);
  if (!selected && !(n.type == NodeType::kDir && selection_.OnTheWay(path))) return;
  if (!PrepareEntry(dirfd, n, path)) return;
  const char* name = n.name.c_str();
  if (n.hardlink_group && n.type != NodeType::kDir) {
    auto it = link_first_.find(n.hardlink_group);
    if (it != link_first_.end() && it->second.second == n.digest) {
      ::unlinkat(dirfd, name, 0);
      if (::linkat(target_fd_.get(), it->second.first.c_str(), dirfd, name, 0) != 0) {
        Error(Status::FromErrno(errno, "hard link " + path).message());
      } else {
        std::lock_guard l(mu_);
        result_.hardlinks++;
      }
      return;
    }
    if (it == link_first_.end()) link_first_[n.hardlink_group] = {rel, n.digest};
  }
  switch (n.type) {
    case NodeType::kDir: {
      if (::mkdirat(dirfd, name, 0700) != 0 && errno != EEXIST) {
        Error(Status::FromErrno(errno, "create directory " + path).message());
        return;
      }
      auto fd = OpenDirAt(dirfd, n.name, path);
      if (!fd.ok()) {
        Error(fd.status().message());
        return;
      }
      auto tree = repo_.LoadTree(n.subtree);
      if (!tree.ok()) {
        Error(path + ": directory contents lost: " + tree.status().message());
      } else {
        RestoreDir(fd->get(), *tree, path, rel);
      }
      {
        std::lock_guard l(mu_);
        result_.dirs++;
      }
      opt_.progress->dirs++;
      // Children are all created by now (file contents may still be in
      // flight, which does not touch the directory), so its times stick.
      Status s = ApplyMetadata(dirfd, n.name, -1, n, path);
      if (!s.ok()) Error(s.message());
      return;
    }
    case NodeType::kFile: {
      struct stat st;
      bool present = ::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
      bool existed = present && S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) == n.size;
      // A file that cannot be updated in place is replaced by a new inode
      // (never truncated: that would also change every hard link to it, and
      // ext4 flushes truncated-then-rewritten files on close).
      if (present && !existed && ::unlinkat(dirfd, name, 0) != 0) {
        Error(Status::FromErrno(errno, "replace " + path).message());
        return;
      }
      int fd = ::openat(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd < 0) {
        Error(Status::FromErrno(errno, "create " + path).message());
        return;
      }
      {
        std::lock_guard l(mu_);
        result_.bytes_total += n.size;
      }
      queue_.Push(FileJob{UniqueFd(fd), n, path, existed}, 1);
      return;
    }
    case NodeType::kSymlink:
      if (::symlinkat(n.link_target.c_str(), dirfd, name) != 0) {
        Error(Status::FromErrno(errno, "create symlink " + path).message());
        return;
      }
      break;
    case NodeType::kFifo:
      if (::mkfifoat(dirfd, name, 0600) != 0) {
        Error(Status::FromErrno(errno, "create fifo " + path).message());
        return;
      }
      break;
    case NodeType::kCharDev:
    case NodeType::kBlockDev:
      if (::mknodat(dirfd, name, (n.type == NodeType::kCharDev ? S_IFCHR : S_IFBLK) | 0600,
                    static_cast<dev_t>(n.rdev)) != 0) {
        Error(Status::FromErrno(errno, "create device " + path).message());
        return;
      }
      break;
    case NodeType::kSocket:
      return;
  }
  {
    std::lock_guard l(mu_);
    result_.others++;
  }
  Status s = ApplyMetadata(dirfd, n.name, -1, n, path);
  if (!s.ok()) Error(s.message());
}

void RestoreRun::RestoreDir(int dirfd, const Tree& tree, const std::string& path,
                            const std::string& rel) {
  for (const Node& n : tree.nodes) {
    RestoreNode(dirfd, n, JoinPath(path, n.name), rel.empty() ? n.name : rel + "/" + n.name);
  }
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
  RestoreDir(target_fd_.get(), root, "/", "");
  queue_.Close();
  for (auto& t : workers) t.join();
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
