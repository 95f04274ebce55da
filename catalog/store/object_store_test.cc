// One conformance suite, run against every ObjectStore backend.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <thread>

#include "catalog/store/dir_store.h"
#include "catalog/store/testing/fault_store.h"
#include "catalog/store/testing/mem_store.h"
#include "tests/test_util.h"

namespace dr {
namespace {

struct Backend {
  std::string name;
  std::function<std::unique_ptr<ObjectStore>(const std::string& dir)> make;
};

class MemInFault : public FaultStore {
 public:
  MemInFault() : FaultStore(&mem_) {}

 private:
  MemStore mem_;
};

std::vector<Backend> Backends() {
  return {
      {"dir", [](const std::string& d) { return std::make_unique<DirStore>(d + "/repo"); }},
      {"mem", [](const std::string&) { return std::make_unique<MemStore>(); }},
      {"fault_passthrough", [](const std::string&) { return std::make_unique<MemInFault>(); }},
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

}  // namespace
}  // namespace dr
