// Envelope: the frame around every small repository object (config, index
// segment, snapshot). It carries a magic, the object kind, a format version
// and an XXH3-64 checksum, so that a foreign file, a wrong version, a
// truncation or a flipped bit is reported precisely instead of mis-parsed.
// Byte layout: docs/format/envelope.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace dr {

enum class EnvelopeKind : uint8_t {
  kConfig = 1,
  kIndex = 2,
  kSnapshot = 3,
  kSealedSnapshot = 4,  // an encrypted repository's snapshot (docs/format/keys.md)
};

inline constexpr uint8_t kEnvelopeVersion = 1;

std::string SealEnvelope(EnvelopeKind kind, std::string_view payload);

// Returns the payload. `what` names the object in error messages.
Result<std::string> OpenEnvelope(EnvelopeKind kind, std::string_view object,
                                 const std::string& what);

}  // namespace dr
