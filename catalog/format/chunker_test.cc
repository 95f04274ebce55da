#include "catalog/format/chunker.h"

#include <gtest/gtest.h>

#include <set>

#include "tests/test_util.h"

namespace dr {
namespace {

std::vector<size_t> Cuts(const Chunker& c, std::string_view data) {
  std::vector<size_t> out;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t n = c.NextCut(data.substr(pos));
    out.push_back(pos + n);
    pos += n;
  }
  return out;
}

ChunkerParams Small() { return ChunkerParams{16 << 10, 64 << 10, 256 << 10}; }

TEST(Chunker, ChunksRespectMinAndMax) {
  KeyedHasher h(test::RandomBytes(192, 'c'));
  Chunker c(Small(), h);
  std::string data = test::RandomBytes(8 << 20, 1) + std::string(2 << 20, '\0');
  auto cuts = Cuts(c, data);
  size_t prev = 0;
  for (size_t i = 0; i < cuts.size(); ++i) {
    size_t len = cuts[i] - prev;
    EXPECT_LE(len, Small().max_size);
    if (i + 1 < cuts.size()) {
      EXPECT_GE(len, Small().min_size);
    }
    prev = cuts[i];
  }
  EXPECT_EQ(cuts.back(), data.size());
}

TEST(Chunker, InsertionNearTheStartMovesOnlyNearbyCuts) {
  KeyedHasher h(test::RandomBytes(192, 'c'));
  Chunker c(Small(), h);
  std::string data = test::RandomBytes(16 << 20, 2);
  std::string edited = data.substr(0, 1000) + "INSERTED BYTES" + data.substr(1000);
  auto a = Cuts(c, data), b = Cuts(c, edited);
  std::set<size_t> shifted;
  for (size_t x : b) shifted.insert(x - 14);
  size_t same = 0;
  for (size_t x : a) same += shifted.count(x);
  // All but the first cut or two realign after the insertion.
  EXPECT_GE(same + 2, a.size());
  EXPECT_GT(a.size(), 100u);
}

TEST(Chunker, GearTableDependsOnTheSecret) {
  KeyedHasher h1(test::RandomBytes(192, 1)), h2(test::RandomBytes(192, 2));
  std::string data = test::RandomBytes(4 << 20, 3);
  EXPECT_NE(Cuts(Chunker(Small(), h1), data), Cuts(Chunker(Small(), h2), data));
}

TEST(Chunker, RealisedMeanIsNearTheConfiguredAverage) {
  KeyedHasher h(test::RandomBytes(192, 'm'));
  ChunkerParams p;  // defaults: 256 KiB / 1 MiB / 4 MiB
  Chunker c(p, h);
  std::string data = test::RandomBytes(256 << 20, 4);
  auto cuts = Cuts(c, data);
  double mean = static_cast<double>(data.size()) / cuts.size();
  RecordProperty("realised_mean_bytes", std::to_string(mean));
  std::printf("realised mean chunk on random data: %.0f bytes (%zu chunks)\n", mean, cuts.size());
  EXPECT_GT(mean, 0.7 * p.avg_size);
  EXPECT_LT(mean, 1.5 * p.avg_size);
}

}  // namespace
}  // namespace dr
