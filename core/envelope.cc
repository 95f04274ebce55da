#include "core/envelope.h"

#include "core/bytes.h"
#include "core/hash.h"

namespace dr {

namespace {
constexpr std::string_view kMagic = "DRO1";
constexpr size_t kHeaderSize = 4 + 1 + 1 + 2 + 8;
constexpr size_t kTrailerSize = 8;
}  // namespace

std::string SealEnvelope(EnvelopeKind kind, std::string_view payload) {
  std::string out;
  out.reserve(kHeaderSize + payload.size() + kTrailerSize);
  ByteWriter w(&out);
  w.Raw(kMagic);
  w.U8(static_cast<uint8_t>(kind));
  w.U8(kEnvelopeVersion);
  w.U16(0);
  w.U64(payload.size());
  w.Raw(payload);
  w.U64(Checksum64(out));
  return out;
}

Result<std::string> OpenEnvelope(EnvelopeKind kind, std::string_view object,
                                 const std::string& what) {
  if (object.size() < kHeaderSize + kTrailerSize || object.substr(0, 4) != kMagic) {
    return Status::Corruption(what + ": not a repository object (bad magic or too short)");
  }
  ByteReader r(object.substr(4));
  uint8_t k, version;
  uint16_t reserved;
  uint64_t len;
  (void)(r.U8(&k) && r.U8(&version) && r.U16(&reserved) && r.U64(&len));
  if (len != object.size() - kHeaderSize - kTrailerSize) {
    return Status::Corruption(what + ": truncated or extended (length " +
                              std::to_string(object.size()) + ", header says payload " +
                              std::to_string(len) + ")");
  }
  ByteReader tail(object.substr(object.size() - kTrailerSize));
  uint64_t want;
  (void)tail.U64(&want);
  if (Checksum64(object.substr(0, object.size() - kTrailerSize)) != want) {
    return Status::Corruption(what + ": checksum mismatch");
  }
  if (k != static_cast<uint8_t>(kind)) {
    return Status::Corruption(what + ": wrong object kind " + std::to_string(k));
  }
  if (version != kEnvelopeVersion) {
    return Status::InvalidArgument(what + ": unsupported format version " +
                                   std::to_string(version) + " (this program reads " +
                                   std::to_string(kEnvelopeVersion) + ")");
  }
  return std::string(object.substr(kHeaderSize, len));
}

}  // namespace dr
