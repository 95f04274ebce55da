#include "restore/files/target_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "catalog/live_node.h"
#include "core/env/dir.h"
#include "core/env/file_io.h"

namespace dr {

namespace {

// Tries a few temporary names: one is taken only if something else made it.
constexpr int kTempAttempts = 8;

std::string DisplayOf(std::vector<std::string>::const_iterator begin,
                      std::vector<std::string>::const_iterator end) {
  std::string out;
  for (auto it = begin; it != end; ++it) out += "/" + *it;
  return out.empty() ? "/" : out;
}

}  // namespace

Status CreateOrReplace(int dirfd, const std::string& name,
                       const std::function<bool(const std::string&)>& make,
                       const std::string& what) {
  if (make(name)) return Status::OK();
  if (errno != EEXIST) return Status::FromErrno(errno, what);
  // Taken: make the entry beside it and rename it over the name in one step.
  // Unlinking first would leave a moment in which another user could plant a
  // link or symlink that the creation then opened.
  std::string temp;
  for (int attempt = 1;; ++attempt) {
    temp = AtomicWriteTempName();
    if (make(temp)) break;
    if (errno != EEXIST || attempt == kTempAttempts) return Status::FromErrno(errno, what);
  }
  if (::renameat(dirfd, temp.c_str(), dirfd, name.c_str()) != 0) {
    Status s = Status::FromErrno(errno, what);
    ::unlinkat(dirfd, temp.c_str(), 0);
    return s;
  }
  return Status::OK();
}

Result<UniqueFd> OpenForUpdateInPlace(int dirfd, const std::string& name, const Node& node,
                                      uint64_t current_size, const std::string& display) {
  // O_PATH first, to look before opening for writing: opening a FIFO or a
  // device acts on it.
  UniqueFd path_fd(::openat(dirfd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!path_fd.valid()) {
    if (errno == ENOENT) return UniqueFd();
    return Status::FromErrno(errno, "open " + display);
  }
  struct stat st;
  if (::fstat(path_fd.get(), &st) != 0) return Status::FromErrno(errno, "stat " + display);
  if (!S_ISREG(st.st_mode)) return UniqueFd();
  // Reopening through the descriptor gives exactly the inode just looked at.
  UniqueFd fd(::open(ProcFdPath(path_fd.get()).c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) return UniqueFd();  // not writable for us: it is replaced instead
  // Checked on the descriptor that will be written. Links the restore makes
  // to this file itself come later, from the same walk.
  if (::fstat(fd.get(), &st) != 0) return Status::FromErrno(errno, "stat " + display);
  if (st.st_nlink != 1 || static_cast<uint64_t>(st.st_size) != current_size) return UniqueFd();
  // Another owner, or a mode that lets others read, could see the restored
  // bytes in this inode before its metadata is set: such a file is replaced.
  // (Not root, the restore keeps its own ownership, as SetOwner allows.)
  const bool owner_ok = (st.st_uid == node.uid && st.st_gid == node.gid) ||
                        (::geteuid() != 0 && st.st_uid == ::geteuid());
  if (!owner_ok || (st.st_mode & 07777) != node.mode) return UniqueFd();
  return fd;
}

Result<UniqueFd> CreateFileAt(int dirfd, const std::string& name, const std::string& display) {
  UniqueFd fd;
  auto make = [&](const std::string& n) {
    fd.reset(::openat(dirfd, n.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    return fd.valid();
  };
  RETURN_IF_ERROR(CreateOrReplace(dirfd, name, make, "create " + display));
  return fd;
}

Result<UniqueFd> OpenMadeEntry(int dirfd, const std::string& name, NodeType type,
                               const std::string& display) {
  UniqueFd fd(::openat(dirfd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "open " + display);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Status::FromErrno(errno, "stat " + display);
  // A fresh entry has one link; another type or a link count above one means
  // someone put their own entry at this name since it was made.
  if (NodeTypeOf(st.st_mode) != type || st.st_nlink != 1) {
    return Status::IOError(display + ": replaced while being restored; its metadata was not set");
  }
  return fd;
}

FileId FileIdOf(int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return {};
  return {st.st_dev, st.st_ino};
}

Status LinkTo(int root_fd, const LinkSource& source, int dirfd, const std::string& name,
              const std::string& display) {
  const std::string what = "hard link " + display;
  if (source.path.empty()) return Status::InvalidArgument(what + ": no first member");
  const auto last = source.path.end() - 1;
  auto parent =
      OpenDirBelow(root_fd, {source.path.begin(), last}, DisplayOf(source.path.begin(), last));
  if (!parent.ok()) return parent.status().WithContext(what);
  UniqueFd member(::openat(parent->get(), last->c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!member.valid() || !(FileIdOf(member.get()) == source.id)) {
    return Status::IOError(what + ": the first member of its group, " +
                           DisplayOf(source.path.begin(), source.path.end()) +
                           ", was moved or replaced during the restore");
  }
  // Already this inode (renaming a link over itself would do nothing and
  // leave the temporary name behind).
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      FileId{st.st_dev, st.st_ino} == source.id) {
    return Status::OK();
  }
  // Linking the magic link links the descriptor's inode itself, and needs no
  // capability (linkat with AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH).
  const std::string from = ProcFdPath(member.get());
  auto make = [&](const std::string& n) {
    return ::linkat(AT_FDCWD, from.c_str(), dirfd, n.c_str(), AT_SYMLINK_FOLLOW) == 0;
  };
  return CreateOrReplace(dirfd, name, make, what);
}

}  // namespace dr
