// CompressPool: one worker per core turning raw chunks into stored blobs
// (zstd, raw when compression does not pay) and handing each to a sink.
// The input queue is bounded in bytes, so a fast reader never runs ahead of
// the compressors by more than that.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "catalog/format/blob.h"
#include "core/bounded_queue.h"
#include "core/hash.h"
#include "core/status.h"

namespace dr {

class CompressPool {
 public:
  // Receives each encoded blob; a non-OK return is latched and stops the pool
  // from doing further work (queued items are drained and dropped).
  using Sink =
      std::function<Status(BlobType type, const Id& id, std::string_view stored, uint32_t raw_len)>;

  CompressPool(int threads, int level, size_t queue_bytes, Sink sink);
  ~CompressPool();  // Finish()es

  // Blocks while the queue is full. Returns the latched error, if any.
  Status Push(BlobType type, const Id& id, std::string raw);
  // Processes everything queued, stops the workers; returns the first error.
  // Push after Finish is an error.
  Status Finish();
  Status status() const;

 private:
  struct Job {
    BlobType type;
    Id id;
    std::string raw;
  };
  void Work();
  void Latch(const Status& s);

  const int level_;
  Sink sink_;
  BoundedQueue<Job> queue_;
  std::vector<std::thread> workers_;
  mutable std::mutex mu_;
  Status first_error_;  // GUARDED_BY(mu_)
  bool finished_ = false;
};

}  // namespace dr
