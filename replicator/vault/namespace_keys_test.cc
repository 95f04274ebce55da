// Encrypted namespaces at a vault (replicator/vault/namespace_keys.h): the
// key operations drvault runs, the rotation mark a running vault watches,
// and the refusal of a keyring rolled back below it.
#include "replicator/vault/namespace_keys.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "catalog/store/object_store.h"
#include "replicator/vault/enrolment.h"
#include "tests/test_util.h"

namespace dr {
namespace {

class NamespaceKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.state_dir = dir_ / "state";
    config_.repository = "dir://" + dir_ / "repo";
    std::filesystem::create_directories(config_.state_dir);
    store_ = NewStore();
    ASSERT_TRUE(
        CreateEncryptedNamespace(config_, "finance", store_.get(), dir_ / "escrow.key").ok());
  }
  std::unique_ptr<ObjectStore> NewStore() {
    auto url = NamespaceRepositoryUrl(config_.repository, "finance");
    EXPECT_TRUE(url.ok());
    EXPECT_TRUE(CreateRepositoryDirectory(*url).ok());
    auto store = OpenObjectStore(*url);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return std::move(store).value();
  }
  uint32_t CurrentKey() {
    auto repo = OpenNamespaceRepository(config_, "finance");
    EXPECT_TRUE(repo.ok()) << repo.status().ToString();
    return repo.ok() ? (*repo)->keyring()->current() : 0;
  }

  test::TempDir dir_{"namespace-keys"};
  VaultConfig config_;
  std::unique_ptr<ObjectStore> store_;
};

TEST_F(NamespaceKeysTest, ARotationMovesTheMarkAndARolledBackKeyringIsRefused) {
  EXPECT_EQ(ReadKeysRotatedMark(config_, "finance"), KeysRotatedMark{});
  auto two = RotateNamespaceDataKey(config_, "finance", store_.get());
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  EXPECT_EQ(*two, 2u);
  const KeysRotatedMark after_two = ReadKeysRotatedMark(config_, "finance");
  EXPECT_EQ(after_two.data_key, 2u);
  EXPECT_NE(after_two.inode, 0u);
  ASSERT_TRUE(RotateNamespaceDataKey(config_, "finance", store_.get()).ok());
  const KeysRotatedMark after_three = ReadKeysRotatedMark(config_, "finance");
  EXPECT_EQ(after_three.data_key, 3u);
  EXPECT_NE(after_three, after_two);  // a new file: a running vault sees it
  EXPECT_EQ(CurrentKey(), 3u);

  auto repo = OpenNamespaceRepository(config_, "finance");
  ASSERT_TRUE(repo.ok());
  EXPECT_TRUE(CheckNotRolledBack(config_, "finance", after_three, (*repo)->keyring()).ok());
  ASSERT_TRUE(store_->Delete("keyring/0000000000000003").ok());
  auto rolled_back = OpenNamespaceRepository(config_, "finance");
  ASSERT_TRUE(rolled_back.ok());
  Status refused = CheckNotRolledBack(config_, "finance", after_three, (*rolled_back)->keyring());
  EXPECT_EQ(refused.code(), Code::kCorruption);
  EXPECT_NE(refused.message().find("ends at data key 2, but this vault rotated it to data key 3"),
            std::string::npos)
      << refused.message();
  EXPECT_NE(refused.message().find("put back keyring/0000000000000003"), std::string::npos)
      << refused.message();
  // Nor is a new key 3 made over it: what the lost key 3 sealed would then
  // fail to open as forged.
  auto again = RotateNamespaceDataKey(config_, "finance", store_.get());
  EXPECT_EQ(again.status().code(), Code::kCorruption) << again.status().ToString();
  EXPECT_TRUE(store_->Get("keyring/0000000000000003").status().IsNotFound());
}

TEST_F(NamespaceKeysTest, SlotsComeAndGoButNeverTheVaultsOwn) {
  SlotSpec ops;
  ops.key_file = dir_ / "ops.key";
  ops.label = "ops";
  auto added = AddNamespaceKeySlot(config_, "finance", store_.get(), ops);
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  auto slots = ListSlots(store_.get());
  ASSERT_TRUE(slots.ok());
  ASSERT_EQ(slots->size(), 2u);
  const std::string vault_slot = (*slots)[0].id == *added ? (*slots)[1].id : (*slots)[0].id;
  auto own = RemoveNamespaceKeySlot(config_, "finance", store_.get(), vault_slot);
  EXPECT_EQ(own.status().code(), Code::kInvalidArgument) << own.status().ToString();
  auto removed = RemoveNamespaceKeySlot(config_, "finance", store_.get(), added->substr(0, 5));
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(*removed, *added);  // the whole id, for the audit log
  EXPECT_EQ(ListSlots(store_.get())->size(), 1u);
  EXPECT_EQ(CurrentKey(), 1u);  // slots do not touch the keyring
}

// A namespace made again under the same name (its store emptied) starts at
// data key 1: the old repository's mark is set aside with its key file.
TEST_F(NamespaceKeysTest, ANewRepositoryOfTheSameNameIsNotCalledRolledBack) {
  ASSERT_TRUE(RotateNamespaceDataKey(config_, "finance", store_.get()).ok());
  store_.reset();
  std::filesystem::remove_all(dir_ / "repo");
  store_ = NewStore();
  ASSERT_TRUE(
      CreateEncryptedNamespace(config_, "finance", store_.get(), dir_ / "escrow-2.key").ok());
  EXPECT_EQ(ReadKeysRotatedMark(config_, "finance"), KeysRotatedMark{});
  auto repo = OpenNamespaceRepository(config_, "finance");
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  EXPECT_TRUE(CheckNotRolledBack(config_, "finance", ReadKeysRotatedMark(config_, "finance"),
                                 (*repo)->keyring())
                  .ok());
  bool set_aside = false;
  for (const auto& e : std::filesystem::directory_iterator(config_.state_dir + "/keys"))
    if (e.path().filename().string().rfind("finance.rotated.unused-", 0) == 0) set_aside = true;
  EXPECT_TRUE(set_aside);
}

}  // namespace
}  // namespace dr
