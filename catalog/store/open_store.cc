#include <filesystem>

#include "catalog/store/dir_store.h"
#include "catalog/store/object_store.h"
#include "catalog/store/rados_store.h"
#include "catalog/store/retry_store.h"

namespace dr {

Result<std::unique_ptr<ObjectStore>> OpenObjectStore(const std::string& url) {
  if (url.rfind("rados://", 0) == 0) {
    ASSIGN_OR_RETURN(RadosLocation where, ParseRadosUrl(url));
    ASSIGN_OR_RETURN(std::unique_ptr<ObjectStore> store, OpenRadosStore(where));
    return std::unique_ptr<ObjectStore>(new RetryStore(std::move(store)));
  }
  std::string path = url;
  if (url.rfind("dir://", 0) == 0) {
    path = url.substr(6);
  } else if (url.find("://") != std::string::npos) {
    return Status::InvalidArgument("repository " + url +
                                   ": unknown scheme (supported: dir://PATH, a plain path, "
                                   "rados://POOL[/NAMESPACE]?conf=PATH&id=USER)");
  }
  if (path.empty()) return Status::InvalidArgument("repository location is empty");
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(path, ec);
  if (ec) return Status::InvalidArgument("repository " + url + ": " + ec.message());
  return std::unique_ptr<ObjectStore>(new DirStore(abs.lexically_normal().string()));
}

}  // namespace dr
