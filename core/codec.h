// One field list per binary layout, applied by an encoding and a decoding
// archive, so that a layout (and its limits and checks) is written exactly
// once instead of once in an encoder and again in a decoder.
//
// A field list is a function template over the archive and the object, the
// object const when writing:
//
//   template <class A, codec::Of<Hello> M>
//   void Fields(A& a, M& m) {
//     a.Bytes("agent", m.agent, kMaxTextBytes);
//     a.Var("resume_session", m.resume_session);
//     a.Check(m.agent != "root", "agent may not be root");
//   }
//
//   codec::Writer w(&out);                          Fields(w, hello);
//   codec::Reader r(bytes, Code::kInvalidArgument); Fields(r, hello);
//   r.Finish();                                     // no trailing bytes
//   RETURN_IF_ERROR(r.status("hello message"));
//
// Writer appends with core/bytes.h. A field over its limit, or a failed
// Check, is recorded (the first one, naming the field) while the bytes are
// still written; the caller decides whether that refuses the encoding.
// UncheckedWriter skips limits and Checks (encoders that cannot fail).
// Reader never reads past its input: the first truncated field, limit or
// failed Check stops it (later fields are no-ops) and is kept as the error,
// with the path through sequences ("entry 3: xattr 1: truncated xattr value").
// It reads varints only in their minimal form (core/bytes.h), and a sequence
// grows as its elements decode, so a count alone never allocates much.
// Everything is inline templates: no virtual call or std::function per field,
// so a field list costs what hand-written code costs (trees are decoded on
// every incremental backup).
#pragma once

#include <concepts>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "core/bytes.h"
#include "core/hash.h"
#include "core/status.h"

namespace dr::codec {

// Field functions are forced inline, so a field list compiles to the code a
// hand-written encoder or decoder would be (their failure paths are cold and
// out of line).
#define DR_CODEC_INLINE [[gnu::always_inline]] inline

// `M` is `T` or `const T`: a field list takes the object to decode into or
// the object to encode from.
template <class M, class T>
concept Of = std::same_as<std::remove_const_t<M>, T>;

inline constexpr uint64_t kNoLimit = std::numeric_limits<uint64_t>::max();
// What Reader::Seq allocates for a sequence before its elements decode.
inline constexpr size_t kSeqReserveBytes = 64u << 10;

namespace internal {

template <class T>
constexpr uint64_t MaxOf() {
  if constexpr (std::is_enum_v<T>)
    return std::numeric_limits<std::underlying_type_t<T>>::max();
  else
    return std::numeric_limits<T>::max();
}

// The state both archives share: the first failure, with its code. The
// failure paths are out of line and cold, so the field functions stay small
// enough to inline.
class Failure {
 public:
  explicit Failure(Code code) : code_(code) {}
  bool ok() const { return ok_; }
  // The error as a Status whose message starts with `context: `; OK when
  // nothing failed.
  Status status(std::string_view context) const {
    if (ok_) return Status::OK();
    return Status::FromCode(static_cast<int>(code_), std::string(context) + ": " + why_);
  }
  const std::string& why() const { return why_; }

 protected:
  [[gnu::cold, gnu::noinline]] void Fail(std::string why) { FailWith(code_, std::move(why)); }
  [[gnu::cold, gnu::noinline]] void FailWith(Code code, std::string why) {
    if (!ok_) return;
    ok_ = false;
    code_ = code;
    why_ = std::move(why);
  }
  [[gnu::cold, gnu::noinline]] void Truncated(const char* field) {
    Fail(std::string("truncated ") + field);
  }
  // A varint that is cut short, or not in its one valid form (core/bytes.h).
  [[gnu::cold, gnu::noinline]] void BadVar(const char* field, ByteReader::VarResult why) {
    if (why == ByteReader::VarResult::kOverLong)
      Fail(std::string(field) + " is an over-long varint");
    else if (why == ByteReader::VarResult::kNonMinimal)
      Fail(std::string(field) + " is a non-minimal varint");
    else
      Truncated(field);
  }
  [[gnu::cold, gnu::noinline]] void OverLimit(const char* field, uint64_t v, uint64_t max) {
    Fail(std::string(field) + " " + std::to_string(v) + " is over the limit of " +
         std::to_string(max));
  }
  [[gnu::cold, gnu::noinline]] void TooLong(const char* field, uint64_t n, uint64_t max) {
    Fail(std::string(field) + " of " + std::to_string(n) + " bytes is longer than " +
         std::to_string(max) + " bytes");
  }
  [[gnu::cold, gnu::noinline]] void TooMany(const char* seq, uint64_t n, uint64_t max) {
    Fail(std::string(seq) + ": " + std::to_string(n) + " is more than " + std::to_string(max));
  }
  [[gnu::cold, gnu::noinline]] void NoRoom(const char* seq, uint64_t n, uint64_t left) {
    Fail(std::string(seq) + ": " + std::to_string(n) + " do not fit in the " +
         std::to_string(left) + " bytes left");
  }
  [[gnu::cold, gnu::noinline]] void BadValue(const char* field, uint64_t v) {
    Fail("unknown " + std::string(field) + " " + std::to_string(v));
  }
  [[gnu::cold, gnu::noinline]] void NotA(const char* what) { Fail(std::string("not a ") + what); }
  [[gnu::cold, gnu::noinline]] void BadVersion(const char* field, uint64_t v) {
    FailWith(Code::kInvalidArgument, "unsupported " + std::string(field) + " " + std::to_string(v));
  }
  [[gnu::cold, gnu::noinline]] void Trailing(uint64_t n) {
    Fail(std::to_string(n) + " trailing bytes");
  }
  // A failure inside element `i` of sequence `seq` is prefixed "seq i: ".
  [[gnu::cold, gnu::noinline]] void Within(const char* seq, uint64_t i) {
    why_ = std::string(seq) + " " + std::to_string(i) + ": " + why_;
  }
  // A failed Check: `why` is a string or a callable that returns one.
  template <class W>
  [[gnu::cold, gnu::noinline]] void CheckFailed(W&& why) {
    if constexpr (std::is_invocable_v<W>)
      Fail(std::string(why()));
    else
      Fail(std::string(why));
  }

 private:
  bool ok_ = true;
  Code code_;
  std::string why_;
};

}  // namespace internal

// Encodes into a string. With kChecked, a field over its limit or a failed
// Check is recorded as InvalidArgument (status()); without, limits and Checks
// are skipped and their conditions left for the compiler to drop: for the
// repository encoders, which cannot fail and write what they are given (the
// decoder is what refuses a bad object).
template <bool kChecked>
class BasicWriter : public internal::Failure {
 public:
  explicit BasicWriter(std::string* out) : Failure(Code::kInvalidArgument), w_(out) {}

  template <class T>
  DR_CODEC_INLINE void U8(const char*, const T& v) {
    w_.U8(static_cast<uint8_t>(v));
  }
  template <class T>
  DR_CODEC_INLINE void U16(const char*, const T& v) {
    w_.U16(static_cast<uint16_t>(v));
  }
  template <class T>
  DR_CODEC_INLINE void U32(const char*, const T& v) {
    w_.U32(static_cast<uint32_t>(v));
  }
  DR_CODEC_INLINE void U64(const char*, uint64_t v) { w_.U64(v); }
  DR_CODEC_INLINE void I64(const char*, int64_t v) { w_.I64(v); }
  // Unsigned LEB128, at most `max`.
  template <class T>
  DR_CODEC_INLINE void Var(const char* field, const T& v, uint64_t max = kNoLimit) {
    static_assert(std::is_unsigned_v<T>);
    if (kChecked && v > max) [[unlikely]]
      OverLimit(field, v, max);
    w_.Var(v);
  }
  // `var` length, then the bytes; at most `max` bytes.
  DR_CODEC_INLINE void Bytes(const char* field, std::string_view s, uint64_t max = kNoLimit) {
    if (kChecked && s.size() > max) [[unlikely]]
      TooLong(field, s.size(), max);
    w_.Bytes(s);
  }
  DR_CODEC_INLINE void IdField(const char*, const Id& id) { w_.Raw(id.Bytes()); }
  // A u8 that is `if_true` or `if_false`.
  DR_CODEC_INLINE void Flag(const char*, bool v, uint8_t if_true = 1, uint8_t if_false = 0) {
    w_.U8(v ? if_true : if_false);
  }
  DR_CODEC_INLINE void Bool(const char* field, bool v) { Flag(field, v); }
  // An enum stored as a u8 from `lo` to `hi`.
  template <class E>
  DR_CODEC_INLINE void Enum(const char* field, E v, uint8_t lo, uint8_t hi) {
    const auto u = static_cast<uint64_t>(v);
    if (kChecked && (u < lo || u > hi)) [[unlikely]]
      BadValue(field, u);
    w_.U8(static_cast<uint8_t>(u));
  }
  // Fixed bytes that identify the object ("not a <what>" when absent).
  DR_CODEC_INLINE void Magic(const char*, std::string_view magic) { w_.Raw(magic); }
  DR_CODEC_INLINE void Magic(const char* what, char magic) {
    Magic(what, std::string_view(&magic, 1));
  }
  // A version byte; another version is refused with InvalidArgument.
  DR_CODEC_INLINE void Version(const char*, uint8_t version) { w_.U8(version); }
  // `var` count, then each element through `fields(element)`; at most `max`
  // elements of at least `min_bytes` each: the smallest encoding an element
  // can have, which a reader checks the count against before it allocates.
  template <class C, class F>
  DR_CODEC_INLINE void Seq(const char* seq, const C& c, uint64_t max, size_t /*min_bytes*/,
                           F&& fields) {
    if (kChecked && c.size() > max) [[unlikely]]
      TooMany(seq, c.size(), max);
    w_.Var(c.size());
    for (const auto& e : c) fields(e);
  }
  // A condition the object must meet; `why` is a string or a callable that
  // returns one (built only on failure).
  template <class W>
  DR_CODEC_INLINE void Check(bool cond, W&& why) {
    if (kChecked && !cond) [[unlikely]]
      CheckFailed(std::forward<W>(why));
  }

 private:
  ByteWriter w_;
};
using Writer = BasicWriter<true>;
using UncheckedWriter = BasicWriter<false>;

// Decodes from a borrowed view. Refusals carry `code` (Corruption for stored
// objects, InvalidArgument for protocol frames), except an unknown version,
// which is always InvalidArgument.
class Reader : public internal::Failure {
 public:
  Reader(std::string_view in, Code code) : Failure(code), r_(in) {}

  template <class T>
  DR_CODEC_INLINE void U8(const char* field, T& v) {
    Fixed<uint8_t>(field, v);
  }
  template <class T>
  DR_CODEC_INLINE void U16(const char* field, T& v) {
    Fixed<uint16_t>(field, v);
  }
  template <class T>
  DR_CODEC_INLINE void U32(const char* field, T& v) {
    Fixed<uint32_t>(field, v);
  }
  DR_CODEC_INLINE void U64(const char* field, uint64_t& v) { Fixed<uint64_t>(field, v); }
  DR_CODEC_INLINE void I64(const char* field, int64_t& v) {
    if (ok() && !r_.I64(&v)) [[unlikely]]
      Truncated(field);
  }
  template <class T>
  DR_CODEC_INLINE void Var(const char* field, T& v, uint64_t max = kNoLimit) {
    static_assert(std::is_unsigned_v<T>);
    constexpr uint64_t kTypeMax = internal::MaxOf<T>();
    uint64_t u;
    if (!ok()) return;
    if (const auto got = r_.ReadVar(&u); got != ByteReader::VarResult::kOk) [[unlikely]]
      return BadVar(field, got);
    if (u > max || u > kTypeMax) [[unlikely]]
      return OverLimit(field, u, max < kTypeMax ? max : kTypeMax);
    v = static_cast<T>(u);
  }
  DR_CODEC_INLINE void Bytes(const char* field, std::string& s, uint64_t max = kNoLimit) {
    uint64_t n;
    std::string_view b;
    if (!ok()) return;
    if (const auto got = r_.ReadVar(&n); got != ByteReader::VarResult::kOk) [[unlikely]]
      return BadVar(field, got);
    if (n > max) [[unlikely]]
      return TooLong(field, n, max);
    if (!r_.Raw(n, &b)) [[unlikely]]
      return Truncated(field);
    s.assign(b);
  }
  DR_CODEC_INLINE void IdField(const char* field, Id& id) {
    std::string_view b;
    if (!ok()) return;
    if (!r_.Raw(16, &b)) [[unlikely]]
      return Truncated(field);
    id = Id::FromBytes(b);
  }
  DR_CODEC_INLINE void Flag(const char* field, bool& v, uint8_t if_true = 1, uint8_t if_false = 0) {
    uint8_t u = 0;
    Fixed<uint8_t>(field, u);
    if (!ok()) return;
    if (u != if_true && u != if_false) [[unlikely]]
      return BadValue(field, u);
    v = u == if_true;
  }
  DR_CODEC_INLINE void Bool(const char* field, bool& v) { Flag(field, v); }
  template <class E>
  DR_CODEC_INLINE void Enum(const char* field, E& v, uint8_t lo, uint8_t hi) {
    uint8_t u = 0;
    Fixed<uint8_t>(field, u);
    if (!ok()) return;
    if (u < lo || u > hi) [[unlikely]]
      return BadValue(field, u);
    v = static_cast<E>(u);
  }
  DR_CODEC_INLINE void Magic(const char* what, std::string_view magic) {
    std::string_view b;
    if (ok() && (!r_.Raw(magic.size(), &b) || b != magic)) [[unlikely]]
      NotA(what);
  }
  DR_CODEC_INLINE void Magic(const char* what, char magic) {
    Magic(what, std::string_view(&magic, 1));
  }
  DR_CODEC_INLINE void Version(const char* field, uint8_t version) {
    uint8_t v = 0;
    Fixed<uint8_t>(field, v);
    if (ok() && v != version) [[unlikely]]
      BadVersion(field, v);
  }
  // Fills `c` (a vector, emptied first) element by element. The count is
  // checked against `max` and against the bytes left at `min_bytes` (at
  // least 1) per element before anything is allocated; then room is made
  // for at most kSeqReserveBytes up front and the vector grows only as
  // elements actually decode, so memory follows the bytes decoded rather
  // than what a count claims. `fields` gets each new element; the ones
  // before it are in `c` already.
  template <class C, class F>
  DR_CODEC_INLINE void Seq(const char* seq, C& c, uint64_t max, size_t min_bytes, F&& fields) {
    constexpr uint64_t kReserve = kSeqReserveBytes / sizeof(typename C::value_type) + 1;
    uint64_t n;
    if (!ok()) return;
    if (const auto got = r_.ReadVar(&n); got != ByteReader::VarResult::kOk) [[unlikely]]
      return BadVar(seq, got);
    if (n > max) [[unlikely]]
      return TooMany(seq, n, max);
    if (n > r_.remaining() / (min_bytes > 0 ? min_bytes : 1)) [[unlikely]]
      return NoRoom(seq, n, r_.remaining());
    c.clear();
    c.reserve(static_cast<size_t>(n < kReserve ? n : kReserve));
    for (uint64_t i = 0; i < n; ++i) {
      fields(c.emplace_back());
      if (!ok()) [[unlikely]]
        return Within(seq, i);
    }
  }
  template <class W>
  DR_CODEC_INLINE void Check(bool cond, W&& why) {
    if (ok() && !cond) [[unlikely]]
      CheckFailed(std::forward<W>(why));
  }
  // Refuses bytes after the last field.
  DR_CODEC_INLINE void Finish() {
    if (ok() && !r_.done()) [[unlikely]]
      Trailing(r_.remaining());
  }
  size_t remaining() const { return r_.remaining(); }

 private:
  template <class Wire, class T>
  DR_CODEC_INLINE void Fixed(const char* field, T& v) {
    Wire w;
    bool got;
    if (!ok()) return;
    if constexpr (sizeof(Wire) == 1)
      got = r_.U8(&w);
    else if constexpr (sizeof(Wire) == 2)
      got = r_.U16(&w);
    else if constexpr (sizeof(Wire) == 4)
      got = r_.U32(&w);
    else
      got = r_.U64(&w);
    if (!got) [[unlikely]]
      return Truncated(field);
    v = static_cast<T>(w);
  }
  ByteReader r_;
};

#undef DR_CODEC_INLINE

}  // namespace dr::codec
