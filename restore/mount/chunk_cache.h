// ChunkCache: recently read chunks, least recently used out first, bounded
// in bytes (each entry also charged a fixed overhead). A chunk larger than the whole budget is
// handed out but never kept. Safe from several threads; two readers missing the same chunk at once
// may both load it (the second copy replaces the first).
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/hash.h"
#include "core/status.h"

namespace dr {

class ChunkCache {
 public:
  using Chunk = std::shared_ptr<const std::string>;
  using Loader = std::function<Result<std::string>(const Id&)>;

  explicit ChunkCache(uint64_t capacity_bytes) : capacity_(capacity_bytes) {}
  // The chunk `id`, from the cache or from `load` (whose result is kept).
  Result<Chunk> Get(const Id& id, const Loader& load);

  uint64_t bytes() const;
  uint64_t hits() const;
  uint64_t misses() const;

 private:
  struct Slot {
    Chunk chunk;
    std::list<Id>::iterator age;
  };
  void Insert(const Id& id, Chunk chunk);  // REQUIRES: mu_ held

  const uint64_t capacity_;
  mutable std::mutex mu_;
  std::list<Id> lru_;  // front: most recent
  std::unordered_map<Id, Slot, IdHash> slots_;
  uint64_t bytes_ = 0, hits_ = 0, misses_ = 0;
};

}  // namespace dr
