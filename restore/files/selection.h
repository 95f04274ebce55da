// Which parts of a snapshot an operation covers: everything, or the given
// absolute paths (each with everything below it).
#pragma once

#include <string>
#include <vector>

namespace dr {

class PathSelection {
 public:
  // Paths are normalised ("/a/b/" -> "/a/b"); empty = everything.
  explicit PathSelection(std::vector<std::string> paths);
  bool everything() const { return paths_.empty(); }
  // `path` itself and all below it are wanted.
  bool Selected(const std::string& path) const;
  // `path` is a directory above a wanted path: create it, then look inside.
  bool OnTheWay(const std::string& path) const;
  const std::vector<std::string>& paths() const { return paths_; }

 private:
  std::vector<std::string> paths_;
};

}  // namespace dr
