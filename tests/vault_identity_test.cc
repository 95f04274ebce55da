// A backup-only agent against the vault's trust boundary: it may write its
// own snapshots and read back only what it wrote. It must not be able to plant
// data in another agent's backups (a forged snapshot claiming the other host,
// a parent it did not write, a far-future time), nor read their trees, their
// snapshots or the repository config. Real drvault and dragent processes.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "catalog/format/snapshot.h"
#include "catalog/format/tree.h"
#include "catalog/repository.h"
#include "catalog/store/object_store.h"
#include "core/timefmt.h"
#include "replicator/wire/curve_keys.h"
#include "replicator/wire/protocol.h"
#include "replicator/wire/vault_client.h"
#include "tests/test_util.h"
#include "tests/vault_harness.h"

namespace dr {
namespace {

using test::AgentKey;
using test::VaultSite;

class VaultIdentity : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_ / "vault");
    vault_ =
        std::make_unique<VaultSite>(dir_ / "vault", test::TestPort(6),
                                    VaultSite::Options{"dir://" + dir_ / "repo", 32, "", "", ""});
    victim_ = test::MakeAgentKey(dir_.path(), "victim");
    mallory_ = test::MakeAgentKey(dir_.path(), "mallory");
    vault_->Enrol("victim", victim_.pub_file, "finance", "backup,restore");
    vault_->Enrol("mallory", mallory_.pub_file, "finance", "backup");
    vault_->Start();
  }

  std::unique_ptr<VaultClient> Connect(const AgentKey& key) {
    auto client = vault_->Connect(key, "finance");
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return client.ok() ? std::move(client).value() : nullptr;
  }

  // The snapshots of the namespace, read straight from the vault's repository.
  std::vector<Snapshot> Stored() {
    auto store = OpenObjectStore(vault_->RepositoryOf("finance"));
    EXPECT_TRUE(store.ok());
    auto repo = Repository::Open(std::move(store).value());
    EXPECT_TRUE(repo.ok());
    auto all = (*repo)->ListSnapshots();
    EXPECT_TRUE(all.ok());
    return all.ok() ? *all : std::vector<Snapshot>{};
  }

  // A tree of one file whose chunk the agent sends with it; returns its id.
  Id SendOwnTree(VaultClient& client, const std::string& content) {
    KeyedHasher hasher(client.welcome().secret);
    const Id chunk = hasher.Hash(content);
    EXPECT_TRUE(client
                    .SendBlob(wire::Blob{0, BlobType::kData, chunk,
                                         static_cast<uint32_t>(content.size()), content})
                    .ok());
    Tree tree;
    Node file;
    file.name = "passwd";
    file.type = NodeType::kFile;
    file.mode = 0644;
    file.size = content.size();
    file.content.push_back({false, content.size(), chunk});
    file.digest = hasher.Hash(content);
    tree.nodes.push_back(file);
    const std::string raw = EncodeTree(tree);
    const Id tree_id = hasher.Hash(raw);
    EXPECT_TRUE(client
                    .SendBlob(wire::Blob{0, BlobType::kTree, tree_id,
                                         static_cast<uint32_t>(raw.size()), raw})
                    .ok());
    EXPECT_TRUE(client.WaitBlobsAcked().ok());
    return tree_id;
  }

  Result<wire::Message> Commit(VaultClient& client, const Snapshot& s) {
    return client.Call(wire::Commit{0, EncodeSnapshot(s)});
  }

  test::TempDir dir_{"vault-identity"};
  std::unique_ptr<VaultSite> vault_;
  AgentKey victim_, mallory_;
};

TEST_F(VaultIdentity, ABackupOnlyAgentCannotReadOrBuildOnAnotherAgentsSnapshots) {
  const std::string src = dir_ / "src";
  std::filesystem::create_directories(src);
  test::WriteFile(src + "/secret", "the victim's data");
  auto r = vault_->Agent(victim_, "finance", {"backup", src, "--host", "victimhost"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto stored = Stored();
  ASSERT_EQ(stored.size(), 1u);
  const Snapshot victim_snap = stored[0];
  EXPECT_EQ(victim_snap.identity, "victim");
  ASSERT_TRUE(victim_snap.agent_time_ns.has_value());

  auto mallory = Connect(mallory_);
  ASSERT_TRUE(mallory);
  EXPECT_EQ(mallory->welcome().identity, "mallory");
  // Nothing of the victim's is readable: not its snapshot, not its trees,
  // not the config, and the listing does not show it.
  auto get = mallory->Call(wire::Get{0, SnapshotKey(victim_snap.id), 0, 1 << 20});
  EXPECT_EQ(get.status().code(), Code::kPermissionDenied) << get.status().ToString();
  auto tree = mallory->Call(wire::GetTree{0, victim_snap.tree});
  EXPECT_EQ(tree.status().code(), Code::kPermissionDenied) << tree.status().ToString();
  auto config = mallory->Call(wire::Get{0, "config", 0, 1 << 20});
  EXPECT_EQ(config.status().code(), Code::kPermissionDenied) << config.status().ToString();
  auto list = mallory->Call(wire::List{0, "snapshots/", ""});
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_TRUE(std::get<wire::Listing>(*list).entries.empty());

  // Forgeries are refused: the victim's host, the victim's snapshot as
  // parent, a time far ahead.
  const Id own_tree = SendOwnTree(*mallory, "mallory's planted bytes");
  Snapshot forged;
  forged.time_ns = NowUnixNs();
  forged.host = "victimhost";
  forged.paths = {src};
  forged.tree = own_tree;
  auto c = Commit(*mallory, forged);
  EXPECT_EQ(c.status().code(), Code::kPermissionDenied) << c.status().ToString();
  EXPECT_NE(c.status().message().find("is backed up by agent 'victim'"), std::string::npos);
  forged.host = "malloryhost";
  forged.parent = victim_snap.id;
  c = Commit(*mallory, forged);
  EXPECT_EQ(c.status().code(), Code::kPermissionDenied) << c.status().ToString();
  forged.parent.reset();
  forged.time_ns = NowUnixNs() + 48 * 3600 * 1000000000LL;
  c = Commit(*mallory, forged);
  EXPECT_EQ(c.status().code(), Code::kInvalidArgument) << c.status().ToString();

  // A commit within the allowed skew is stamped with the vault's clock and
  // mallory's identity; sent again, it is the same snapshot.
  const int64_t before = NowUnixNs();
  forged.time_ns = before + 30LL * 60 * 1000000000LL;
  c = Commit(*mallory, forged);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const Id mallory_id = std::get<wire::Committed>(*c).snapshot;
  auto again = Commit(*mallory, forged);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(std::get<wire::Committed>(*again).snapshot, mallory_id);
  stored = Stored();
  ASSERT_EQ(stored.size(), 2u);
  const Snapshot& m = stored[0].id == mallory_id ? stored[0] : stored[1];
  EXPECT_EQ(m.identity, "mallory");
  EXPECT_EQ(m.agent_time_ns, forged.time_ns);
  EXPECT_GE(m.time_ns, before);
  EXPECT_LT(m.time_ns, forged.time_ns);
  // Its own snapshot, and the trees below it, mallory may read.
  ASSERT_TRUE(mallory->Call(wire::Get{0, SnapshotKey(mallory_id), 0, 1 << 20}).ok());
  EXPECT_TRUE(mallory->Call(wire::GetTree{0, own_tree}).ok());

  // The victim's next backup builds on its own snapshot only, and restore
  // by host finds the victim's.
  r = vault_->Agent(victim_, "finance", {"backup", src, "--host", "victimhost"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = vault_->Agent(victim_, "finance", {"--json", "snapshots", "--host", "victimhost"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[1]["parent"], victim_snap.id.Hex());
  EXPECT_EQ(j[1]["identity"], "victim");
  EXPECT_EQ(j[1]["stats"]["bytes_read"], 0);
  const std::string restored = dir_ / "restored";
  r = vault_->Agent(victim_, "finance",
                    {"restore", "latest", "--host", "victimhost", "--target", restored});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(test::ReadFile(restored + src + "/secret"), "the victim's data");
  r = vault_->Agent(victim_, "finance", {"snapshots"});
  EXPECT_NE(r.out.find("mallory"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Written by"), std::string::npos) << r.out;
  EXPECT_NE(vault_->Log().find("commit_refused"), std::string::npos);
}

TEST_F(VaultIdentity, ABackupOnlyAgentsSecondBackupUsesItsOwnParent) {
  const std::string src = dir_ / "src";
  std::filesystem::create_directories(src + "/sub/deeper");
  for (int i = 0; i < 20; ++i)
    test::WriteFile(src + "/sub/deeper/f" + std::to_string(i), std::string(5000 + i, 'x'));
  ASSERT_EQ(vault_->Agent(mallory_, "finance", {"backup", src}).exit_code, 0);
  auto r = vault_->Agent(mallory_, "finance", {"--json", "backup", src});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["bytes_read"], 0) << r.out;
  EXPECT_EQ(j["files_unchanged"], 20) << r.out;
}

// A directory this large encodes to a tree of some 20 MiB, larger than one
// frame: the agent must still get it as its parent (in pages), or every
// file in it would be read again on every backup.
TEST_F(VaultIdentity, ADirectoryOf300kEntriesBacksUpAndIsNotReadAgain) {
  const std::string src = dir_ / "big";
  std::filesystem::create_directories(src);
  for (int i = 0; i < 300000; ++i) {
    const std::string path = src + "/file-with-a-longer-name-" + std::to_string(i);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0) << path;
    const std::string content = std::to_string(i % 97);
    ASSERT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    ::close(fd);
  }
  auto r = vault_->Agent(mallory_, "finance", {"--json", "backup", src});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = vault_->Agent(mallory_, "finance", {"--json", "backup", src});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["bytes_read"], 0) << r.out;
  EXPECT_EQ(j["files_unchanged"], 300000) << r.out;
}

TEST_F(VaultIdentity, AWrongServerKeyIsReportedAsAFailedHandshake) {
  // The public half of some other key pair stands in for the vault's key.
  AgentKey other = test::MakeAgentKey(dir_.path(), "not-the-vault");
  auto argv = vault_->AgentArgv(victim_, "finance", {"snapshots"});
  argv[8] = other.pub_file;  // after --server-key
  auto r = test::RunProgram(argv);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("handshake"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("server key"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("no session within"), std::string::npos) << r.err;

  // Nothing listening is told apart from a wrong key. The port is held bound
  // and not listening, so no other test's vault can answer there.
  const int held = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(held, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(held, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(held, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  argv = vault_->AgentArgv(victim_, "finance", {"snapshots"});
  argv[2] = "tcp://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  r = test::RunProgram(argv);
  ::close(held);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("nothing answered"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace dr
