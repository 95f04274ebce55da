#include "restore/files/selection.h"

namespace dr {

PathSelection::PathSelection(std::vector<std::string> paths) {
  for (auto& p : paths) {
    if (p.empty() || p[0] != '/') p = "/" + p;
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    if (p == "/") {
      paths_.clear();
      return;
    }
    paths_.push_back(p);
  }
}

bool PathSelection::Selected(const std::string& path) const {
  if (paths_.empty()) return true;
  for (const auto& p : paths_) {
    if (path == p ||
        (path.size() > p.size() && path.compare(0, p.size(), p) == 0 && path[p.size()] == '/')) {
      return true;
    }
  }
  return false;
}

bool PathSelection::OnTheWay(const std::string& path) const {
  for (const auto& p : paths_) {
    if (path == "/" ||
        (p.size() > path.size() && p.compare(0, path.size(), path) == 0 && p[path.size()] == '/')) {
      return true;
    }
  }
  return false;
}

}  // namespace dr
