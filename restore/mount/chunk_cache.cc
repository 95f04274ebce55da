#include "restore/mount/chunk_cache.h"

namespace dr {

namespace {
// What an entry costs besides its bytes (list node, map slot, shared_ptr
// control block), so many tiny chunks cannot exceed the budget.
constexpr uint64_t kEntryOverhead = 128;
uint64_t Cost(const std::string& chunk) { return chunk.size() + kEntryOverhead; }
}  // namespace

Result<ChunkCache::Chunk> ChunkCache::Get(const Id& id, const Loader& load) {
  {
    std::lock_guard l(mu_);
    auto it = slots_.find(id);
    if (it != slots_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.age);
      hits_++;
      return it->second.chunk;
    }
    misses_++;
  }
  // Loaded without the lock: other readers go on meanwhile.
  ASSIGN_OR_RETURN(std::string raw, load(id));
  auto chunk = std::make_shared<const std::string>(std::move(raw));
  std::lock_guard l(mu_);
  Insert(id, chunk);
  return chunk;
}

void ChunkCache::Insert(const Id& id, Chunk chunk) {
  if (Cost(*chunk) > capacity_) return;
  if (auto it = slots_.find(id); it != slots_.end()) {
    bytes_ -= Cost(*it->second.chunk);
    lru_.erase(it->second.age);
    slots_.erase(it);
  }
  while (bytes_ + Cost(*chunk) > capacity_ && !lru_.empty()) {
    auto victim = slots_.find(lru_.back());
    bytes_ -= Cost(*victim->second.chunk);
    slots_.erase(victim);
    lru_.pop_back();
  }
  lru_.push_front(id);
  bytes_ += Cost(*chunk);
  slots_.emplace(id, Slot{std::move(chunk), lru_.begin()});
}

uint64_t ChunkCache::bytes() const {
  std::lock_guard l(mu_);
  return bytes_;
}
uint64_t ChunkCache::hits() const {
  std::lock_guard l(mu_);
  return hits_;
}
uint64_t ChunkCache::misses() const {
  std::lock_guard l(mu_);
  return misses_;
}

}  // namespace dr
