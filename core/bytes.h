// Little-endian encoding helpers for our binary formats (docs/format/).
//
// ByteWriter appends to a std::string. ByteReader reads from a borrowed span
// and never reads past its end: every getter returns false once the input is
// exhausted, so a truncated record is detected rather than over-read. A varint
// is read only in its minimal form of at most 64 bits (docs/format/README.md).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace dr {

// Whether every byte is zero (a hole's worth of data), without a second buffer.
inline bool IsAllZero(std::string_view s) {
  return s.empty() || (s[0] == 0 && std::memcmp(s.data(), s.data() + 1, s.size() - 1) == 0);
}

class ByteWriter {
 public:
  explicit ByteWriter(std::string* out) : out_(out) {}
  void U8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void U16(uint16_t v) { Fixed(v, 2); }
  void U32(uint32_t v) { Fixed(v, 4); }
  void U64(uint64_t v) { Fixed(v, 8); }
  void I64(int64_t v) { Fixed(static_cast<uint64_t>(v), 8); }
  // Unsigned LEB128: small numbers take one byte.
  void Var(uint64_t v) {
    while (v >= 0x80) {
      U8(static_cast<uint8_t>(v | 0x80));
      v >>= 7;
    }
    U8(static_cast<uint8_t>(v));
  }
  void Raw(std::string_view b) { out_->append(b); }
  // Length-prefixed (varint) byte string.
  void Bytes(std::string_view b) {
    Var(b.size());
    Raw(b);
  }

 private:
  void Fixed(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) U8(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::string* out_;
};

class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}
  bool U8(uint8_t* v) { return Fixed(v, 1); }
  bool U16(uint16_t* v) { return Fixed(v, 2); }
  bool U32(uint32_t* v) { return Fixed(v, 4); }
  bool U64(uint64_t* v) { return Fixed(v, 8); }
  bool I64(int64_t* v) {
    uint64_t u;
    if (!Fixed(&u, 8)) return false;
    *v = static_cast<int64_t>(u);
    return true;
  }
  // Unsigned LEB128 in its one valid form: at most 10 bytes, the 10th
  // holding bit 63 only (kOverLong otherwise), and no final zero byte after
  // the first (kNonMinimal: 80 00 is not a way to write 0), so every value
  // has exactly one encoding, the one ByteWriter::Var writes.
  enum class VarResult : uint8_t { kOk, kTruncated, kOverLong, kNonMinimal };
  VarResult ReadVar(uint64_t* v) {
    uint64_t r = 0;
    for (int shift = 0;; shift += 7) {
      uint8_t b;
      if (!U8(&b)) return VarResult::kTruncated;
      if (shift == 63) {
        if (b > 1) return VarResult::kOverLong;  // bits above 63, or an 11th byte
        if (b == 0) return VarResult::kNonMinimal;
        *v = r | uint64_t{1} << 63;
        return VarResult::kOk;
      }
      r |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) {
        if (b == 0 && shift > 0) return VarResult::kNonMinimal;
        *v = r;
        return VarResult::kOk;
      }
    }
  }
  // ReadVar that only says whether a valid varint was read.
  bool Var(uint64_t* v) { return ReadVar(v) == VarResult::kOk; }
  bool Raw(size_t n, std::string_view* out) {
    if (in_.size() - pos_ < n) return false;
    *out = in_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool Bytes(std::string* out) {
    uint64_t n;
    std::string_view v;
    if (!Var(&n) || !Raw(n, &v)) return false;
    out->assign(v);
    return true;
  }
  size_t remaining() const { return in_.size() - pos_; }
  bool done() const { return pos_ == in_.size(); }

 private:
  template <typename T>
  bool Fixed(T* v, int n) {
    if (in_.size() - pos_ < static_cast<size_t>(n)) return false;
    uint64_t r = 0;
    for (int i = 0; i < n; ++i)
      r |= static_cast<uint64_t>(static_cast<uint8_t>(in_[pos_ + i])) << (8 * i);
    pos_ += n;
    *v = static_cast<T>(r);
    return true;
  }
  std::string_view in_;
  size_t pos_ = 0;
};

}  // namespace dr
