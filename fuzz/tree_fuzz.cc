// DecodeTree: a directory's metadata blob, decoded on every incremental
// backup, browse and restore, and by the vault for an agent's parent. A
// tree that decodes must encode to the same bytes, and Find must find each
// of its entries.
#include "catalog/format/tree.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in = dr::fuzz::AsView(data, size);
  auto tree = dr::DecodeTree(in, "tree");
  if (!tree.ok()) return 0;
  FUZZ_CHECK(dr::EncodeTree(*tree) == in);
  for (const auto& n : tree->nodes) {
    FUZZ_CHECK(tree->Find(n.name) == &n);
    FUZZ_CHECK(std::string(dr::NodeTypeName(n.type)) != "?");
  }
  return 0;
}
