#include <gtest/gtest.h>

#include "core/bytes.h"
#include "core/envelope.h"
#include "core/hash.h"
#include "core/timefmt.h"
#include "tests/test_util.h"

namespace dr {
namespace {

TEST(Bytes, VarintRoundTripAndTruncation) {
  std::string buf;
  ByteWriter w(&buf);
  const uint64_t values[] = {0, 1, 127, 128, 300, 1ULL << 35, UINT64_MAX};
  for (uint64_t v : values) w.Var(v);
  ByteReader r(buf);
  for (uint64_t v : values) {
    uint64_t got;
    ASSERT_TRUE(r.Var(&got));
    EXPECT_EQ(got, v);
  }
  EXPECT_TRUE(r.done());
  ByteReader cut(std::string_view(buf).substr(0, buf.size() - 1));
  uint64_t got;
  for (size_t i = 0; i + 1 < std::size(values); ++i) ASSERT_TRUE(cut.Var(&got));
  EXPECT_FALSE(cut.Var(&got));  // the truncated last varint is detected
}

TEST(Bytes, BytesLengthBeyondInputIsRejected) {
  std::string buf;
  ByteWriter(&buf).Var(1000);
  buf += "short";
  ByteReader r(buf);
  std::string out;
  EXPECT_FALSE(r.Bytes(&out));
}

TEST(Envelope, RoundTrip) {
  std::string sealed = SealEnvelope(EnvelopeKind::kSnapshot, "payload bytes");
  auto opened = OpenEnvelope(EnvelopeKind::kSnapshot, sealed, "obj");
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(*opened, "payload bytes");
}

TEST(Envelope, TruncationIsCorruption) {
  std::string sealed = SealEnvelope(EnvelopeKind::kIndex, "some payload");
  for (size_t n : {size_t{0}, size_t{3}, sealed.size() - 1}) {
    auto r = OpenEnvelope(EnvelopeKind::kIndex, sealed.substr(0, n), "obj");
    EXPECT_TRUE(r.status().IsCorruption()) << n;
  }
}

TEST(Envelope, EveryBitFlipIsDetected) {
  std::string sealed = SealEnvelope(EnvelopeKind::kConfig, "config payload");
  for (size_t i = 0; i < sealed.size() * 8; ++i) {
    std::string bad = sealed;
    bad[i / 8] ^= static_cast<char>(1 << (i % 8));
    EXPECT_FALSE(OpenEnvelope(EnvelopeKind::kConfig, bad, "obj").ok()) << "bit " << i;
  }
}

TEST(Envelope, WrongKindAndWrongVersion) {
  std::string sealed = SealEnvelope(EnvelopeKind::kConfig, "x");
  EXPECT_TRUE(OpenEnvelope(EnvelopeKind::kIndex, sealed, "obj").status().IsCorruption());
  // A future version with a valid checksum is refused as unsupported.
  std::string future = sealed;
  future[5] = 9;
  std::string body = future.substr(0, future.size() - 8);
  std::string trailer;
  ByteWriter(&trailer).U64(Checksum64(body));
  auto r = OpenEnvelope(EnvelopeKind::kConfig, body + trailer, "obj");
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("version 9"), std::string::npos);
}

TEST(Hash, KeyedIdsDependOnTheSecret) {
  KeyedHasher a(test::RandomBytes(192, 1)), b(test::RandomBytes(192, 2));
  EXPECT_NE(a.Hash("data"), b.Hash("data"));
  EXPECT_EQ(a.Hash("data"), a.Hash("data"));
  Id parsed;
  ASSERT_TRUE(Id::FromHex(a.Hash("data").Hex(), &parsed));
  EXPECT_EQ(parsed, a.Hash("data"));
  EXPECT_FALSE(Id::FromHex("zz", &parsed));
}

TEST(Hash, StreamDigestMatchesOneShotIncludingZeros) {
  KeyedHasher h(test::RandomBytes(192, 's'));
  StreamDigest d(h);
  d.Update("abc");
  d.UpdateZeros(3 << 20);
  d.Update("xyz");
  std::string whole = "abc" + std::string(3 << 20, '\0') + "xyz";
  EXPECT_EQ(d.Finish(), h.Hash(whole));
}

TEST(TimeFormat, ParsesLocalAndUtcForms) {
  setenv("TZ", "UTC", 1);
  tzset();
  auto t = ParseTimeArg("2026-11-27 03:00");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, 1795748400LL * 1000000000 + 59999999999LL);  // end of that minute
  auto z = ParseTimeArg("2026-11-27T03:00:05Z");
  ASSERT_TRUE(z.ok());
  EXPECT_EQ(*z, 1795748405LL * 1000000000 + 999999999);
  EXPECT_TRUE(ParseTimeArg("2026-11-27").ok());
  EXPECT_FALSE(ParseTimeArg("yesterday").ok());
  EXPECT_FALSE(ParseTimeArg("2026-13-01").ok());
  EXPECT_FALSE(ParseTimeArg("2026-11-27 03:00 junk").ok());
  EXPECT_EQ(FormatRfc3339Utc(1795748405LL * 1000000000 + 7), "2026-11-27T03:00:05.000000007Z");
  // --since: the start of what is named, so the whole day or minute counts.
  EXPECT_EQ(*ParseTimeArgStart("2026-11-27"), (1795748400LL - 3 * 3600) * 1000000000);
  EXPECT_EQ(*ParseTimeArgStart("2026-11-27 03:00"), 1795748400LL * 1000000000);
  EXPECT_EQ(*ParseTimeArgStart("@1795748405"), 1795748405LL * 1000000000);
  EXPECT_EQ(*ParseTimeArg("2026-11-27"), (1795748400LL + 21 * 3600) * 1000000000 - 1);
}

}  // namespace
}  // namespace dr
