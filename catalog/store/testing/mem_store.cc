#include "catalog/store/testing/mem_store.h"

namespace dr {

Status MemStore::Put(const std::string& key, std::string_view data) {
  std::lock_guard<std::mutex> l(mu_);
  objects_[key] = std::string(data);
  return Status::OK();
}

Status MemStore::PutIfAbsent(const std::string& key, std::string_view data) {
  std::lock_guard<std::mutex> l(mu_);
  if (!objects_.emplace(key, std::string(data)).second) {
    return Status::AlreadyExists("mem://" + key + ": exists");
  }
  return Status::OK();
}

Result<std::string> MemStore::Get(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return Status::NotFound("mem://" + key + ": no such object");
  return it->second;
}

Result<std::string> MemStore::GetRange(const std::string& key, uint64_t offset, uint64_t length) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return Status::NotFound("mem://" + key + ": no such object");
  if (offset + length > it->second.size()) {
    return Status::Corruption("mem://" + key + ": object is shorter than expected");
  }
  return it->second.substr(offset, length);
}

Result<std::vector<ObjectInfo>> MemStore::List(const std::string& prefix) {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<ObjectInfo> out;
  for (auto it = objects_.lower_bound(prefix); it != objects_.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    out.push_back({it->first, it->second.size()});
  }
  return out;
}

Status MemStore::Delete(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  objects_.erase(key);
  return Status::OK();
}

Result<uint64_t> MemStore::Size(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return Status::NotFound("mem://" + key + ": no such object");
  return static_cast<uint64_t>(it->second.size());
}

std::string* MemStore::Mutable(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = objects_.find(key);
  return it == objects_.end() ? nullptr : &it->second;
}

}  // namespace dr
