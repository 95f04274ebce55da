#include "replicator/capture/compress_pool.h"

#include <algorithm>

namespace dr {

CompressPool::CompressPool(int threads, int level, size_t queue_bytes, Sink sink)
    : level_(level), sink_(std::move(sink)), queue_(queue_bytes) {
  if (threads <= 0) threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
}

CompressPool::~CompressPool() { (void)Finish(); }

Status CompressPool::status() const {
  std::lock_guard l(mu_);
  return first_error_;
}

void CompressPool::Latch(const Status& s) {
  std::lock_guard l(mu_);
  if (first_error_.ok()) first_error_ = s;
}

Status CompressPool::Push(BlobType type, const Id& id, std::string raw) {
  RETURN_IF_ERROR(status());
  if (finished_) return Status::InvalidArgument("compression pool already finished");
  const size_t cost = raw.size();
  queue_.Push(Job{type, id, std::move(raw)}, cost);
  return Status::OK();
}

void CompressPool::Work() {
  BlobScratch scratch;
  while (auto job = queue_.Pop()) {
    if (!status().ok()) continue;  // drain so producers never block forever
    std::string_view stored = EncodeBlobInto(job->raw, level_, &scratch);
    Status s = sink_(job->type, job->id, stored, static_cast<uint32_t>(job->raw.size()));
    if (!s.ok()) Latch(s);
  }
}

Status CompressPool::Finish() {
  if (!finished_) {
    finished_ = true;
    queue_.Close();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }
  return status();
}

}  // namespace dr
