// A blocking multi-producer multi-consumer queue bounded by a cost (bytes),
// so memory stays flat whatever the speed difference between stages.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>

namespace dr {

template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : capacity_(capacity) {}

  // Blocks while the queue is over capacity. An item costlier than the whole
  // capacity is still admitted when the queue is empty.
  void Push(T item, size_t cost) {
    std::unique_lock l(mu_);
    not_full_.wait(l, [&] { return used_ == 0 || used_ + cost <= capacity_; });
    used_ += cost;
    items_.emplace_back(std::move(item), cost);
    not_empty_.notify_one();
  }
  // Blocks until an item is available; nullopt once Close()d and drained.
  std::optional<T> Pop() {
    std::unique_lock l(mu_);
    not_empty_.wait(l, [&] { return closed_ || !items_.empty(); });
    if (items_.empty()) return std::nullopt;
    auto [item, cost] = std::move(items_.front());
    items_.pop_front();
    used_ -= cost;
    not_full_.notify_all();
    return std::move(item);
  }
  void Close() {
    std::lock_guard l(mu_);
    closed_ = true;
    not_empty_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable not_full_, not_empty_;
  std::deque<std::pair<T, size_t>> items_;  // GUARDED_BY(mu_)
  size_t capacity_;
  size_t used_ = 0;      // GUARDED_BY(mu_)
  bool closed_ = false;  // GUARDED_BY(mu_)
};

}  // namespace dr
