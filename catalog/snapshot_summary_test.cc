#include "catalog/snapshot_summary.h"

#include <gtest/gtest.h>

namespace dr {
namespace {

Snapshot Sample() {
  Snapshot s;
  s.id = Id::FromBytes(std::string(16, '\x42'));
  s.time_ns = 1764547200000000000;
  s.policy = "ledger";
  s.identity = "ledger-01";
  s.host = "db1.finance.city";
  s.paths = {"/srv/ledger", "/etc"};
  s.tags = {"nightly"};
  return s;
}

const KeyedHasher& Ids() {
  static const KeyedHasher h(std::string(192, 'k'));
  return h;
}

TEST(SnapshotSummary, CarriesWhatRetentionNeedsAndNamesNoSource) {
  const std::string bytes = EncodeSnapshotSummary(Sample(), Ids(), {});
  EXPECT_EQ(bytes.find("db1"), std::string::npos) << bytes;
  EXPECT_EQ(bytes.find("/srv/ledger"), std::string::npos) << bytes;
  auto back = DecodeSnapshotSummary(bytes, "summaries/x");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->id, Sample().id);
  EXPECT_EQ(back->time_ns, Sample().time_ns);
  EXPECT_EQ(back->policy, "ledger");
  EXPECT_EQ(back->identity, "ledger-01");
  EXPECT_EQ(back->tags, Sample().tags);
  EXPECT_FALSE(back->block.has_value());
  EXPECT_TRUE(back->paths.empty());
  // One source, one group; another host or path, another group; another
  // key, another digest for the same source.
  Snapshot later = Sample();
  later.time_ns += 1;
  EXPECT_EQ(DecodeSnapshotSummary(EncodeSnapshotSummary(later, Ids(), {}), "s")->host, back->host);
  Snapshot other = Sample();
  other.paths = {"/srv/ledger"};
  EXPECT_NE(DecodeSnapshotSummary(EncodeSnapshotSummary(other, Ids(), {}), "s")->host, back->host);
  const KeyedHasher another(std::string(192, 'z'));
  EXPECT_NE(DecodeSnapshotSummary(EncodeSnapshotSummary(Sample(), another, {}), "s")->host,
            back->host);
}

TEST(SnapshotSummary, CarriesItsReferenceListSortedAndDistinct) {
  const Id a = Id::FromBytes(std::string(16, '\x01')), b = Id::FromBytes(std::string(16, '\x02'));
  const std::string bytes = EncodeSnapshotSummary(Sample(), Ids(), {b, a, b});
  std::vector<Id> packs;
  auto back = DecodeSnapshotSummary(bytes, "s", &packs);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(packs, (std::vector<Id>{a, b}));
  // Out of order, repeated or not an id: refused by name.
  for (const std::string& list :
       {"\"" + b.Hex() + "\",\"" + a.Hex() + "\"", "\"" + a.Hex() + "\",\"" + a.Hex() + "\"",
        std::string("\"zz\""), std::string("7")}) {
    std::string bad = bytes;
    const size_t at = bad.find("\"packs\":[") + 9;
    bad.replace(at, bad.find(']', at) - at, list);
    auto s = DecodeSnapshotSummary(bad, "summaries/abc", &packs);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.status().message().find("summaries/abc"), std::string::npos);
  }
}

TEST(SnapshotSummary, ATagThatIsNotUtf8IsReplacedNotThrown) {
  Snapshot s = Sample();
  s.tags = {std::string("bad\xff\xfe", 5)};
  std::string bytes;
  ASSERT_NO_THROW(bytes = EncodeSnapshotSummary(s, Ids(), {}));
  auto back = DecodeSnapshotSummary(bytes, "s");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->tags.size(), 1u);
  EXPECT_EQ(back->tags[0].rfind("bad", 0), 0u);
}

TEST(SnapshotSummary, MalformedSummariesAreNamed) {
  for (const std::string& bad :
       {std::string(""), std::string("{}"), std::string("[1,2]"),
        std::string(R"({"snapshot_summary":2,"id":"00000000000000000000000000000000"})"),
        std::string(R"({"snapshot_summary":1,"id":"zz","time_ns":1,"policy":"","identity":"",)"
                    R"("group":"00000000000000000000000000000000","tags":[],"partial":false,)"
                    R"("block":false})"),
        std::string(
            R"({"snapshot_summary":1,"id":"00000000000000000000000000000000",)"
            R"("time_ns":1e30,"policy":"","identity":"","group":)"
            R"("00000000000000000000000000000000","tags":[],"partial":false,"block":false})"),
        std::string(33 << 20, ' '), std::string(60000, '[')}) {
    auto s = DecodeSnapshotSummary(bad, "summaries/abc");
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.status().code(), Code::kCorruption);
    EXPECT_NE(s.status().message().find("summaries/abc"), std::string::npos);
  }
}

}  // namespace
}  // namespace dr
