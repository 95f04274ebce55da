// Field lists shared by the pack codec and the index segment codec
// (core/codec.h): a pack header entry and an index blob entry are the same
// fields, the index entry with the blob's offset. Internal to catalog/format.
#pragma once

#include "catalog/format/pack.h"
#include "core/codec.h"

namespace dr {

// docs/format/pack.md "Header entry" (25 bytes, without the offset) and
// docs/format/index.md "Blob entry" (29 bytes, with it).
template <class A, codec::Of<PackEntry> E>
void PackEntryFields(A& a, E& e, bool with_offset) {
  a.Enum("blob type", e.type, 0, 1);
  a.IdField("blob id", e.id);
  if (with_offset) a.U32("offset", e.offset);
  a.U32("stored_len", e.stored_len);
  a.U32("raw_len", e.raw_len);
}

}  // namespace dr
