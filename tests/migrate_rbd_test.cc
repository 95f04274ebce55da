// drctl migrate of a block device into an RBD image on the dev Ceph cluster:
// an ext4 file system on a loop device, in use between the syncs, cut over
// with the file system unmounted by the quiesce hook.
#include <unistd.h>

#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "tests/block_test_util.h"
#include "tests/test_util.h"

namespace dr {
namespace {

using test::Json;
using test::kMiB;
using test::LoopDevice;
using test::Mount;

TEST(MigrateRbd, AnExt4DeviceMigratedToRbdMatchesTheDeviceAtCutover) {
  REQUIRE_LOOP_DEVICES("ext4");
  const std::string rados = test::RadosTestUrl("migrate-rbd");
  DR_REQUIRE_RADOS(rados);
  const std::string conf = std::getenv("CEPH_CONF"), id = std::getenv("DR_TEST_RADOS_ID"),
                    pool = std::getenv("DR_TEST_RADOS_POOL");
  test::TempDir dir("migrate-rbd");
  const std::string repo = dir / "repo", plan = dir / "plan.yaml";
  ASSERT_EQ(test::RunDrctl({"-q", "-r", repo, "init"}).exit_code, 0);
  const std::string backing = dir / "ext4.img";
  test::WriteAt(backing, 64 * kMiB - 1, std::string(1, '\0'));
  LoopDevice loop(backing);
  ASSERT_FALSE(loop.dev().empty());
  ASSERT_EQ(test::RunShell("mkfs.ext4 -q -E lazy_itable_init=0,lazy_journal_init=0 " + loop.dev())
                .exit_code,
            0);
  const std::string mnt = dir / "mnt";
  std::filesystem::create_directories(mnt);
  ASSERT_EQ(test::RunShell("mount -t ext4 " + loop.dev() + " '" + mnt + "'").exit_code, 0);
  test::FillFiles(mnt, 1, 20);

  const std::string image = "drtest-migrate-" + std::to_string(::getpid()) + "-" +
                            std::to_string(std::random_device{}() % 100000);
  const std::string url = "rbd://" + pool + "/" + image + "?conf=" + conf + "&id=" + id;
  const std::string rbd = "rbd -c " + conf + " --id " + id + " -p " + pool + " ";
  std::ofstream(plan) << "migration: rbd-move\nrepository: " << repo << "\nstate: " << dir / "state"
                      << "\nsystems:\n  - name: records-db\n    department: records\n"
                      << "    cloud: public-service\n    sources:\n      devices: [" << loop.dev()
                      << "]\n    target:\n      rbd: " << url << "\n    hooks:\n"
                      << "      quiesce: umount " << mnt << "\n      rollback: mount -t ext4 "
                      << loop.dev() << " " << mnt << "\n";
  auto migrate = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--json", "migrate", "--plan", plan});
    return test::RunDrctl(args);
  };

  // Synced twice while in use; the second sync writes only the blocks that
  // changed (a few files' worth, not the 64 MiB device).
  auto first = Json(migrate({"sync", "records-db"}));
  ASSERT_TRUE(first.is_array()) << first;
  const int first_blocks = first[0]["blocks_written"];
  test::FillFiles(mnt + "/more", 2, 3);
  ASSERT_EQ(test::RunShell("sync").exit_code, 0);
  auto second = Json(migrate({"sync", "records-db"}));
  ASSERT_TRUE(second.is_array()) << second;
  const int second_blocks = second[0]["blocks_written"];
  EXPECT_GT(second_blocks, 0);
  EXPECT_LT(second_blocks, first_blocks) << first << second;

  test::WriteFile(mnt + "/last-words", "written right before the cutover");
  auto cut = migrate({"cutover", "records-db", "--ignore-window"});
  ASSERT_EQ(cut.exit_code, 0) << cut.out << cut.err;
  auto report = Json(cut);
  EXPECT_TRUE(report["cutover"]["verified"].get<bool>()) << report;
  // The RBD image, exported, is the device as the quiesce left it.
  auto exported = test::RunShell(rbd + "export " + image + " '" + dir / "cloud.img" + "' 2>&1");
  ASSERT_EQ(exported.exit_code, 0) << exported.out;
  ASSERT_EQ(test::RunShell("cp " + loop.dev() + " '" + dir / "device.img'").exit_code, 0);
  EXPECT_TRUE(test::SameBytes(dir / "device.img", dir / "cloud.img"));
  (void)test::RunShell(rbd + "rm " + image + " >/dev/null 2>&1");
}

}  // namespace
}  // namespace dr
