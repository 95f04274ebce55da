#include "tests/test_util.h"
#include <stdlib.h>
#include <filesystem>
namespace dr::test {
std::string MakeTempDir(const std::string& tag) {
  std::string tmpl = "/tmp/drtest-" + tag + "-XXXXXX";
  char* p = mkdtemp(tmpl.data());
  return p ? std::string(p) : std::string();
}
void RemoveTree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}
}
