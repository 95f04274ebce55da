// MetadataReferences: what the vault runs on every metadata blob an agent
// sends (a tree, a block map head or segment) before it commits a snapshot.
// For a tree it must agree with DecodeTree.
#include "catalog/format/block_map.h"
#include "catalog/format/metadata_refs.h"
#include "catalog/format/tree.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in = dr::fuzz::AsView(data, size);
  auto refs = dr::MetadataReferences(in, "metadata blob");
  if (dr::IsBlockMapHead(in) || dr::IsBlockMapSegment(in)) {
    auto again = dr::BlockMapReferences(in, "metadata blob");
    FUZZ_CHECK(again.ok() == refs.ok());
    return 0;
  }
  auto tree = dr::DecodeTree(in, "metadata blob");
  FUZZ_CHECK(tree.ok() == refs.ok());
  if (!refs.ok()) return 0;
  size_t n = 0;
  for (const auto& node : tree->nodes) {
    if (node.type == dr::NodeType::kDir) ++n;
    for (const auto& e : node.content) n += e.hole ? 0 : 1;
  }
  FUZZ_CHECK(refs->size() == n);
  return 0;
}
