#include "catalog/format/pack.h"

#include <utility>

#include "catalog/format/pack_fields.h"
#include "core/codec.h"

namespace dr {

namespace {
constexpr std::string_view kPackMagic = "DRPK";
constexpr uint8_t kPackVersion = 1;

// docs/format/pack.md: the trailer, and the header's entries (their count is
// in the trailer; offsets are implied by the order).
template <class A, codec::Of<PackTrailer> T>
void TrailerFields(A& a, T& t) {
  a.U32("blob count", t.count);
  a.U64("header checksum", t.checksum);
  a.Version("pack version", kPackVersion);
  a.Magic("pack trailer", kPackMagic);
}

template <class A, class Entries>
void HeaderFields(A& a, Entries& entries) {
  for (auto& e : entries) PackEntryFields(a, e, /*with_offset=*/false);
}

}  // namespace

Result<PackTrailer> ParsePackTrailer(std::string_view t, uint64_t pack_size,
                                     const std::string& what) {
  if (t.size() != kPackTrailerSize || t.substr(kPackTrailerSize - 4) != kPackMagic) {
    return Status::Corruption(what + ": pack trailer missing (truncated or not a pack)");
  }
  PackTrailer tr;
  codec::Reader r(t, Code::kCorruption);
  TrailerFields(r, tr);
  RETURN_IF_ERROR(r.status(what));
  if (static_cast<uint64_t>(tr.count) * kPackEntrySize + kPackTrailerSize > pack_size) {
    return Status::Corruption(what + ": pack header claims " + std::to_string(tr.count) +
                              " blobs, more than the pack can hold");
  }
  tr.header_len = static_cast<uint64_t>(tr.count) * kPackEntrySize;
  tr.header_offset = pack_size - kPackTrailerSize - tr.header_len;
  return tr;
}

Result<std::vector<PackEntry>> ParsePackHeader(std::string_view header, const PackTrailer& tr,
                                               const std::string& what) {
  const uint64_t data_size = tr.header_offset;
  if (Checksum64(header) != tr.checksum) {
    return Status::Corruption(what + ": pack header checksum mismatch");
  }
  std::vector<PackEntry> out(tr.count);
  codec::Reader r(header, Code::kCorruption);
  HeaderFields(r, out);
  r.Finish();
  RETURN_IF_ERROR(r.status(what));
  uint64_t offset = 0;
  for (auto& e : out) {
    e.offset = static_cast<uint32_t>(offset);
    offset += e.stored_len;
  }
  if (offset != data_size) {
    return Status::Corruption(what + ": pack header lists " + std::to_string(offset) +
                              " bytes of blobs, pack holds " + std::to_string(data_size));
  }
  return out;
}

std::string PackKey(const Id& pack_id) {
  std::string hex = pack_id.Hex();
  return "data/" + hex.substr(0, 2) + "/" + hex;
}

bool PackIdFromKey(std::string_view key, Id* out) {
  if (key.size() != 5 + 3 + 32 || key.substr(0, 5) != "data/") return false;
  return Id::FromHex(key.substr(8), out) && key.substr(5, 2) == key.substr(8, 2);
}

void PackBuilder::Add(BlobType type, const Id& id, std::string_view stored, uint32_t raw_len) {
  entries_.push_back({type, id, static_cast<uint32_t>(data_.size()),
                      static_cast<uint32_t>(stored.size()), raw_len});
  data_.append(stored);
}

std::string PackBuilder::Finish() {
  std::string header;
  codec::UncheckedWriter h(&header);
  HeaderFields(h, std::as_const(entries_));
  const PackTrailer trailer{static_cast<uint32_t>(entries_.size()), Checksum64(header), 0, 0};
  std::string out = std::move(data_);
  out.append(header);
  codec::UncheckedWriter w(&out);
  TrailerFields(w, trailer);
  data_.clear();
  entries_.clear();
  return out;
}

Result<std::vector<PackEntry>> ParsePack(std::string_view pack, const std::string& what) {
  if (pack.size() < kPackTrailerSize) {
    return Status::Corruption(what + ": pack is too short (" + std::to_string(pack.size()) +
                              " bytes)");
  }
  ASSIGN_OR_RETURN(PackTrailer tr, ParsePackTrailer(pack.substr(pack.size() - kPackTrailerSize),
                                                    pack.size(), what));
  return ParsePackHeader(pack.substr(tr.header_offset, tr.header_len), tr, what);
}

}  // namespace dr
