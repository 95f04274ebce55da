// The wire codec: round trip of every message, truncation at every byte,
// wrong version and type, limits, and a mutation fuzz loop over valid frames.
#include "replicator/wire/protocol.h"

#include <gtest/gtest.h>

#include <random>

#include "tests/test_util.h"

namespace dr::wire {
namespace {

Id SomeId(int i) { return KeyedHasher(test::RandomBytes(192, 1)).Hash(std::to_string(i)); }

std::vector<Message> Samples() {
  Query q{7, {SomeId(1), SomeId(2), SomeId(3)}};
  Blob b{9, BlobType::kData, SomeId(4), 100000, EncodeBlob(test::TextBytes(100000, 1), 3)};
  return {Hello{"records-01", "finance", 42, 17},
          Welcome{42, 64 << 20, 17, 256 << 10, 1 << 20, 4 << 20, test::RandomBytes(192, 2), 3,
                  "records-01"},
          q,
          Missing{7, {SomeId(2)}},
          b,
          Credit{16 << 20, 9},
          Commit{10, "snapshot object bytes"},
          Committed{10, SomeId(5)},
          Error{3, 6, "agent records-01 may not write namespace hr"},
          Ping{123456789},
          Pong{123456789},
          Get{11, "data/ab/abcdef", 4096, 1 << 20},
          Data{11, 16 << 20, test::RandomBytes(5000, 3)},
          List{12, "index/", "index/00ff"},
          Listing{12, {{"index/0100", 4000}, {"index/0200", 12}}, true},
          GetTree{13, SomeId(6), 1 << 22},
          Put{14, "data/ab/abcdef", 10000, 5000, test::RandomBytes(5000, 4)},
          Ack{14},
          Bye{},
          GetPolicies{15},
          Policies{15, {{"web", "name: web\nnamespace: records\n"}, {"db", ""}}},
          CatalogQuery{16, R"({"query":"versions","path":"2f61"})"},
          CatalogAnswer{16, R"({"versions":[]})"}};
}

// Byte-exact frames (version 2: version 1 frames with the welcome identity),
// first recorded from the codec before the field lists replaced
// the hand-written encoder and decoder: the wire format must never drift.
Id WireFixedId(uint8_t first) {
  Id id;
  for (int i = 0; i < 16; ++i) id.b[i] = static_cast<uint8_t>(first + i);
  return id;
}

struct GoldenFrame {
  Message message;
  const char* hex;
};

std::vector<GoldenFrame> GoldenFrames() {
  return {
      {Hello{"agent-1", "finance", 300, 129}, "44520301076167656e742d310766696e616e6365ac028101"},
      {Hello{"", "", 0, 0}, "4452030100000000"},
      {Welcome{1ull << 40, 32u << 20, 7, 256u << 10, 1u << 20, 4u << 20, "s3cr3t", 3},
       "44520302808080808020808080100700000400000010000000400006733363723374030000"},
      {Welcome{1, 2, 3, 4, 5, 6, "k", 1, "agent-1"},
       "44520302010203040000000500000006000000016b0107"
       "6167656e742d3100"},
      {Welcome{1, 2, 3, 4, 5, 6, "k", 1, "a", "{}"},
       "44520302010203040000000500000006000000016b010161027b7d"},
      {Query{5, {WireFixedId(1), WireFixedId(0xf0)}},
       "4452030305020102030405060708090a0b0c0d0e0f10f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"},
      {Missing{5, {WireFixedId(0xf0)}}, "445203040501f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"},
      {Missing{6, {}}, "445203040600"},
      {Blob{6, BlobType::kTree, WireFixedId(3), 10, "raw-bytes!"},
       "445203050601030405060708090a0b0c0d0e0f1011120a0000000a7261772d627974657321"},
      {Blob{200, BlobType::kData, WireFixedId(4), 70000, "zz"},
       "44520305c801000405060708090a0b0c0d0e0f1011121370110100027a7a"},
      {Credit{UINT64_MAX, 6}, "44520306ffffffffffffffffff0106"},
      {Commit{7, "snap"}, "445203070704736e6170"},
      {Committed{7, WireFixedId(4)}, "44520308070405060708090a0b0c0d0e0f10111213"},
      {Error{0, 6, "denied"}, "445203090006000664656e696564"},
      {Ping{0x0102030405060708ull}, "4452030a0807060504030201"},
      {Pong{UINT64_MAX}, "4452030bffffffffffffffff"},
      {Get{9, "data/ab/cd", 4096, kMaxDataBytes}, "4452030c090a646174612f61622f6364802080808002"},
      {Data{9, 70000, "xyz"}, "4452030d09f0a2040378797a"},
      {List{10, "index/", "index/00"}, "4452030e0a06696e6465782f08696e6465782f3030"},
      {Listing{10, {{"index/01", 4000}, {"index/02", 0}}, true},
       "4452030f0a0208696e6465782f3031a01f08696e6465782f30320001"},
      {Listing{11, {}, false}, "4452030f0b0000"},
      {GetTree{11, WireFixedId(5)}, "445203100b05060708090a0b0c0d0e0f101112131400"},
      {GetTree{12, WireFixedId(5), 4194304},
       "445203100c05060708090a0b0c0d0e0f1011121314"
       "80808002"},
      {Put{12, "data/ab/cd", 10, 4, "abc"}, "445203110c0a646174612f61622f63640a0403616263"},
      {Put{13, "config", 0, 0, ""}, "445203110d06636f6e666967000000"},
      {Ack{UINT64_MAX}, "44520312ffffffffffffffffff01"},
      {Bye{}, "44520313"},
      {GetPolicies{14}, "445203140e"},
      {Policies{14, {{"a", "b: 1"}}}, "445203150e01016104623a2031"},
      {CatalogQuery{14, "ab"}, "445203160e026162"},
      {CatalogAnswer{14, "{}"}, "445203170e027b7d"},
  };
}

TEST(Protocol, GoldenFramesAreByteExact) {
  for (const GoldenFrame& g : GoldenFrames()) {
    const char* name = TypeName(TypeOf(g.message));
    auto frame = EncodeMessage(g.message);
    ASSERT_TRUE(frame.ok()) << name << ": " << frame.status().ToString();
    EXPECT_EQ(ToHex(*frame), g.hex) << name;
    auto back = DecodeMessage(*frame);
    ASSERT_TRUE(back.ok()) << name << ": " << back.status().ToString();
    EXPECT_TRUE(*back == g.message) << name;
  }
}

TEST(Protocol, EveryMessageRoundTrips) {
  for (const Message& m : Samples()) {
    auto frame = EncodeMessage(m);
    ASSERT_TRUE(frame.ok()) << TypeName(TypeOf(m));
    auto back = DecodeMessage(*frame);
    ASSERT_TRUE(back.ok()) << TypeName(TypeOf(m)) << ": " << back.status().ToString();
    EXPECT_TRUE(*back == m) << TypeName(TypeOf(m));
    // Re-encoding the decoded message gives the same bytes: nothing was lost.
    EXPECT_EQ(*EncodeMessage(*back), *frame) << TypeName(TypeOf(m));
  }
  auto q = std::get<Query>(*DecodeMessage(*EncodeMessage(Samples()[2])));
  EXPECT_EQ(q.ids.size(), 3u);
  EXPECT_EQ(q.ids[1], SomeId(2));
}

TEST(Protocol, EveryTruncationIsRejected) {
  for (const Message& m : Samples()) {
    std::string frame = *EncodeMessage(m);
    for (size_t n = 0; n < frame.size(); ++n) {
      EXPECT_FALSE(DecodeMessage(frame.substr(0, n)).ok())
          << TypeName(TypeOf(m)) << " cut at " << n;
    }
  }
}

TEST(Protocol, TrailingBytesWrongVersionAndUnknownType) {
  std::string frame = *EncodeMessage(Ping{1});
  auto extra = DecodeMessage(frame + "x");
  EXPECT_NE(extra.status().message().find("trailing"), std::string::npos);
  std::string next = frame;
  next[2] = kProtocolVersion + 1;
  EXPECT_NE(DecodeMessage(next).status().message().find("version 4"), std::string::npos);
  std::string t99 = frame;
  t99[3] = 99;
  EXPECT_NE(DecodeMessage(t99).status().message().find("unknown message type 99"),
            std::string::npos);
  EXPECT_FALSE(DecodeMessage("GET / HTTP/1.1\r\n").ok());
}

TEST(Protocol, LimitsAreEnforcedOnBothSides) {
  Query big;
  big.ids.assign(kMaxIdsPerBatch + 1, SomeId(1));
  EXPECT_FALSE(EncodeMessage(big).ok());
  // A hand-made frame claiming a huge batch is refused without allocating it.
  std::string frame = "DR";
  frame += static_cast<char>(kProtocolVersion);
  frame += static_cast<char>(Type::kQuery);
  frame += '\x01';                  // seq
  frame += "\xff\xff\xff\xff\x0f";  // 2^32-1 ids
  EXPECT_NE(DecodeMessage(frame).status().message().find("more than"), std::string::npos);
  EXPECT_FALSE(DecodeMessage(std::string(kMaxFrameBytes + 1, 'D')).ok());
  Blob lying{1, BlobType::kData, SomeId(1), 10, std::string(20, 'x')};
  EXPECT_FALSE(EncodeMessage(lying).ok());
  Put past_end{1, "data/x", 10, 8, "abc"};
  EXPECT_FALSE(EncodeMessage(past_end).ok());
  std::string put = *EncodeMessage(Put{1, "data/x", 10, 7, "abc"});
  put[put.size() - 5] = 8;  // offset 7 -> 8: the part now ends past the object
  EXPECT_NE(DecodeMessage(put).status().message().find("past the object"), std::string::npos);
  Get huge{1, "data/x", 0, kMaxDataBytes + 1};
  EXPECT_FALSE(EncodeMessage(huge).ok());
}

// The encoder refuses what the decoder would refuse, from the same field
// list: InvalidArgument naming the message and the field; the decoder
// refuses the same field in a frame made by hand.
TEST(Protocol, EncoderRefusalsNameTheField) {
  struct Case {
    Message m;
    const char* message;
  };
  const std::string text(kMaxTextBytes + 1, 'a');
  const Case cases[] = {
      {Hello{text, "ns", 0, 0}, "hello message: agent "},
      {Hello{"a", text, 0, 0}, "hello message: namespace "},
      {Welcome{1, 1, 0, 1, 2, 3, text, 3}, "welcome message: secret "},
      {Query{1, std::vector<Id>(kMaxIdsPerBatch + 1)}, "query message: ids: "},
      {Missing{1, std::vector<Id>(kMaxIdsPerBatch + 1)}, "missing message: ids: "},
      {Blob{1, static_cast<BlobType>(2), SomeId(1), 1, "x"}, "blob message: unknown blob type 2"},
      {Blob{1, BlobType::kData, SomeId(1), 1, "xy"}, "blob message: blob stored larger than raw"},
      {Error{1, 3, text}, "error message: message "},
      {Get{1, text, 0, 0}, "get message: key "},
      {Get{1, "k", 0, kMaxDataBytes + 1}, "get message: length "},
      {Data{1, 0, std::string(kMaxDataBytes + 1, 'd')}, "data message: bytes "},
      {List{1, text, ""}, "list message: prefix "},
      {List{1, "", text}, "list message: start_after "},
      {Listing{1, std::vector<ListEntry>(kMaxListEntries + 1), false},
       "listing message: entries: "},
      {Listing{1, {{text, 1}}, false}, "listing message: key "},
      {Put{1, text, 1, 0, ""}, "put message: key "},
      {Put{1, "k", UINT64_MAX, 0, std::string(kMaxDataBytes + 1, 'p')}, "put message: bytes "},
      {Put{1, "k", 10, 11, ""}, "put message: part runs past the object size"},
  };
  for (const Case& c : cases) {
    auto frame = EncodeMessage(c.m);
    ASSERT_FALSE(frame.ok()) << c.message;
    EXPECT_EQ(frame.status().code(), Code::kInvalidArgument) << c.message;
    EXPECT_EQ(frame.status().message().rfind(c.message, 0), 0u) << frame.status().message();
  }
  // A hello whose agent name is one byte over the limit, made by hand.
  std::string hello = "DR";
  hello += static_cast<char>(kProtocolVersion);
  hello += static_cast<char>(Type::kHello);
  hello += "\x81\x20";  // 4097
  hello += text;
  hello += std::string("\x02ns\x00\x00", 5);
  auto refused = DecodeMessage(hello);
  EXPECT_EQ(refused.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(refused.status().message().rfind("hello message: agent ", 0), 0u)
      << refused.status().message();
}

// Whether a refusal names what was refused: the frame itself, or the message
// type and, inside it, the field.
bool NamesTheFrameOrField(const std::string& m) {
  for (const char* p :
       {"not a protocol frame", "protocol version ", "unknown message type ", "frame of "}) {
    if (m.rfind(p, 0) == 0) return true;
  }
  const size_t at = m.find(" message: ");
  return at != std::string::npos && at > 0 && m.size() > at + 10;
}

// Mutated frames: each decode either fails with InvalidArgument naming the
// frame or field, or yields a message that re-encodes, and whose encoding
// decodes and re-encodes to the same bytes (nothing decoded is garbage the
// encoder would refuse or change). Holds without a sanitizer; ASan in the CI
// build adds over-read detection.
TEST(Protocol, MutatedFramesAreRefusedOrRoundTrip) {
  std::mt19937_64 rng(2026);
  auto samples = Samples();
  for (const GoldenFrame& g : GoldenFrames()) samples.push_back(g.message);
  int decoded = 0, refused = 0;
  for (int iter = 0; iter < 200000; ++iter) {
    std::string frame = *EncodeMessage(samples[rng() % samples.size()]);
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      switch (rng() % 4) {
        case 0:
          frame[rng() % frame.size()] ^= static_cast<char>(1 << (rng() % 8));
          break;
        case 1:
          frame[rng() % frame.size()] = static_cast<char>(rng());
          break;
        case 2:
          frame.resize(rng() % (frame.size() + 1));
          break;
        case 3:
          frame.insert(rng() % (frame.size() + 1), 1, static_cast<char>(rng()));
          break;
      }
      if (frame.empty()) frame = "D";
    }
    auto m = DecodeMessage(frame);
    if (!m.ok()) {
      ++refused;
      ASSERT_EQ(m.status().code(), Code::kInvalidArgument) << m.status().ToString();
      ASSERT_TRUE(NamesTheFrameOrField(m.status().message())) << m.status().message();
      continue;
    }
    ++decoded;
    auto again = EncodeMessage(*m);
    ASSERT_TRUE(again.ok()) << TypeName(TypeOf(*m)) << ": " << again.status().ToString();
    ASSERT_LE(again->size(), frame.size()) << TypeName(TypeOf(*m));
    auto back = DecodeMessage(*again);
    ASSERT_TRUE(back.ok()) << TypeName(TypeOf(*m)) << ": " << back.status().ToString();
    ASSERT_TRUE(*back == *m) << TypeName(TypeOf(*m));
    ASSERT_EQ(*EncodeMessage(*back), *again) << TypeName(TypeOf(*m));
  }
  // Both outcomes occur, so the loop exercised the decoder both ways.
  EXPECT_GT(decoded, 1000);
  EXPECT_GT(refused, 1000);
}

}  // namespace
}  // namespace dr::wire
