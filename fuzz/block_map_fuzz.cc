// Block maps (a block snapshot's head and segments): LoadBlockMap, as a
// block restore reads one, and BlockMapReferences on each part, as the vault
// checks them. Input: the head, then each segment in order, separated by
// "\xff\xfeSEG" (the loader hands them out in the order asked for). A map
// that loads must encode to the same segment bytes and load back equal.
#include <map>

#include "catalog/format/block_map.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = dr::fuzz::Split(dr::fuzz::AsView(data, size), "\xff\xfeSEG");
  for (const auto& p : parts) (void)dr::BlockMapReferences(p, "block map part");

  size_t next = 0;
  auto load = [&](const dr::Id&) -> dr::Result<std::string> {
    if (next >= parts.size()) return dr::Status::NotFound("no such part");
    return std::string(parts[next++]);
  };
  auto map = dr::LoadBlockMap(dr::Id{}, load);
  if (!map.ok()) return 0;
  FUZZ_CHECK(map->blocks.size() == dr::BlockMap::BlockCountFor(map->length, map->block_size));

  const dr::EncodedBlockMap enc = dr::EncodeBlockMap(*map, dr::fuzz::FuzzHasher());
  FUZZ_CHECK(enc.segments.size() + 1 == next);
  for (size_t i = 0; i < enc.segments.size(); ++i)
    FUZZ_CHECK(enc.segments[i].second == parts[i + 1]);
  std::map<dr::Id, std::string> blobs(enc.segments.begin(), enc.segments.end());
  blobs[enc.head_id] = enc.head;
  auto again = dr::LoadBlockMap(enc.head_id, [&](const dr::Id& id) -> dr::Result<std::string> {
    auto it = blobs.find(id);
    if (it == blobs.end()) return dr::Status::NotFound("no such blob");
    return it->second;
  });
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->block_size == map->block_size && again->length == map->length);
  FUZZ_CHECK(again->blocks == map->blocks);
  return 0;
}
