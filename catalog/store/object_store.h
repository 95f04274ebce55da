// ObjectStore: the narrow interface every repository backend implements.
//
// Keys are '/'-separated ASCII paths such as "config", "index/<hex>",
// "data/ab/<hex>", "snapshots/<hex>". Objects are immutable once written by the
// repository layer (content-addressed), except "config" at init.
//
// Contract shared by all backends (checked by StoreConformance in
// catalog/store/object_store_test.cc):
//  - Put is atomic: after any crash the object is either whole or absent.
//  - Put returns OK only after the data is durable (fsync / Ceph ack).
//  - Get of a missing key returns NotFound; errors name the store and the key.
//  - List returns every key that starts with `prefix`, in no particular order.
//  - All methods are safe to call from several threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace dr {

struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  virtual Status Put(const std::string& key, std::string_view data) = 0;
  // Like Put, but atomically fails with AlreadyExists when `key` exists
  // (two concurrent callers: exactly one succeeds).
  virtual Status PutIfAbsent(const std::string& key, std::string_view data) = 0;
  virtual Result<std::string> Get(const std::string& key) = 0;
  // Reads [offset, offset+length). Reading past the end is Corruption
  // (callers only ask for ranges an index or header promised).
  virtual Result<std::string> GetRange(const std::string& key, uint64_t offset,
                                       uint64_t length) = 0;
  // GetRange into `out` (which has room for `length` bytes), for hot paths
  // that reuse buffers. The default goes through GetRange.
  virtual Status ReadRangeInto(const std::string& key, uint64_t offset, uint64_t length, char* out);
  virtual Result<std::vector<ObjectInfo>> List(const std::string& prefix) = 0;
  // Deleting a missing key is OK (idempotent).
  virtual Status Delete(const std::string& key) = 0;
  virtual Result<uint64_t> Size(const std::string& key) = 0;
  // The URL this store was opened with, for messages: "dir:///srv/repo".
  virtual std::string Url() const = 0;
  // Removes debris an interrupted Put may leave (temporary files) that is
  // older than `min_age`, so it cannot belong to a Put still running.
  // Returns how many were removed. Stores whose Put leaves nothing: 0.
  virtual Result<int> RemoveLeftovers(std::chrono::seconds min_age) { return 0; }
  // How many large operations (pack writes, restore reads) are worth keeping
  // in flight at once: a local disk gains nothing past the cores, a network
  // store hides latency with more.
  virtual int PreferredConcurrency() const { return 2; }
  // The largest object one Put can write (a RADOS cluster refuses writes
  // over osd_max_write_size); packs must stay below it.
  virtual uint64_t MaxObjectBytes() const { return UINT64_MAX; }
};

// Opens a store from a URL: "dir:///path", or a plain path (same as dir://),
// or "rados://POOL[/NAMESPACE]?conf=PATH&id=USER" (see rados_store.h).
// The directory need not exist yet (init creates it).
Result<std::unique_ptr<ObjectStore>> OpenObjectStore(const std::string& url);

}  // namespace dr
