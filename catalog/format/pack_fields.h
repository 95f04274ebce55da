// Field lists shared by the pack codec and the index segment codec
// (core/codec.h): a pack header entry and an index blob entry are the same
// fields, the index entry with the blob's offset. Internal to catalog/format.
#pragma once

#include "catalog/format/pack.h"
#include "core/codec.h"

namespace dr {

// docs/format/pack.md "Header entry" (25 bytes, without the offset) and
// docs/format/index.md "Blob entry" (29 bytes, with it), with the checks both
// readers make before anyone allocates a blob's lengths: the raw length is at
// most kMaxBlobBytes, and the stored length at most the raw length plus a
// seal (a blob is compressed exactly when its stored form is shorter, zstd
// output that is not shorter is never kept, and an encrypted repository seals
// that form), so neither can ask for more than kMaxBlobBytes + kSealOverhead.
template <class A, codec::Of<PackEntry> E>
void PackEntryFields(A& a, E& e, bool with_offset) {
  a.Enum("blob type", e.type, 0, 1);
  a.IdField("blob id", e.id);
  if (with_offset) a.U32("offset", e.offset);
  a.U32("stored_len", e.stored_len);
  a.U32("raw_len", e.raw_len);
  a.Check(e.raw_len <= kMaxBlobBytes, [&] {
    return "raw_len " + std::to_string(e.raw_len) + " of blob " + e.id.Hex() +
           " is over the limit of " + std::to_string(kMaxBlobBytes);
  });
  a.Check(e.stored_len <= uint64_t{e.raw_len} + kSealOverhead,
          [&] { return "blob " + e.id.Hex() + " stored larger than raw"; });
}

}  // namespace dr
