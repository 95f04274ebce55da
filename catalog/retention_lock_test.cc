#include "catalog/retention_lock.h"

#include <gtest/gtest.h>

#include "catalog/format/snapshot.h"
#include "catalog/store/testing/mem_store.h"

namespace dr {
namespace {

constexpr int64_t kLockTestDay = 86400LL * 1'000'000'000;

Id LockTestId(uint8_t b) {
  Id id;
  id.b.fill(b);
  return id;
}

TEST(RetentionLock, LocksOnlyExtendAndNeverExpireIntoThePast) {
  MemStore store;
  const Id id = LockTestId(7);
  const int64_t now = 1000 * kLockTestDay;
  // No snapshot, no lock.
  EXPECT_EQ(AddRetentionLock(store, id, now + kLockTestDay, "", now).code(), Code::kNotFound);
  ASSERT_TRUE(store.Put(SnapshotKey(id), "snapshot").ok());
  ASSERT_TRUE(store.Put(SnapshotKey(LockTestId(9)), "snapshot").ok());
  EXPECT_EQ(*RetentionLockOf(store, id), std::nullopt);
  // A reason longer than a replicating peer takes.
  EXPECT_EQ(AddRetentionLock(store, id, now + kLockTestDay, std::string(2000, 'r'), now).code(),
            Code::kInvalidArgument);
  ASSERT_TRUE(AddRetentionLock(store, id, now + 30 * kLockTestDay, "audit", now).ok());
  EXPECT_EQ(*RetentionLockOf(store, id), now + 30 * kLockTestDay);
  // Shorter or equal: refused, naming the lock held.
  Status shorter = AddRetentionLock(store, id, now + 10 * kLockTestDay, "", now);
  EXPECT_EQ(shorter.code(), Code::kInvalidArgument);
  EXPECT_NE(shorter.message().find("can only be extended"), std::string::npos);
  EXPECT_FALSE(AddRetentionLock(store, id, now - 1, "", now).ok());
  ASSERT_TRUE(AddRetentionLock(store, id, now + 90 * kLockTestDay, "", now).ok());
  EXPECT_EQ(*RetentionLockOf(store, id), now + 90 * kLockTestDay);
  // The earlier lock object stays: extending never replaces anything.
  EXPECT_EQ(store.List(kRetentionLockPrefix)->size(), 2u);

  // A stray object under the prefix is skipped, another snapshot's lock is
  // its own.
  ASSERT_TRUE(store.Put(std::string(kRetentionLockPrefix) + "garbage", "x").ok());
  ASSERT_TRUE(AddRetentionLock(store, LockTestId(9), now + kLockTestDay, "", now).ok());
  auto all = ListRetentionLocks(store);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2u);
  EXPECT_EQ(all->at(id), now + 90 * kLockTestDay);
}

}  // namespace
}  // namespace dr
