#include "catalog/format/metadata_refs.h"

#include "catalog/format/block_map.h"
#include "catalog/format/tree.h"

namespace dr {

Result<std::vector<Id>> MetadataReferences(std::string_view raw, const std::string& what) {
  if (IsBlockMapHead(raw) || IsBlockMapSegment(raw)) return BlockMapReferences(raw, what);
  ASSIGN_OR_RETURN(Tree tree, DecodeTree(raw, what));
  std::vector<Id> refs;
  for (const Node& n : tree.nodes) {
    if (n.type == NodeType::kDir) refs.push_back(n.subtree);
    for (const Extent& e : n.content)
      if (!e.hole) refs.push_back(e.chunk);
  }
  return refs;
}

}  // namespace dr
