// Blobs: what a pack holds. A blob is a chunk of file data or an encoded tree,
// stored zstd-compressed, or raw when compression does not pay (so a blob is
// compressed exactly when its stored length is below its raw length).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/hash.h"
#include "core/status.h"

namespace dr {

enum class BlobType : uint8_t { kData = 0, kTree = 1 };

// The largest raw blob, in bytes (docs/format/pack.md "Limits"): a chunk is at
// most the chunker maximum (ChunkerParams::Validate: 64 MiB), a block at most
// kMaxBlockSize (16 MiB), and a metadata blob (a tree or a block map part) at
// most this (what a vault accepts from an agent, and what Repository refuses
// to write beyond). Readers refuse larger raw lengths before they allocate.
inline constexpr uint32_t kMaxBlobBytes = 64u << 20;
// Bytes a sealed blob (an encrypted repository's, docs/format/keys.md) has
// beyond its stored form: the data key's number (u32), a 24-byte nonce and a
// 16-byte tag. Pack headers and index entries allow a stored length of up to
// the raw length plus this; DecodeBlob still refuses an unsealed stored form
// longer than its raw length.
inline constexpr uint32_t kSealOverhead = 4 + 24 + 16;

// Reusable output space for EncodeBlobInto (not zero-filled: cheaper than a
// std::string for megabyte chunks).
struct BlobScratch {
  std::unique_ptr<char[]> data;
  size_t capacity = 0;
};

// Compresses `raw` at zstd `level` (0 = never) into `scratch`. Returns a view
// of the stored form: the compressed bytes, or `raw` itself when compression
// would not make it smaller. The view lives until the next call with `scratch`.
std::string_view EncodeBlobInto(std::string_view raw, int level, BlobScratch* scratch);
// Same, returning a copy.
std::string EncodeBlob(std::string_view raw, int level);

// Ensures `scratch` holds at least `n` bytes and returns its start.
char* ScratchSpace(BlobScratch* scratch, size_t n);

// Inverse of EncodeBlobInto: decodes into `scratch` (or returns `stored`
// itself when it is raw) and verifies length and id, as DecodeBlob does.
Result<std::string_view> DecodeBlobInto(std::string_view stored, uint32_t raw_len, const Id& id,
                                        const KeyedHasher& hasher, const std::string& what,
                                        BlobScratch* scratch);

// Inverse of EncodeBlob; checks the result has `raw_len` bytes and hashes to
// `id` under `hasher`. `what` names the blob's place for error messages.
// Refuses, before allocating, a `raw_len` over kMaxBlobBytes or a stored form
// longer than `raw_len`.
Result<std::string> DecodeBlob(std::string_view stored, uint32_t raw_len, const Id& id,
                               const KeyedHasher& hasher, const std::string& what);

}  // namespace dr
