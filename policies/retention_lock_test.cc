// Retention locks as forget and retention see them (catalog/retention_lock.h).
#include <gtest/gtest.h>

#include "catalog/format/snapshot.h"
#include "catalog/retention_lock.h"
#include "catalog/store/testing/mem_store.h"
#include "policies/snapshot_groups.h"

namespace dr {
namespace {

constexpr int64_t kLockDay = 86400LL * 1'000'000'000;

Id SnapshotIdOf(uint8_t b) {
  Id id;
  id.b.fill(b);
  return id;
}

TEST(RetentionLock, ForgetRefusesALockedSnapshotAndRetentionKeepsIt) {
  MemStore store;
  const int64_t now = 1000 * kLockDay;
  std::vector<Snapshot> snaps(3);
  for (int i = 0; i < 3; ++i) {
    snaps[i].id = SnapshotIdOf(static_cast<uint8_t>(i + 1));
    snaps[i].time_ns = now - (3 - i) * kLockDay;
    ASSERT_TRUE(store.Put(SnapshotKey(snaps[i].id), "snapshot").ok());
  }
  ASSERT_TRUE(AddRetentionLock(store, snaps[0].id, now + kLockDay, "", now).ok());
  Status forget = ForgetSnapshot(store, snaps[0].id, now);
  EXPECT_EQ(forget.code(), Code::kPermissionDenied);
  EXPECT_NE(forget.message().find("locked until"), std::string::npos);
  EXPECT_TRUE(store.Size(SnapshotKey(snaps[0].id)).ok());

  RetentionRules keep_last_one;
  keep_last_one.last = 1;
  std::vector<const Snapshot*> group = {&snaps[0], &snaps[1], &snaps[2]};
  auto decisions = ApplyGroupRetention(store, group, keep_last_one, now, false);
  ASSERT_TRUE(decisions.ok()) << decisions.status().message();
  int kept = 0;
  for (const auto& d : *decisions) {
    if (d.id == snaps[0].id) {
      EXPECT_TRUE(d.keep);
      ASSERT_FALSE(d.reasons.empty());
      EXPECT_NE(d.reasons.front().find("locked until"), std::string::npos);
    }
    kept += d.keep;
  }
  EXPECT_EQ(kept, 2);  // the newest and the locked one
  EXPECT_TRUE(store.Size(SnapshotKey(snaps[0].id)).ok());
  EXPECT_FALSE(store.Size(SnapshotKey(snaps[1].id)).ok());
  // Once the lock has run out, the snapshot goes like any other.
  EXPECT_TRUE(ForgetSnapshot(store, snaps[0].id, now + 2 * kLockDay).ok());
}

}  // namespace
}  // namespace dr
