#include "replicator/vault/object_keys.h"

#include "catalog/repo_keys.h"
#include "catalog/retention_lock.h"
#include "catalog/snapshot_summary.h"

namespace dr {

bool IsValidKey(const std::string& key, bool prefix) {
  if (key.empty()) return prefix;
  if (key.front() == '/' || key.find("//") != std::string::npos) return false;
  for (char c : key) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' || c == '-' ||
              c == '_' || c == '.';
    if (!ok) return false;
  }
  for (size_t pos = 0; pos <= key.size();) {
    size_t end = key.find('/', pos);
    if (end == std::string::npos) end = key.size();
    std::string part = key.substr(pos, end - pos);
    if (part == "." || part == ".." || (part.empty() && end != key.size()) ||
        (!part.empty() && part[0] == '.'))
      return false;
    pos = end + 1;
  }
  return true;
}

bool IsReplicableKey(const std::string& key) {
  return key == "config" || key.rfind("data/", 0) == 0 || key.rfind("index/", 0) == 0 ||
         key.rfind("snapshots/", 0) == 0 || key.rfind(kRetentionLockPrefix, 0) == 0 ||
         key.rfind(kSlotPrefix, 0) == 0 || key.rfind(kKeyringPrefix, 0) == 0 ||
         key.rfind(kSummaryPrefix, 0) == 0;
}

}  // namespace dr
