#include "catalog/pack_reader.h"

namespace dr {

Result<std::vector<PackEntry>> ReadPackHeader(ObjectStore* store, const std::string& key) {
  const std::string what = store->Url() + "/" + key;
  ASSIGN_OR_RETURN(uint64_t size, store->Size(key));
  if (size < kPackTrailerSize) {
    return Status::Corruption(what + ": pack is too short (" + std::to_string(size) + " bytes)");
  }
  ASSIGN_OR_RETURN(std::string t, store->GetRange(key, size - kPackTrailerSize, kPackTrailerSize));
  ASSIGN_OR_RETURN(PackTrailer tr, ParsePackTrailer(t, size, what));
  ASSIGN_OR_RETURN(std::string header, store->GetRange(key, tr.header_offset, tr.header_len));
  return ParsePackHeader(header, tr, what);
}

}  // namespace dr
