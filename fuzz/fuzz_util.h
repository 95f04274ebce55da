// Helpers shared by the fuzz targets (fuzz/README.md).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/hash.h"

// A property a decoder must keep (a round trip, a bound); on failure it
// aborts, which libFuzzer reports as a crash and saves the input.
#define FUZZ_CHECK(cond)                                                                  \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)

namespace dr::fuzz {

inline std::string_view AsView(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// The 192-byte secret the seeds' ids are made with (fuzz/make_seeds.cc).
inline std::string FuzzSecret() {
  std::string s(192, '\0');
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>(i * 131 + 7);
  return s;
}
inline const KeyedHasher& FuzzHasher() {
  static const KeyedHasher h(FuzzSecret());
  return h;
}

// The envelope payload of an object-shaped input (magic "DRO1", 16-byte
// header, 8-byte checksum trailer), else the whole input. The targets decode
// it sealed again with a correct length and checksum, so that mutations of
// the payload reach the payload decoder instead of stopping at the checksum.
inline std::string_view EnvelopePayload(std::string_view in) {
  if (in.size() >= 24 && in.substr(0, 4) == "DRO1") return in.substr(16, in.size() - 24);
  return in;
}

// Splits `in` at each `sep` (block map parts).
inline std::vector<std::string_view> Split(std::string_view in, std::string_view sep) {
  std::vector<std::string_view> parts;
  for (;;) {
    const size_t at = in.find(sep);
    if (at == std::string_view::npos) break;
    parts.push_back(in.substr(0, at));
    in.remove_prefix(at + sep.size());
  }
  parts.push_back(in);
  return parts;
}

}  // namespace dr::fuzz
