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
          Welcome{42, 64 << 20, 17, 256 << 10, 1 << 20, 4 << 20, test::RandomBytes(192, 2), 3},
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
          GetTree{13, SomeId(6)},
          Put{14, "data/ab/abcdef", 10000, 5000, test::RandomBytes(5000, 4)},
          Ack{14},
          Bye{}};
}

TEST(Protocol, EveryMessageRoundTrips) {
  for (const Message& m : Samples()) {
    auto frame = EncodeMessage(m);
    ASSERT_TRUE(frame.ok()) << TypeName(TypeOf(m));
    auto back = DecodeMessage(*frame);
    ASSERT_TRUE(back.ok()) << TypeName(TypeOf(m)) << ": " << back.status().ToString();
    EXPECT_EQ(TypeOf(*back), TypeOf(m));
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
  std::string v2 = frame;
  v2[2] = 2;
  EXPECT_NE(DecodeMessage(v2).status().message().find("version 2"), std::string::npos);
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

TEST(Protocol, MutatedFramesNeverCrashOrOverRead) {
  std::mt19937_64 rng(2026);
  auto samples = Samples();
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
    auto m = DecodeMessage(frame);  // must return, valid or not (ASan run in CI build)
    if (m.ok()) {
      EXPECT_TRUE(EncodeMessage(*m).ok());
    }
  }
}

}  // namespace
}  // namespace dr::wire
