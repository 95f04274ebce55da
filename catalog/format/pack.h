// Packs: about 16 MiB objects "data/<2 hex>/<32 hex>" holding blobs back to
// back, then a header that lists them, then a fixed trailer. Because every
// pack describes itself, the index can always be rebuilt from packs alone.
// Byte layout: docs/format/pack.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/format/blob.h"
#include "core/hash.h"
#include "core/huge_pages.h"
#include "core/status.h"

namespace dr {

struct PackEntry {
  BlobType type = BlobType::kData;
  Id id;
  uint32_t offset = 0;  // from the start of the pack
  uint32_t stored_len = 0;
  uint32_t raw_len = 0;
};

inline constexpr size_t kPackTrailerSize = 4 + 8 + 1 + 4;
inline constexpr size_t kPackEntrySize = 1 + 16 + 4 + 4;

std::string PackKey(const Id& pack_id);
// Parses "data/xx/<hex>" back to the pack id; false for other keys.
bool PackIdFromKey(std::string_view key, Id* out);

// Accumulates blobs into one pack. Not thread-safe.
class PackBuilder {
 public:
  // Reserves room for a pack of about `expected` bytes up front, so the
  // buffer does not double past it while filling.
  void Reserve(size_t expected) { ReserveLarge(data_, expected); }
  void Add(BlobType type, const Id& id, std::string_view stored, uint32_t raw_len);
  size_t size() const { return data_.size(); }
  bool empty() const { return entries_.empty(); }
  const std::vector<PackEntry>& entries() const { return entries_; }
  // Appends header and trailer and returns the finished pack bytes; the
  // builder is left empty.
  std::string Finish();

 private:
  std::string data_;
  std::vector<PackEntry> entries_;
};

// Parses the header of a whole pack held in memory.
Result<std::vector<PackEntry>> ParsePack(std::string_view pack, const std::string& what);

// The trailer of a pack of `pack_size` bytes, and where its header lies; a
// reader of a stored pack fetches the trailer, then just the header
// (catalog/pack_reader.h), never the blobs.
struct PackTrailer {
  uint32_t count = 0;
  uint64_t checksum = 0;
  uint64_t header_offset = 0;  // also the bytes of blob data before it
  uint64_t header_len = 0;
};
Result<PackTrailer> ParsePackTrailer(std::string_view trailer, uint64_t pack_size,
                                     const std::string& what);
Result<std::vector<PackEntry>> ParsePackHeader(std::string_view header, const PackTrailer& trailer,
                                               const std::string& what);

}  // namespace dr
