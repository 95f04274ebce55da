// One conformance suite, run against every ObjectStore backend.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <filesystem>
#include <functional>
#include <latch>
#include <thread>

#include "catalog/store/dir_store.h"
#include "catalog/store/retry_store.h"
#include "catalog/store/testing/fault_store.h"
#include "catalog/store/testing/mem_store.h"
#include "tests/test_util.h"

namespace dr {
namespace {

struct Backend {
  std::string name;
  std::function<std::unique_ptr<ObjectStore>(const std::string& dir)> make;
};
// For gtest's messages: the name, not the bytes.
void PrintTo(const Backend& b, std::ostream* os) { *os << b.name; }

class MemInFault : public FaultStore {
 public:
  MemInFault() : FaultStore(&mem_) {}

 private:
  MemStore mem_;
};

// Retries without the production back-off, so that tests stay fast.
RetryPolicy FastRetries() {
  RetryPolicy p;
  p.attempts = 4;
  p.first_delay = std::chrono::milliseconds(1);
  p.max_delay = std::chrono::milliseconds(4);
  return p;
}

std::vector<Backend> Backends() {
  return {
      {"dir", [](const std::string& d) { return std::make_unique<DirStore>(d + "/repo"); }},
      {"mem", [](const std::string&) { return std::make_unique<MemStore>(); }},
      {"fault_passthrough", [](const std::string&) { return std::make_unique<MemInFault>(); }},
      // The retry decorator must keep the contract of what it wraps.
      {"retry_over_mem",
       [](const std::string&) {
         return std::make_unique<RetryStore>(std::make_unique<MemStore>(), FastRetries());
       }},
      {"rados",
       [](const std::string&) -> std::unique_ptr<ObjectStore> {
         std::string url = test::RadosTestUrl("conf");
         if (url.empty()) return nullptr;
         auto s = OpenObjectStore(url);
         EXPECT_TRUE(s.ok()) << s.status().ToString();
         return s.ok() ? std::move(s).value() : nullptr;
       }},
  };
}

class StoreConformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    store_ = GetParam().make(dir_.path());
    if (GetParam().name == "rados") DR_REQUIRE_RADOS(std::string(store_ ? "ok" : ""));
    ASSERT_NE(store_, nullptr);
  }
  test::TempDir dir_{"store"};
  std::unique_ptr<ObjectStore> store_;
};

TEST_P(StoreConformance, PutGetSizeRange) {
  std::string data = test::RandomBytes(100000, 1);
  ASSERT_TRUE(store_->Put("data/ab/abcdef", data).ok());
  auto got = store_->Get("data/ab/abcdef");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, data);
  EXPECT_EQ(*store_->Size("data/ab/abcdef"), data.size());
  auto range = store_->GetRange("data/ab/abcdef", 500, 1000);
  ASSERT_TRUE(range.ok());
  EXPECT_EQ(*range, data.substr(500, 1000));
}

TEST_P(StoreConformance, MissingObjectIsNotFoundAndNamed) {
  auto r = store_->Get("snapshots/nope");
  EXPECT_TRUE(r.status().IsNotFound());
  EXPECT_NE(r.status().message().find("snapshots/nope"), std::string::npos);
  EXPECT_TRUE(store_->Size("snapshots/nope").status().IsNotFound());
}

TEST_P(StoreConformance, RangePastTheEndIsCorruption) {
  ASSERT_TRUE(store_->Put("k", "0123456789").ok());
  EXPECT_TRUE(store_->GetRange("k", 5, 10).status().IsCorruption());
}

TEST_P(StoreConformance, ListByPrefix) {
  ASSERT_TRUE(store_->Put("index/a1", "1").ok());
  ASSERT_TRUE(store_->Put("index/a2", "22").ok());
  ASSERT_TRUE(store_->Put("data/00/x", "333").ok());
  ASSERT_TRUE(store_->Put("data/01/y", "4444").ok());
  auto idx = store_->List("index/");
  ASSERT_TRUE(idx.ok());
  std::vector<std::string> keys;
  for (const auto& o : *idx) keys.push_back(o.key);
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"index/a1", "index/a2"}));
  auto data = store_->List("data/");
  ASSERT_TRUE(data.ok());
  ASSERT_EQ(data->size(), 2u);
  uint64_t total = 0;
  for (const auto& o : *data) total += o.size;
  EXPECT_EQ(total, 7u);
  EXPECT_TRUE(store_->List("snapshots/")->empty());
}

TEST_P(StoreConformance, OverwriteReplacesWhole) {
  ASSERT_TRUE(store_->Put("config", std::string(1000, 'a')).ok());
  ASSERT_TRUE(store_->Put("config", "b").ok());
  EXPECT_EQ(*store_->Get("config"), "b");
}

TEST_P(StoreConformance, DeleteIsIdempotent) {
  ASSERT_TRUE(store_->Put("locks/x", "1").ok());
  EXPECT_TRUE(store_->Delete("locks/x").ok());
  EXPECT_TRUE(store_->Get("locks/x").status().IsNotFound());
  EXPECT_TRUE(store_->Delete("locks/x").ok());
}

TEST_P(StoreConformance, ConcurrentPutsAllLand) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        std::string key = "data/" + std::to_string(t) + "/" + std::to_string(i);
        ASSERT_TRUE(store_->Put(key, key).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(store_->List("data/")->size(), 100u);
}

TEST_P(StoreConformance, EmptyObject) {
  ASSERT_TRUE(store_->Put("empty", "").ok());
  EXPECT_EQ(*store_->Get("empty"), "");
}

// Create-if-absent under contention: 8 writers put different bytes under the
// same key at the same moment, over and over. The contract (object_store.h):
// exactly one succeeds, every other one is told AlreadyExists, and the stored
// object is the winner's bytes, whole. A store that checked for existence and
// then wrote (two steps) would let two writers both succeed here, or keep a
// loser's bytes under a winner's OK (checked once with such a MemStore: two
// writers were told OK on the first key).
TEST_P(StoreConformance, CreateIfAbsentRaceHasExactlyOneWinner) {
  constexpr int kWriters = 8;
  constexpr int kKeys = 12;
  for (int k = 0; k < kKeys; ++k) {
    const std::string key = "race/" + std::to_string(k);
    std::vector<std::string> contents;
    for (int t = 0; t < kWriters; ++t) {
      // Different sizes too, so a torn or mixed object cannot pass for one.
      contents.push_back("writer " + std::to_string(t) + " of " + key + "\n" +
                         test::RandomBytes(20000 + 1000 * t, 1000 * k + t));
    }
    std::vector<Status> results(kWriters);
    std::latch start(kWriters);
    std::vector<std::thread> threads;
    for (int t = 0; t < kWriters; ++t) {
      threads.emplace_back([&, t] {
        start.arrive_and_wait();  // all at once
        results[t] = store_->PutIfAbsent(key, contents[t]);
      });
    }
    for (auto& th : threads) th.join();
    int winner = -1, winners = 0;
    for (int t = 0; t < kWriters; ++t) {
      if (results[t].ok()) {
        winner = t;
        ++winners;
      } else {
        EXPECT_EQ(results[t].code(), Code::kAlreadyExists)
            << key << " writer " << t << ": " << results[t].ToString();
      }
    }
    ASSERT_EQ(winners, 1) << key << ": writers told OK";
    auto got = store_->Get(key);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_TRUE(*got == contents[winner])
        << key << ": stored " << got->size() << " bytes starting \""
        << got->substr(0, got->find('\n')) << "\", but writer " << winner << " was told OK";
  }
}

// RetryStore over this backend, with a FaultStore in between to fail calls.
class RetryOver {
 public:
  explicit RetryOver(ObjectStore* base, RetryPolicy policy = FastRetries()) {
    auto fault = std::make_unique<FaultStore>(base);
    fault_ = fault.get();
    retry_ = std::make_unique<RetryStore>(std::move(fault), policy);
  }
  FaultStore& fault() { return *fault_; }
  ObjectStore& store() { return *retry_; }

 private:
  FaultStore* fault_;
  std::unique_ptr<RetryStore> retry_;
};

// One call of each operation through `s`, with its status.
struct OpCall {
  StoreOp op;
  std::function<Status(ObjectStore& s)> run;
};
std::vector<OpCall> EveryOperation() {
  return {
      {StoreOp::kPut, [](ObjectStore& s) { return s.Put("retry/put", "put"); }},
      {StoreOp::kPutIfAbsent, [](ObjectStore& s) { return s.PutIfAbsent("retry/pia", "pia"); }},
      {StoreOp::kGet,
       [](ObjectStore& s) {
         auto r = s.Get("retry/there");
         return r.ok() && *r != "0123456789" ? Status::Corruption("wrong bytes") : r.status();
       }},
      {StoreOp::kGetRange,
       [](ObjectStore& s) {
         auto r = s.GetRange("retry/there", 2, 3);
         return r.ok() && *r != "234" ? Status::Corruption("wrong bytes") : r.status();
       }},
      {StoreOp::kReadRangeInto,
       [](ObjectStore& s) {
         char out[3] = {};
         Status st = s.ReadRangeInto("retry/there", 4, 3, out);
         return st.ok() && std::string(out, 3) != "456" ? Status::Corruption("wrong bytes") : st;
       }},
      {StoreOp::kList,
       [](ObjectStore& s) {
         auto r = s.List("retry/t");
         return r.ok() && r->size() != 1 ? Status::Corruption("wrong list") : r.status();
       }},
      {StoreOp::kDelete, [](ObjectStore& s) { return s.Delete("retry/gone"); }},
      {StoreOp::kSize,
       [](ObjectStore& s) {
         auto r = s.Size("retry/there");
         return r.ok() && *r != 10 ? Status::Corruption("wrong size") : r.status();
       }},
  };
}

// A transient failure (Unavailable: a timeout, an OSD restarting) is retried
// until the call goes through, for every operation; the caller sees only the
// success, with the right result.
TEST_P(StoreConformance, RetryStoreRetriesTransientErrorsToSuccess) {
  ASSERT_TRUE(store_->Put("retry/there", "0123456789").ok());
  for (const OpCall& c : EveryOperation()) {
    RetryOver r(store_.get());
    const int kFailures = FastRetries().attempts - 1;  // the last attempt passes
    r.fault().FailCalls(c.op, 1, kFailures, Status::Unavailable("timed out"));
    Status s = c.run(r.store());
    EXPECT_TRUE(s.ok()) << StoreOpName(c.op) << ": " << s.ToString();
    EXPECT_EQ(r.fault().calls(c.op), kFailures + 1) << StoreOpName(c.op);
  }
  EXPECT_EQ(*store_->Get("retry/put"), "put");
  EXPECT_EQ(*store_->Get("retry/pia"), "pia");
}

// A permanent error is returned at once, unchanged: retrying a full disk, a
// refused permission or damaged data only delays the answer.
TEST_P(StoreConformance, RetryStoreDoesNotRetryPermanentErrors) {
  ASSERT_TRUE(store_->Put("retry/there", "0123456789").ok());
  const std::vector<Status> permanent = {
      Status::NoSpace("disk full"), Status::PermissionDenied("no"), Status::IOError("bad sector"),
      Status::Corruption("checksum"), Status::NotFound("gone")};
  for (const OpCall& c : EveryOperation()) {
    for (const Status& err : permanent) {
      RetryOver r(store_.get());
      r.fault().FailCalls(c.op, 1, 1, err);
      Status s = c.run(r.store());
      EXPECT_EQ(s.code(), err.code()) << StoreOpName(c.op) << ": " << s.ToString();
      EXPECT_EQ(r.fault().calls(c.op), 1) << StoreOpName(c.op) << " retried " << err.ToString();
    }
  }
  // A real NotFound from the backend is not retried either.
  RetryOver r(store_.get());
  EXPECT_TRUE(r.store().Get("retry/missing").status().IsNotFound());
  EXPECT_EQ(r.fault().calls(StoreOp::kGet), 1);
}

// A store that stays unavailable is given up on after policy.attempts calls,
// with the last error, and the attempts are spaced by the back-off (not a
// busy loop).
TEST_P(StoreConformance, RetryStoreGivesUpAfterTheAttemptsWithTheLastError) {
  ASSERT_TRUE(store_->Put("retry/there", "0123456789").ok());
  RetryPolicy policy;
  policy.attempts = 5;
  policy.first_delay = std::chrono::milliseconds(2);
  policy.max_delay = std::chrono::milliseconds(4);
  const auto min_wait = std::chrono::milliseconds(2 + 4 + 4 + 4);  // between the 5 attempts
  for (const OpCall& c : EveryOperation()) {
    RetryOver r(store_.get(), policy);
    r.fault().FailCalls(c.op, 1, INT_MAX, Status::Unavailable("cluster down"));
    const auto t0 = std::chrono::steady_clock::now();
    Status s = c.run(r.store());
    const auto waited = std::chrono::steady_clock::now() - t0;
    EXPECT_EQ(s.code(), Code::kUnavailable) << StoreOpName(c.op) << ": " << s.ToString();
    EXPECT_NE(s.message().find("cluster down"), std::string::npos) << s.ToString();
    EXPECT_EQ(r.fault().calls(c.op), policy.attempts) << StoreOpName(c.op);
    EXPECT_GE(waited, min_wait) << StoreOpName(c.op);
  }
}

// A create-if-absent that failed without writing anything is simply retried:
// the retry creates the object and the caller is told OK.
TEST_P(StoreConformance, RetryStoreCreateIfAbsentRetriedAfterAFailedAttemptSucceeds) {
  RetryOver r(store_.get());
  r.fault().FailCalls(StoreOp::kPutIfAbsent, 1, 2, Status::Unavailable("timed out"));
  Status s = r.store().PutIfAbsent("config", "ours");
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(r.fault().calls(StoreOp::kPutIfAbsent), 3);
  EXPECT_EQ(*store_->Get("config"), "ours");
}

// Retrying must not turn someone else's object into ours: when the key
// already holds other bytes, a retried create-if-absent is still refused.
TEST_P(StoreConformance, RetryStoreCreateIfAbsentOfAnotherWritersKeyStaysAlreadyExists) {
  ASSERT_TRUE(store_->PutIfAbsent("config", "theirs").ok());
  RetryOver r(store_.get());
  r.fault().FailCalls(StoreOp::kPutIfAbsent, 1, 1, Status::Unavailable("timed out"));
  Status s = r.store().PutIfAbsent("config", "ours");
  EXPECT_EQ(s.code(), Code::kAlreadyExists) << s.ToString();
  EXPECT_EQ(*store_->Get("config"), "theirs");
}

// A create-if-absent applied but whose reply was lost (Unavailable, as a
// RADOS timeout after the OSD committed the write): the retry finds the key,
// and RetryStore, having retried, compares the stored bytes with ours, so the
// caller is not told someone else created it (`init` on rados:// used to fail
// with "already holds a repository" for the one it had just made). Failed on
// every backend before the fix in retry_store.cc.
TEST_P(StoreConformance, RetryStoreCreateIfAbsentWhoseReplyWasLostIsNotAlreadyExists) {
  RetryOver r(store_.get());
  r.fault().FailCalls(StoreOp::kPutIfAbsent, 1, 1, Status::Unavailable("timed out"),
                      FaultStore::Apply::kYes);
  Status s = r.store().PutIfAbsent("config", "ours");
  EXPECT_EQ(r.fault().calls(StoreOp::kPutIfAbsent), 2);
  EXPECT_TRUE(s.ok()) << "our own write reported as: " << s.ToString();
  EXPECT_EQ(*store_->Get("config"), "ours");
}

INSTANTIATE_TEST_SUITE_P(AllBackends, StoreConformance, ::testing::ValuesIn(Backends()),
                         [](const auto& info) { return info.param.name; });

TEST(DirStore, LeftoverTempFilesAreInvisibleAndOldOnesAreRemoved) {
  test::TempDir dir("dirstore");
  DirStore store(dir.path());
  ASSERT_TRUE(store.Put("data/ab/real", "x").ok());
  test::WriteFile(dir / "data/ab/.tmp.123.0.1", "half-written two days ago");
  test::WriteFile(dir / "data/ab/.tmp.456.0.1", "a Put still running");
  struct timespec old[2] = {{::time(nullptr) - 2 * 86400, 0}, {::time(nullptr) - 2 * 86400, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (dir / "data/ab/.tmp.123.0.1").c_str(), old, 0), 0);
  EXPECT_EQ(store.List("data/")->size(), 1u);
  auto removed = store.RemoveLeftovers(std::chrono::hours(24));
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 1);
  EXPECT_FALSE(std::filesystem::exists(dir / "data/ab/.tmp.123.0.1"));
  EXPECT_TRUE(std::filesystem::exists(dir / "data/ab/.tmp.456.0.1"));
  EXPECT_EQ(*store.Get("data/ab/real"), "x");
}

TEST(DirStore, FullDiskIsNoSpaceAndLeavesNothing) {
  if (!test::IsRoot()) GTEST_SKIP() << "needs root to mount a small tmpfs";
  test::TempDir dir("full");
  ASSERT_EQ(test::RunShell("mount -t tmpfs -o size=1m tmpfs " + dir.path()).exit_code, 0);
  {
    DirStore store(dir.path());
    Status s = store.Put("data/ab/big", test::RandomBytes(2 << 20, 9));
    EXPECT_EQ(s.code(), Code::kNoSpace) << s.ToString();
    EXPECT_TRUE(store.Get("data/ab/big").status().IsNotFound());
    EXPECT_EQ(test::RunShell("ls -A " + dir.path() + "/data/ab").out, "");
  }
  test::RunShell("umount " + dir.path());
}

TEST(FaultStore, FailsFromTheNthPut) {
  MemStore mem;
  FaultStore faulty(&mem);
  faulty.FailPutsFrom(3, Status::NoSpace("disk full"));
  EXPECT_TRUE(faulty.Put("a", "1").ok());
  EXPECT_TRUE(faulty.Put("b", "2").ok());
  EXPECT_EQ(faulty.Put("c", "3").code(), Code::kNoSpace);
  EXPECT_TRUE(mem.Get("c").status().IsNotFound());
}

TEST(FaultStore, FailsTheNthCallsOfOneOperationOnly) {
  MemStore mem;
  FaultStore faulty(&mem);
  ASSERT_TRUE(mem.Put("data/k7", "v").ok());
  faulty.FailCalls(StoreOp::kGet, 2, 2, Status::Unavailable("timed out"));
  EXPECT_TRUE(faulty.Get("data/k7").ok());
  EXPECT_EQ(faulty.Get("data/k7").status().code(), Code::kUnavailable);
  auto third = faulty.Get("data/k7");
  EXPECT_EQ(third.status().code(), Code::kUnavailable);
  EXPECT_NE(third.status().message().find("data/k7"), std::string::npos);  // names the key
  EXPECT_TRUE(faulty.Get("data/k7").ok());
  EXPECT_EQ(faulty.calls(StoreOp::kGet), 4);
  EXPECT_TRUE(faulty.Size("data/k7").ok());  // other operations are not affected
  EXPECT_TRUE(faulty.GetRange("data/k7", 0, 1).ok());
  EXPECT_EQ(faulty.calls(StoreOp::kSize), 1);
}

TEST(FaultStore, FailsAfterApplyingOnlyWhenAsked) {
  MemStore mem;
  FaultStore faulty(&mem);
  faulty.FailCalls(StoreOp::kPutIfAbsent, 1, 1, Status::Unavailable("lost"));
  EXPECT_EQ(faulty.PutIfAbsent("a", "1").code(), Code::kUnavailable);
  EXPECT_TRUE(mem.Get("a").status().IsNotFound());  // nothing written
  faulty.FailCalls(StoreOp::kPutIfAbsent, 1, 1, Status::Unavailable("lost"),
                   FaultStore::Apply::kYes);
  EXPECT_EQ(faulty.PutIfAbsent("b", "2").code(), Code::kUnavailable);
  EXPECT_EQ(*mem.Get("b"), "2");  // written, but the caller was told otherwise
  faulty.FailCalls(StoreOp::kDelete, 1, 1, Status::Unavailable("lost"), FaultStore::Apply::kYes);
  EXPECT_EQ(faulty.Delete("b").code(), Code::kUnavailable);
  EXPECT_TRUE(mem.Get("b").status().IsNotFound());
}

TEST(FaultStore, PrefixLimitsWhichKeysCountAndFail) {
  MemStore mem;
  FaultStore faulty(&mem);
  faulty.OnlyKeysWithPrefix("data/");
  faulty.FailCalls(StoreOp::kPut, 1, INT_MAX, Status::IOError("bad disk"));
  EXPECT_TRUE(faulty.Put("index/x", "1").ok());
  EXPECT_EQ(faulty.Put("data/x", "1").code(), Code::kIOError);
  EXPECT_EQ(faulty.puts_seen(), 1);
}

}  // namespace
}  // namespace dr
