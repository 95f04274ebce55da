#include "catalog/store/object_store.h"

#include <cstring>

namespace dr {

// The one out-of-line member of the interface (it also anchors its vtable),
// kept apart from the backends so code that needs only the interface, such as
// a fuzz target over an in-memory store, links without them.
Status ObjectStore::ReadRangeInto(const std::string& key, uint64_t offset, uint64_t length,
                                  char* out) {
  ASSIGN_OR_RETURN(std::string data, GetRange(key, offset, length));
  std::memcpy(out, data.data(), data.size());
  return Status::OK();
}

}  // namespace dr
