// Retention locks as forget and retention see them (catalog/retention_lock.h).
#include <gtest/gtest.h>

#include <map>

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

TEST(RetentionLock, APolicysLockForLocksEachSnapshotStillWithinItAndNeverShortensALock) {
  MemStore store;
  const int64_t now = 1000 * kLockDay;
  std::vector<Snapshot> snaps(4);
  for (int i = 0; i < 4; ++i) {
    snaps[i].id = SnapshotIdOf(static_cast<uint8_t>(i + 1));
    snaps[i].policy = "ledger";
    snaps[i].time_ns = now - (4 - i) * kLockDay;  // 4, 3, 2 and 1 days old
    ASSERT_TRUE(store.Put(SnapshotKey(snaps[i].id), "snapshot").ok());
  }
  // An operator's lock on the 2-day-old one already runs longer.
  ASSERT_TRUE(AddRetentionLock(store, snaps[2].id, now + 30 * kLockDay, "audit", now).ok());
  RetentionRules rules;
  rules.last = 1;
  rules.lock_for_s = 3 * 86400 - 60;  // just under 3 days
  std::vector<const Snapshot*> group = {&snaps[0], &snaps[1], &snaps[2], &snaps[3]};

  // A dry run shows what the locks will keep, and writes none.
  auto dry = ApplyGroupRetention(store, group, rules, now, true);
  ASSERT_TRUE(dry.ok()) << dry.status().message();
  EXPECT_TRUE(ListRetentionLocks(store)->size() == 1);
  auto decisions = ApplyGroupRetention(store, group, rules, now, false);
  ASSERT_TRUE(decisions.ok()) << decisions.status().message();
  for (const auto* d : {&*dry, &*decisions}) {
    std::map<Id, bool> keep;
    for (const auto& x : *d) keep[x.id] = x.keep;
    EXPECT_FALSE(keep[snaps[0].id]);  // 4 days: past its lock, and not the last
    EXPECT_FALSE(keep[snaps[1].id]);  // 3 days: its lock ran out a minute ago
    EXPECT_TRUE(keep[snaps[2].id]);
    EXPECT_TRUE(keep[snaps[3].id]);
  }
  auto locks = ListRetentionLocks(store);
  ASSERT_TRUE(locks.ok());
  EXPECT_EQ(locks->size(), 2u);
  EXPECT_EQ(locks->at(snaps[2].id), now + 30 * kLockDay);  // not shortened
  EXPECT_EQ(locks->at(snaps[3].id), snaps[3].time_ns + rules.lock_for_s * 1'000'000'000);
  auto objects = store.List(kRetentionLockPrefix);
  ASSERT_TRUE(objects.ok());
  EXPECT_EQ(objects->size(), 2u);  // no second, shorter lock for snaps[2]
  // The policy is the reason, for whoever lists the locks.
  const std::string body = *store.Get(RetentionLockKey(snaps[3].id, locks->at(snaps[3].id)));
  EXPECT_NE(body.find("policy ledger: lock-for 2d23h59m"), std::string::npos) << body;
  // And the lock holds against a forget like any other.
  EXPECT_EQ(ForgetSnapshot(store, snaps[3].id, now).code(), Code::kPermissionDenied);
  // A second pass adds nothing.
  ASSERT_TRUE(ApplyGroupRetention(store, {&snaps[2], &snaps[3]}, rules, now, false).ok());
  EXPECT_EQ(store.List(kRetentionLockPrefix)->size(), 2u);
}

}  // namespace
}  // namespace dr
