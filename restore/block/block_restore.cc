#include "restore/block/block_restore.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "core/bytes.h"
#include "core/env/block_source.h"
#include "restore/block/block_target.h"

namespace dr {

Result<BlockRestoreResult> RestoreBlockSnapshot(Repository& repo, const Snapshot& snapshot,
                                                const BlockRestoreOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (!snapshot.block)
    return Status::InvalidArgument("snapshot " + snapshot.ShortId() +
                                   " holds files, not a disk image; restore it to a directory");
  ASSIGN_OR_RETURN(BlockMap map, repo.LoadBlockMap(snapshot.tree));
  // The base's blocks, when they line up with this map's.
  std::vector<BlockRef> base;
  if (options.base_map) {
    auto b = repo.LoadBlockMap(*options.base_map);
    if (b.ok() && b->block_size == map.block_size) base = std::move(b->blocks);
  }
  ASSIGN_OR_RETURN(auto target,
                   OpenBlockTarget(options.target, map.length, options.update_existing_image));
  // A target made just now holds nothing of the base.
  if (target->starts_zeroed()) base.clear();
  ProgressCounters own;
  ProgressCounters* progress = options.progress ? options.progress : &own;
  progress->bytes_total = map.length;

  BlockRestoreResult result;
  result.length = map.length;
  result.blocks = map.blocks.size();
  std::atomic<uint64_t> next{0}, written{0}, bytes{0}, zeros{0}, unchanged{0};
  std::mutex error_mu;
  Status first_error;
  std::atomic<bool> failed{false};
  auto fail = [&](Status s) {
    std::lock_guard l(error_mu);
    if (first_error.ok()) first_error = std::move(s);
    failed = true;
  };
  std::atomic<int64_t> fetch_ns{0}, write_ns{0};
  auto worker = [&] {
    Repository::BlobBuffers buffers;
    for (uint64_t i; !failed && (i = next++) < map.blocks.size();) {
      const BlockRef& b = map.blocks[i];
      const uint64_t offset = i * map.block_size, len = map.BlockLength(i);
      const std::string where =
          "block " + std::to_string(i) + " (offset " + std::to_string(offset) + ")";
      if (i < base.size() && base[i] == b) {
        // What the target holds already. (An id covers the block's length;
        // a zero block past a shorter base's end reads zero after the
        // resize.)
        unchanged++;
      } else if (b.zero) {
        zeros++;
        if (!target->starts_zeroed()) {
          Status s = target->Zero(offset, len);
          if (!s.ok()) return fail(s);
        }
      } else {
        // LoadBlobView checks the block against its id (keyed XXH3-128).
        const auto fetch_start = std::chrono::steady_clock::now();
        auto data = repo.LoadBlobView(b.chunk, &buffers);
        const auto fetched = std::chrono::steady_clock::now();
        fetch_ns += std::chrono::nanoseconds(fetched - fetch_start).count();
        if (!data.ok()) return fail(data.status().WithContext(where));
        if (data->size() != len)
          return fail(Status::Corruption(where + ": chunk " + b.chunk.Hex() + " holds " +
                                         std::to_string(data->size()) + " bytes, expected " +
                                         std::to_string(len)));
        Status s = target->Write(offset, *data);
        write_ns += std::chrono::nanoseconds(std::chrono::steady_clock::now() - fetched).count();
        if (!s.ok()) return fail(s);
        written++;
        bytes += len;
      }
      progress->bytes_done += len;
    }
  };
  const int n = options.threads > 0
                    ? options.threads
                    : std::max<int>({2, static_cast<int>(std::thread::hardware_concurrency()),
                                     repo.store()->PreferredConcurrency()});
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  if (first_error.ok()) first_error = target->Finish();
  if (!first_error.ok()) {
    target->Abandon();
    return first_error.WithContext("restore to " + target->name());
  }
  result.blocks_written = written;
  result.zero_blocks = zeros;
  result.blocks_unchanged = unchanged;
  result.bytes_written = bytes;
  result.fetch_busy_s = static_cast<double>(fetch_ns.load()) / 1e9;
  result.write_busy_s = static_cast<double>(write_ns.load()) / 1e9;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

Result<BlockVerifyResult> VerifyBlockTarget(Repository& repo, const Snapshot& snapshot,
                                            const std::string& path, ProgressCounters* progress) {
  const auto start = std::chrono::steady_clock::now();
  if (!snapshot.block)
    return Status::InvalidArgument("snapshot " + snapshot.ShortId() +
                                   " holds files, not a disk image");
  ASSIGN_OR_RETURN(BlockMap map, repo.LoadBlockMap(snapshot.tree));
  ASSIGN_OR_RETURN(auto src, OpenRestoredBlockTarget(path));
  if (src->length() < map.length)
    return Status::InvalidArgument(path + " holds " + std::to_string(src->length()) +
                                   " bytes, the snapshot " + std::to_string(map.length));
  ProgressCounters own;
  if (!progress) progress = &own;
  progress->bytes_total = map.length;
  BlockVerifyResult r;
  std::unique_ptr<char[]> buf(new char[map.block_size]);
  for (uint64_t i = 0; i < map.blocks.size(); ++i) {
    const uint64_t offset = i * map.block_size, len = map.BlockLength(i);
    const BlockRef& want = map.blocks[i];
    bool same;
    if (src->IsHole(offset, len)) {
      same = want.zero;
    } else {
      RETURN_IF_ERROR(src->ReadAt(offset, buf.get(), len));
      const std::string_view data(buf.get(), len);
      const bool zero = IsAllZero(data);
      same = want.zero ? zero : !zero && repo.hasher().Hash(data) == want.chunk;
    }
    if (!same) {
      if (r.differing.size() < 1000) r.differing.push_back(i);
      r.differing_count++;
    }
    r.blocks++;
    r.bytes += len;
    progress->bytes_done += len;
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace dr
