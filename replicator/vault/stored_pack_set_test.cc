// StoredPackSet (replicator/vault/stored_pack_set.h): a keyless site checks
// each summary's packs without listing its store every time, yet never
// calls a pack stored that a prune deleted since it looked.
#include "replicator/vault/stored_pack_set.h"

#include <gtest/gtest.h>

#include "catalog/format/pack.h"
#include "catalog/store/testing/fault_store.h"
#include "catalog/store/testing/mem_store.h"

namespace dr {
namespace {

Id PackNumbered(int n) {
  Id id;
  id.b[0] = static_cast<uint8_t>(n);
  id.b[15] = 0x5a;
  return id;
}

TEST(StoredPackSet, ListsOnceThenAgainOnlyAfterAPruneOrAnUnseenPack) {
  MemStore mem;
  FaultStore store(&mem);
  for (int n : {1, 2, 3}) ASSERT_TRUE(mem.Put(PackKey(PackNumbered(n)), "pack").ok());
  StoredPackSet set;
  Id first;
  const std::vector<Id> one_two = {PackNumbered(1), PackNumbered(2)};
  EXPECT_EQ(*set.Missing(&store, 0, one_two, &first), 0u);
  EXPECT_EQ(*set.Missing(&store, 0, one_two, &first), 0u);
  EXPECT_EQ(store.calls(StoreOp::kList), 1);

  // A pack the peer puts is known without a listing.
  ASSERT_TRUE(mem.Put(PackKey(PackNumbered(4)), "pack").ok());
  set.Stored(PackKey(PackNumbered(4)));
  set.Stored("index/00ff");  // not a pack: ignored
  EXPECT_EQ(*set.Missing(&store, 0, {PackNumbered(4)}, &first), 0u);
  EXPECT_EQ(store.calls(StoreOp::kList), 1);

  // A pack not seen: listed again, and named when it is really missing.
  EXPECT_EQ(*set.Missing(&store, 0, {PackNumbered(1), PackNumbered(9)}, &first), 1u);
  EXPECT_EQ(first, PackNumbered(9));
  EXPECT_EQ(store.calls(StoreOp::kList), 2);

  // A prune deleted pack 2 and closed the gate: the set does not trust
  // what it saw before.
  ASSERT_TRUE(mem.Delete(PackKey(PackNumbered(2))).ok());
  EXPECT_EQ(*set.Missing(&store, 1, one_two, &first), 1u);
  EXPECT_EQ(first, PackNumbered(2));
  EXPECT_EQ(store.calls(StoreOp::kList), 3);

  // A listing that fails is an error, and the next call lists again.
  store.FailCalls(StoreOp::kList, 1, 1, Status::IOError("listing cut"));
  EXPECT_FALSE(set.Missing(&store, 2, one_two, &first).ok());
  EXPECT_EQ(*set.Missing(&store, 2, {PackNumbered(1)}, &first), 0u);
}

}  // namespace
}  // namespace dr
