#include "core/env/xattr.h"

#include <sys/xattr.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "core/env/dir.h"

namespace dr {

Result<Xattrs> ReadXattrs(int dirfd, const std::string& name, const std::string& display) {
  Xattrs out;
  // The plain absolute path is much cheaper for the kernel to resolve than
  // the /proc/self/fd magic link (profiled: 40% of an unchanged re-backup);
  // the /proc form is only for paths too long to name directly.
  const std::string p = (!display.empty() && display[0] == '/' && display.size() < PATH_MAX - 1)
                            ? display
                            : ProcFdPath(dirfd, name);
  std::string names;
  for (;;) {
    ssize_t n = ::llistxattr(p.c_str(), nullptr, 0);
    if (n < 0) {
      if (errno == ENOTSUP || errno == ENOSYS) return out;
      return Status::FromErrno(errno, "list extended attributes of " + display);
    }
    names.resize(static_cast<size_t>(n));
    n = ::llistxattr(p.c_str(), names.data(), names.size());
    if (n < 0 && errno == ERANGE) continue;  // grew meanwhile
    if (n < 0) return Status::FromErrno(errno, "list extended attributes of " + display);
    names.resize(static_cast<size_t>(n));
    break;
  }
  for (size_t pos = 0; pos < names.size();) {
    std::string key = names.c_str() + pos;
    pos += key.size() + 1;
    if (key.empty()) continue;
    std::string value;
    for (;;) {
      ssize_t n = ::lgetxattr(p.c_str(), key.c_str(), nullptr, 0);
      if (n < 0 && errno == ENODATA) break;  // removed meanwhile
      if (n < 0)
        return Status::FromErrno(errno, "read extended attribute " + key + " of " + display);
      value.resize(static_cast<size_t>(n));
      n = ::lgetxattr(p.c_str(), key.c_str(), value.data(), value.size());
      if (n < 0 && errno == ERANGE) continue;
      if (n < 0)
        return Status::FromErrno(errno, "read extended attribute " + key + " of " + display);
      value.resize(static_cast<size_t>(n));
      out.emplace_back(key, value);
      break;
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace dr
