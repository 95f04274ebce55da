// Blobs: what a pack holds. A blob is a chunk of file data or an encoded tree,
// stored zstd-compressed, or raw when compression does not pay (so a blob is
// compressed exactly when its stored length is below its raw length).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/hash.h"
#include "core/status.h"

namespace dr {

enum class BlobType : uint8_t { kData = 0, kTree = 1 };

// Compresses `raw` at zstd `level` (0 = never). Returns raw bytes unchanged
// when the compressed form would not be smaller.
std::string EncodeBlob(std::string_view raw, int level);

// Inverse of EncodeBlob; checks the result has `raw_len` bytes and hashes to
// `id` under `hasher`. `what` names the blob's place for error messages.
Result<std::string> DecodeBlob(std::string_view stored, uint32_t raw_len, const Id& id,
                               const KeyedHasher& hasher, const std::string& what);

}  // namespace dr
