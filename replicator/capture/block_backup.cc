#include "replicator/capture/block_backup.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <unordered_set>

#include "catalog/format/block_map.h"
#include "core/bytes.h"
#include "core/timefmt.h"
#include "replicator/capture/extent_compare.h"
#include "replicator/capture/hooks.h"

namespace dr {
namespace {

namespace fs = std::filesystem;

// The reflink copies kept next to an image: ".NAME.dr-KEY.SNAPSHOTID" for
// the copy a snapshot was read from, ".NAME.dr-KEY.new" while a backup
// runs. KEY comes from the repository's secret, so repositories backing up
// the same image keep separate copies. The snapshot id is in the name, so a
// copy is only ever compared with the snapshot it was read for. A run holds
// ".NAME.dr-KEY.lock" (flock) from before its copy until it kept it, so two
// runs never take each other's copy.
class ShadowCopies {
 public:
  ShadowCopies(const fs::path& image, const KeyedHasher& hasher) {
    std::error_code ec;
    fs::path real = fs::weakly_canonical(image, ec);
    if (ec) real = image;
    dir_ = real.parent_path();
    prefix_ = "." + real.filename().string() + ".dr-" +
              hasher.Hash("block-change-tracking").Hex().substr(0, 12) + ".";
  }
  ~ShadowCopies() {
    if (lock_fd_ >= 0) ::close(lock_fd_);
  }
  ShadowCopies(const ShadowCopies&) = delete;
  ShadowCopies& operator=(const ShadowCopies&) = delete;

  // Unavailable (with the reason) when no lock file can be made here, so no
  // copies can be kept; AlreadyExists when another run holds the lock.
  Status Lock(const std::string& image) {
    const fs::path lock = dir_ / (prefix_ + "lock");
    lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd_ < 0)
      return Status::Unavailable("cannot create " + lock.string() + ": " + std::strerror(errno));
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK)
        return Status::AlreadyExists("another backup of " + image +
                                     " into this repository is running (it holds " + lock.string() +
                                     ")");
      return Status::FromErrno(errno, "lock " + lock.string());
    }
    return Status::OK();
  }
  fs::path Fresh() const { return dir_ / (prefix_ + "new"); }
  fs::path For(const Id& snapshot) const { return dir_ / (prefix_ + snapshot.Hex()); }
  // Keeps the fresh copy as the one for `snapshot`, and drops older ones.
  Status Keep(const Id& snapshot) {
    std::error_code ec;
    fs::rename(Fresh(), For(snapshot), ec);
    if (ec)
      return Status::IOError("keeping the reflink copy " + Fresh().string() + ": " + ec.message());
    std::vector<fs::path> old;
    for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.rfind(prefix_, 0) == 0 && it->path() != For(snapshot) && name != prefix_ + "lock")
        old.push_back(it->path());
    }
    for (const auto& p : old) fs::remove(p, ec);
    return Status::OK();
  }

 private:
  fs::path dir_;
  std::string prefix_;
  int lock_fd_ = -1;
};

class BlockBackupRun {
 public:
  BlockBackupRun(BackupTarget& target, BlockBackupOptions opt)
      : target_(target), opt_(std::move(opt)) {
    if (!opt_.progress) opt_.progress = &own_progress_;
    if (!opt_.open_source) opt_.open_source = OpenBlockSource;
  }

  Result<BackupResult> Run() {
    const auto start = std::chrono::steady_clock::now();
    const int64_t start_ns = NowUnixNs();
    RETURN_IF_ERROR(Validate());
    RETURN_IF_ERROR(target_.Prepare());
    std::optional<Snapshot> parent = FindParent();
    std::optional<BlockMap> parent_map = LoadParentMap(parent);

    // Capture: hooks around the moment the data is fixed.
    struct stat st;
    if (::stat(source_.c_str(), &st) != 0) return Status::FromErrno(errno, "stat " + source_);
    const bool image = S_ISREG(st.st_mode);
    std::optional<ShadowCopies> shadows;
    std::string no_copy_reason;
    if (image) RETURN_IF_ERROR(LockShadows(shadows, &no_copy_reason));
    CaptureHooks hooks(opt_.pre_hook, opt_.post_hook, source_);
    RETURN_IF_ERROR(hooks.Begin());
    ASSIGN_OR_RETURN(std::string read_path, PointInTimeCopy(shadows, &no_copy_reason));
    auto remove_fresh = [&] {
      if (shadows) {
        std::error_code ec;
        fs::remove(shadows->Fresh(), ec);
      }
    };
    // With a point-in-time copy, the source may change again at once.
    if (shadows) {
      if (Status post = hooks.End(); !post.ok()) {
        remove_fresh();
        return post.WithContext("backup aborted, no snapshot written");
      }
    }

    Result<BlockMap> map = Capture(read_path, parent, parent_map, shadows ? &*shadows : nullptr);
    Status post = hooks.End();
    if (!map.ok()) {
      remove_fresh();
      return map.status().WithContext("backup aborted, no snapshot written");
    }
    if (!post.ok()) Warn(post.message());

    info_.source_kind = image ? "image" : "device";
    info_.block_size = opt_.block_size;
    info_.length = map->length;
    info_.blocks = map->blocks.size();
    const char* consistency = !shadows               ? hooks.LiveConsistency()
                              : hooks.has_pre_hook() ? "reflink-copy between pre- and post-hook"
                                                     : "reflink-copy (crash-consistent)";
    if (image && !shadows) Warn("no point-in-time copy: " + no_copy_reason);

    Result<Id> head = StoreMap(*map);
    if (!head.ok()) {
      remove_fresh();
      return head.status().WithContext("backup aborted, no snapshot written");
    }

    stats_.bytes_total = map->length;
    Snapshot snap = NewSnapshot(start_ns, start, opt_.host, warnings_, stats_, target_);
    snap.paths = {source_};
    snap.tags = opt_.tags;
    snap.policy = opt_.policy;
    if (parent_map) snap.parent = parent->id;
    snap.tree = *head;
    snap.block = info_;
    snap.consistency = consistency;
    auto id = target_.Commit(snap);
    if (!id.ok()) {
      remove_fresh();
      return id.status();
    }
    snap.id = *id;
    if (shadows) {
      Status kept = shadows->Keep(*id);
      if (!kept.ok()) Warn(kept.message() + "; the next backup reads every block");
    }
    return BackupResult{std::move(snap), std::move(warnings_)};
  }

 private:
  // Takes the lock on the image's kept copies (one backup per image and
  // repository at a time). Where copies cannot be kept, `shadows` stays
  // empty with the reason; another backup holding the lock aborts this one.
  Status LockShadows(std::optional<ShadowCopies>& shadows, std::string* no_copy_reason) {
    shadows.emplace(source_, target_.hasher());
    Status locked = shadows->Lock(source_);
    if (locked.code() == Code::kUnavailable) {
      *no_copy_reason = locked.message();
      shadows.reset();
      return Status::OK();
    }
    return locked.WithContext("backup aborted, no snapshot written");
  }

  // The image's reflink copy to read from (a point-in-time copy), or the
  // source itself when there is none; `shadows` is reset then, with the
  // reason in `no_copy_reason`. An unexpected copy failure aborts.
  Result<std::string> PointInTimeCopy(std::optional<ShadowCopies>& shadows,
                                      std::string* no_copy_reason) {
    if (!shadows) return source_;
    std::error_code ec;
    fs::remove(shadows->Fresh(), ec);  // left by an interrupted backup (we hold the lock)
    Status copied = ReflinkCopy(source_, shadows->Fresh().string());
    if (copied.ok()) return shadows->Fresh().string();
    *no_copy_reason = copied.message();
    shadows.reset();
    if (copied.code() != Code::kUnavailable)
      return copied.WithContext("backup aborted, no snapshot written");
    return source_;
  }

  // Stores the map's segments and head, then waits until all is durable;
  // returns the head's id.
  Result<Id> StoreMap(const BlockMap& map) {
    EncodedBlockMap encoded = EncodeBlockMap(map, target_.hasher());
    Status stored = Status::OK();
    for (auto& [id, raw] : encoded.segments) {
      auto added = target_.AddMetadata(std::move(raw));
      if (!added.ok()) stored = added.status();
    }
    auto head = target_.AddMetadata(std::move(encoded.head));
    if (!head.ok()) stored = head.status();
    if (stored.ok()) stored = target_.FinishWrites();
    RETURN_IF_ERROR(stored);
    return head;
  }

  Status Validate() {
    if (opt_.source.empty()) return Status::InvalidArgument("no image or device given");
    std::error_code ec;
    source_ = fs::absolute(opt_.source, ec).lexically_normal().string();
    const uint32_t bs = opt_.block_size;
    const uint32_t max = std::min<uint32_t>(kMaxBlockSize, target_.chunker().max_size);
    if (bs < kMinBlockSize || bs > max || (bs & (bs - 1)) != 0)
      return Status::InvalidArgument(
          "block size " + std::to_string(bs) + " must be a power of two from " +
          std::to_string(kMinBlockSize >> 10) + " KiB to " + std::to_string(max >> 10) +
          " KiB (this repository's largest chunk)");
    if (opt_.host.empty()) opt_.host = LocalHostName();
    return Status::OK();
  }

  void Warn(std::string w) { warnings_.push_back(std::move(w)); }

  std::optional<Snapshot> FindParent() {
    if (opt_.parent) {
      auto s = target_.FindSnapshot(*opt_.parent);
      if (s.ok() && s->block) return *s;
      Warn("parent snapshot " + *opt_.parent + ": " +
           (s.ok() ? std::string("not a block snapshot") : s.status().message()));
      return std::nullopt;
    }
    auto all = target_.ListSnapshots();
    if (!all.ok()) return std::nullopt;
    for (auto it = all->rbegin(); it != all->rend(); ++it) {
      if (it->block && it->host == opt_.host && it->paths == std::vector{source_}) return *it;
    }
    return std::nullopt;
  }

  std::optional<BlockMap> LoadParentMap(const std::optional<Snapshot>& parent) {
    if (!parent) return std::nullopt;
    auto map = LoadBlockMap(parent->tree, [&](const Id& id) { return target_.LoadMetadata(id); });
    if (!map.ok()) {
      Warn("parent snapshot " + parent->ShortId() + ": " + map.status().message() +
           "; reading every block");
      return std::nullopt;
    }
    if (map->block_size != opt_.block_size) {
      Warn("parent snapshot " + parent->ShortId() + " uses " +
           std::to_string(map->block_size >> 10) + " KiB blocks, this backup " +
           std::to_string(opt_.block_size >> 10) +
           " KiB; every block is read and compared by content");
      return std::nullopt;
    }
    // Blocks equal to the parent's are not stored again: they must really
    // be there (a vault checks this itself when it commits).
    std::unordered_set<Id, IdHash> unique;
    for (const auto& b : map->blocks)
      if (!b.zero) unique.insert(b.chunk);
    if (!target_.MayReuse({unique.begin(), unique.end()})) {
      Warn("parent snapshot " + parent->ShortId() +
           " references missing chunks; reading every block");
      return std::nullopt;
    }
    return std::move(map).value();
  }

  Result<BlockMap> Capture(const std::string& read_path, const std::optional<Snapshot>& parent,
                           const std::optional<BlockMap>& parent_map, ShadowCopies* shadows) {
    ASSIGN_OR_RETURN(auto src, opt_.open_source(read_path, source_));
    BlockMap map{opt_.block_size, src->length(), {}};
    const uint64_t count = BlockMap::BlockCountFor(map.length, map.block_size);
    map.blocks.resize(count);
    if (parent_map && parent_map->length != map.length) {
      Warn("size changed from " + std::to_string(parent_map->length) + " to " +
           std::to_string(map.length) + " bytes since snapshot " + parent->ShortId());
    }

    std::vector<bool> unchanged;
    info_.method = "read-all";
    if (shadows && parent_map && !opt_.read_all) {
      const fs::path old_copy = shadows->For(parent->id);
      std::error_code ec;
      if (fs::exists(old_copy, ec)) {
        auto u = UnchangedBlocks(old_copy.string(), read_path, map.block_size, map.length);
        if (u.ok()) {
          unchanged = std::move(u).value();
          info_.method = "extent-compare";
        } else {
          Warn("extent comparison failed (" + u.status().message() + "); reading every block");
        }
      }
    }

    opt_.progress->bytes_total = map.length;
    std::unique_ptr<char[]> buf(new char[map.block_size]);
    // The parent's entry for block i, when the block has the same length.
    auto before_of = [&](uint64_t i) -> const BlockRef* {
      if (parent_map && i < parent_map->blocks.size() &&
          parent_map->BlockLength(i) == map.BlockLength(i))
        return &parent_map->blocks[i];
      return nullptr;
    };
    auto known_unchanged = [&](uint64_t i) {
      return i < unchanged.size() && unchanged[i] && before_of(i);
    };
    // After an extent comparison the blocks to read are scattered: ask the
    // kernel for the next ones ahead of time, so the reads overlap.
    constexpr uint64_t kPrefetchBlocks = 16;
    uint64_t prefetched = 0, ahead = 0;
    for (uint64_t i = 0; i < count; ++i) {
      const uint64_t offset = i * map.block_size;
      const uint64_t len = map.BlockLength(i);
      const BlockRef* before = before_of(i);
      const bool skip = known_unchanged(i);
      BlockRef& ref = map.blocks[i];
      if (!unchanged.empty()) {
        for (prefetched = std::max(prefetched, i); prefetched < count && ahead < kPrefetchBlocks;
             ++prefetched) {
          if (known_unchanged(prefetched)) continue;
          src->Prefetch(prefetched * map.block_size, map.BlockLength(prefetched));
          ++ahead;
        }
        if (!skip && ahead > 0) --ahead;
      }
      if (skip) {
        ref = *before;
        info_.blocks_not_read++;
      } else if (src->IsHole(offset, len)) {
        info_.blocks_not_read++;
      } else {
        RETURN_IF_ERROR(src->ReadAt(offset, buf.get(), len));
        stats_.bytes_read += len;
        std::string_view data(buf.get(), len);
        if (!IsAllZero(data)) {
          ref.zero = false;
          ref.chunk = target_.hasher().Hash(data);
          // Offered even when equal to the parent's entry: the target
          // stores it again only if it lacks it (a chunk lost from a
          // vault is healed by the next read of its block).
          RETURN_IF_ERROR(target_.AddChunk(ref.chunk, data));
        }
      }
      if (ref.zero) info_.zero_blocks++;
      if (!before || *before != ref) {
        if (!ref.zero || before) info_.changed_blocks++;
      }
      opt_.progress->bytes_done += len;
    }
    ASSIGN_OR_RETURN(uint64_t now, src->CurrentLength());
    if (now != map.length)
      return Status::IOError(source_ + " changed size during the backup (" +
                             std::to_string(map.length) + " -> " + std::to_string(now) + " bytes)");
    return map;
  }

  BackupTarget& target_;
  BlockBackupOptions opt_;
  ProgressCounters own_progress_;
  std::string source_;
  BlockInfo info_;
  SnapshotStats stats_;
  std::vector<std::string> warnings_;
};

}  // namespace

Result<BackupResult> RunBlockBackup(BackupTarget& target, const BlockBackupOptions& options) {
  BlockBackupRun run(target, options);
  return run.Run();
}

}  // namespace dr
