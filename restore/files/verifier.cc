#include "restore/files/verifier.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "catalog/live_node.h"
#include "catalog/tree_walk.h"
#include "core/bounded_queue.h"
#include "core/env/dir.h"
#include "core/env/fd.h"
#include "core/env/file_io.h"
#include "core/env/xattr.h"
#include "restore/files/selection.h"

namespace dr {

namespace {

// Files opened by the walker and waiting for a hashing thread.
constexpr size_t kMaxQueuedFiles = 256;

// A file whose content is still to be compared, opened by the walker.
struct DigestJob {
  UniqueFd fd;
  std::string path;
  Id expected;
  uint64_t seq;  // where its difference sorts among the walker's
};

class VerifyRun {
 public:
  VerifyRun(Repository& repo, const Snapshot& snapshot, const std::string& live_root,
            const std::vector<std::string>& includes, ProgressCounters* p)
      : repo_(repo),
        live_root_(live_root),
        selection_(includes),
        sources_(snapshot.paths),
        progress_(p ? p : &own_) {
    std::error_code ec;
    if (live_root_ != "/")
      live_root_ = std::filesystem::absolute(live_root_, ec).lexically_normal();
    while (live_root_.size() > 1 && live_root_.back() == '/') live_root_.pop_back();
  }

  // Compares the tree with the live directory `dirfd`: the walk here, file
  // contents hashed by one thread per core as it goes.
  void Run(int dirfd, const Tree& tree, bool whole) {
    const int n = std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
    std::vector<std::thread> hashers;
    for (int i = 0; i < n; ++i) hashers.emplace_back([this] { Hasher(); });
    CompareDir(dirfd, tree, "/", whole);
    jobs_.Close();
    for (auto& t : hashers) t.join();
    std::sort(diffs_.begin(), diffs_.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [seq, d] : diffs_) result.differences.push_back(std::move(d));
    result.bytes_checked = bytes_checked_;
  }
  VerifyResult result;

 private:
  void CompareDir(int dirfd, const Tree& tree, const std::string& path, bool whole);
  void CompareNode(int dirfd, const Node& n, const std::string& path);
  void Hasher();
  Result<Id> DigestOf(int fd, const std::string& path, std::string& buf);
  void Diff(const std::string& path, std::string what) {
    DiffAt(next_seq_++, path, std::move(what));
  }
  void DiffAt(uint64_t seq, const std::string& path, std::string what) {
    std::lock_guard l(diffs_mu_);
    diffs_.emplace_back(seq, Difference{path, std::move(what)});
  }

  std::string LivePath(const std::string& path) const {
    return live_root_ == "/" ? path : live_root_ + path;
  }

  Repository& repo_;
  std::string live_root_;
  BoundedQueue<DigestJob> jobs_{kMaxQueuedFiles};
  uint64_t next_seq_ = 0;  // walker only
  std::mutex diffs_mu_;
  std::vector<std::pair<uint64_t, Difference>> diffs_;  // GUARDED_BY(diffs_mu_)
  std::atomic<uint64_t> bytes_checked_{0};
  PathSelection selection_;
  PathSelection sources_;  // the backed-up paths; their ancestors are only context
  // Snapshot hard-link group -> the live (device, inode) of its first member.
  std::unordered_map<uint64_t, std::pair<dev_t, ino_t>> link_groups_;
  ProgressCounters own_;
  ProgressCounters* progress_;
};

void VerifyRun::Hasher() {
  std::string buf(1 << 20, '\0');
  while (auto job = jobs_.Pop()) {
    auto d = DigestOf(job->fd.get(), job->path, buf);
    if (!d.ok()) {
      DiffAt(job->seq, job->path, "unreadable: " + d.status().message());
    } else if (*d != job->expected) {
      DiffAt(job->seq, job->path, "content");
    }
  }
}

Result<Id> VerifyRun::DigestOf(int fd, const std::string& path, std::string& buf) {
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  StreamDigest digest(repo_.hasher());
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "read " + path);
    }
    if (n == 0) break;
    digest.Update(std::string_view(buf.data(), static_cast<size_t>(n)));
    bytes_checked_ += static_cast<uint64_t>(n);
    progress_->bytes_done += static_cast<uint64_t>(n);
  }
  return digest.Finish();
}

void VerifyRun::CompareNode(int dirfd, const Node& n, const std::string& path) {
  struct stat st;
  if (::fstatat(dirfd, n.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    Diff(path, "missing");
    return;
  }
  result.entries_checked++;
  Node live;
  // The live entry's own path (metadata reads may resolve it by name).
  Status s = ReadNodeMeta(dirfd, n.name, st, LivePath(path), &live);
  if (!s.ok()) {
    Diff(path, "unreadable: " + s.message());
    return;
  }
  if (live.type != n.type) {
    Diff(path, std::string("type: ") + NodeTypeName(n.type) + " in snapshot, " +
                   NodeTypeName(live.type) + " here");
    return;
  }
  if (live.mode != n.mode && n.type != NodeType::kSymlink) {
    char buf[64];
    snprintf(buf, sizeof buf, "mode: %04o in snapshot, %04o here", n.mode, live.mode);
    Diff(path, buf);
  }
  if (live.uid != n.uid || live.gid != n.gid) {
    Diff(path, "owner: " + std::to_string(n.uid) + ":" + std::to_string(n.gid) + " in snapshot, " +
                   std::to_string(live.uid) + ":" + std::to_string(live.gid) + " here");
  }
  if (live.mtime_ns != n.mtime_ns && sources_.Selected(path)) Diff(path, "mtime");
  if (live.xattrs != n.xattrs) Diff(path, "extended attributes");
  if (n.hardlink_group && n.type != NodeType::kDir) {
    // Every member of a group is one inode here too.
    const auto [first, fresh] =
        link_groups_.try_emplace(n.hardlink_group, std::make_pair(st.st_dev, st.st_ino));
    if (!fresh && first->second != std::make_pair(st.st_dev, st.st_ino))
      Diff(path, "hard link: not the same file as the other members of its group");
  }
  switch (n.type) {
    case NodeType::kFile: {
      progress_->files++;
      result.files_checked++;
      if (live.size != n.size) {
        Diff(path, "size: " + std::to_string(n.size) + " in snapshot, " +
                       std::to_string(live.size) + " here");
        break;
      }
      UniqueFd fd(::openat(dirfd, n.name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd.valid()) {
        Diff(path, "unreadable: " + Status::FromErrno(errno, "open " + path).message());
        break;
      }
      jobs_.Push(DigestJob{std::move(fd), path, n.digest, next_seq_++}, 1);
      break;
    }
    case NodeType::kSymlink:
      if (live.link_target != n.link_target) Diff(path, "link target");
      break;
    case NodeType::kCharDev:
    case NodeType::kBlockDev:
      if (live.rdev != n.rdev) Diff(path, "device number");
      break;
    case NodeType::kDir: {
      progress_->dirs++;
      auto fd = OpenDirAt(dirfd, n.name, path);
      auto tree = repo_.LoadTree(n.subtree);
      if (!fd.ok()) {
        Diff(path, "unreadable: " + fd.status().message());
      } else if (!tree.ok()) {
        Diff(path, "snapshot tree unreadable: " + tree.status().message());
      } else {
        CompareDir(fd->get(), *tree, path, selection_.Selected(path) && sources_.Selected(path));
      }
      break;
    }
    default:
      break;
  }
}

void VerifyRun::CompareDir(int dirfd, const Tree& tree, const std::string& path, bool whole) {
  std::set<std::string> expected;
  for (const Node& n : tree.nodes) {
    std::string p = JoinPath(path, n.name);
    if (!selection_.Selected(p) && !(n.type == NodeType::kDir && selection_.OnTheWay(p))) continue;
    expected.insert(n.name);
    CompareNode(dirfd, n, p);
  }
  if (!whole) return;  // only part of this directory was asked for
  auto names = ReadDirNames(dirfd, path);
  if (!names.ok()) return;
  for (const auto& name : *names) {
    if (!expected.count(name)) Diff(JoinPath(path, name), "extra (not in snapshot)");
  }
}

}  // namespace

Result<VerifyResult> VerifyAgainst(Repository& repo, const Snapshot& snapshot,
                                   const std::string& live_root,
                                   const std::vector<std::string>& include_paths,
                                   ProgressCounters* progress) {
  if (snapshot.block)
    return Status::InvalidArgument("snapshot " + snapshot.ShortId() +
                                   " is a disk image; verify it against an image file or device");
  auto start = std::chrono::steady_clock::now();
  for (const auto& p : include_paths) {
    RETURN_IF_ERROR(
        FindNode(repo, snapshot.tree, p).status().WithContext("snapshot " + snapshot.ShortId()));
  }
  ASSIGN_OR_RETURN(Tree root, repo.LoadTree(snapshot.tree));
  UniqueFd fd(::open(live_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "open " + live_root);
  VerifyRun run(repo, snapshot, live_root, include_paths, progress);
  // Only the snapshot's own paths are compared at the top: "/" of a snapshot
  // of /home/ann holds just "home", and the live root holds much more.
  run.Run(fd.get(), root, PathSelection(snapshot.paths).everything());
  run.result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run.result;
}

}  // namespace dr
