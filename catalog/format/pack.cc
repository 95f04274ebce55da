#include "catalog/format/pack.h"

#include "core/bytes.h"

namespace dr {

namespace {
constexpr std::string_view kPackMagic = "DRPK";
constexpr uint8_t kPackVersion = 1;

}  // namespace

Result<PackTrailer> ParsePackTrailer(std::string_view t, uint64_t pack_size, const std::string& what) {
  if (t.size() != kPackTrailerSize || t.substr(kPackTrailerSize - 4) != kPackMagic) {
    return Status::Corruption(what + ": pack trailer missing (truncated or not a pack)");
  }
  ByteReader r(t);
  PackTrailer tr;
  uint8_t version;
  (void)(r.U32(&tr.count) && r.U64(&tr.checksum) && r.U8(&version));
  if (version != kPackVersion) {
    return Status::InvalidArgument(what + ": unsupported pack version " + std::to_string(version));
  }
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
  ByteReader r(header);
  std::vector<PackEntry> out(tr.count);
  uint64_t offset = 0;
  for (auto& e : out) {
    uint8_t type = 0;
    std::string_view id;
    (void)(r.U8(&type) && r.Raw(16, &id) && r.U32(&e.stored_len) && r.U32(&e.raw_len));
    if (type > 1) return Status::Corruption(what + ": unknown blob type " + std::to_string(type));
    e.type = static_cast<BlobType>(type);
    e.id = Id::FromBytes(id);
    e.offset = static_cast<uint32_t>(offset);
    offset += e.stored_len;
    if (e.stored_len > e.raw_len) {
      return Status::Corruption(what + ": blob " + e.id.Hex() + " stored larger than raw");
    }
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
  ByteWriter h(&header);
  for (const auto& e : entries_) {
    h.U8(static_cast<uint8_t>(e.type));
    h.Raw(e.id.Bytes());
    h.U32(e.stored_len);
    h.U32(e.raw_len);
  }
  std::string out = std::move(data_);
  ByteWriter w(&out);
  w.Raw(header);
  w.U32(static_cast<uint32_t>(entries_.size()));
  w.U64(Checksum64(header));
  w.U8(kPackVersion);
  w.Raw(kPackMagic);
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
