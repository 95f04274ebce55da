// The network path with real processes on loopback: dragent -> same-city
// drvault (RADOS when the test cluster runs, else a directory) -> off-site
// drvault (directory). Kills, outages, refused keys, hostile frames and many
// agents at once.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>
#include <zmq.hpp>

#include "catalog/drill_record.h"
#include "catalog/format/snapshot.h"
#include "catalog/format/tree.h"
#include "catalog/signing.h"
#include "catalog/store/object_store.h"
#include "replicator/wire/curve_keys.h"
#include "replicator/wire/protocol.h"
#include "replicator/wire/vault_client.h"
#include "replicator/wire/vault_store.h"
#include "tests/test_util.h"
#include "tests/vault_harness.h"

namespace dr {
namespace {

using test::AgentKey;
using test::VaultSite;

class Vaults : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string rados = test::RadosTestUrl("vault");
    if (rados.empty() && test::CephRequired()) FAIL() << "DR_REQUIRE_CEPH=1 but no cluster";
    primary_repo_ = rados.empty() ? "dir://" + dir_ / "primary-repo" : rados;
    offsite_ = std::make_unique<VaultSite>(
        MakeDir("offsite"), test::TestPort(0),
        VaultSite::Options{"dir://" + dir_ / "offsite-repo", 32, "", "", ""});
    primary_ = std::make_unique<VaultSite>(
        MakeDir("primary"), test::TestPort(2),
        VaultSite::Options{primary_repo_, credit_mib_, offsite_->endpoint(), offsite_->server_pub(),
                           ""});
    agent_ = test::MakeAgentKey(dir_.path(), "agent1");
    primary_->Enrol("agent1", agent_.pub_file, "finance");
    offsite_->Enrol("agent1", agent_.pub_file, "finance", "restore");
    offsite_->Enrol("primary", primary_->OffsiteClientPub(), "*", "replicate");
    offsite_->Start();
    primary_->Start();
  }

  std::string MakeDir(const std::string& name) {
    std::filesystem::create_directories(dir_ / name);
    return dir_ / name;
  }

  // Waits until the off-site vault holds every snapshot of `ns` and the
  // primary reports no lag (a zero from before the last commit does not count).
  bool OffsiteCaughtUp(const std::string& ns, double seconds = 60) {
    const std::string label = "{namespace=\"" + ns + "\"}";
    auto count = [](const std::string& url) -> long {
      auto store = OpenObjectStore(url);
      if (!store.ok()) return -1;
      auto list = (*store)->List("snapshots/");
      return list.ok() ? static_cast<long>(list->size()) : -1;
    };
    return test::WaitFor(seconds, [&] {
      return count(primary_->RepositoryOf(ns)) == count(offsite_->RepositoryOf(ns)) &&
             primary_->Metric("drvault_offsite_lag_snapshots" + label) == 0 &&
             primary_->Metric("drvault_offsite_lag_bytes" + label) == 0;
    });
  }

  void ExpectRestoresExactly(const VaultSite& site, const std::string& source,
                             const std::string& snapshot, const std::string& target,
                             const AgentKey* key = nullptr, const std::string& ns = "finance") {
    auto r = site.Agent(key ? *key : agent_, ns, {"restore", snapshot, "--target", target});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto diffs = test::CompareTrees(source, target + source);
    EXPECT_TRUE(diffs.empty()) << diffs[0];
  }

  void ExpectCheckClean(const std::string& repo) {
    auto r = test::RunDrctl({"-r", repo, "check", "--read-data"});
    EXPECT_EQ(r.exit_code, 0) << repo << ": " << r.out << r.err;
  }

  test::TempDir dir_{"vaults"};
  std::string primary_repo_;
  int credit_mib_ = 32;
  std::unique_ptr<VaultSite> offsite_, primary_;
  AgentKey agent_;
};

TEST_F(Vaults, BackupThroughVaultRestoresExactlyFromEitherSite) {
  const std::string src = dir_ / "src";
  test::MakeTortureTree(src);
  auto b1 = primary_->Agent(agent_, "finance", {"backup", src});
  ASSERT_EQ(b1.exit_code, 0) << b1.err << primary_->Log()
                             << test::ReadFile(dir_ / "primary/state/agents.json")
                             << test::ReadFile(agent_.pub_file);
  // An incremental: only what changed crosses the wire.
  test::WriteFile(src + "/changed", test::RandomBytes(3 << 20, 7));
  auto b2 = primary_->Agent(agent_, "finance", {"backup", "--json", src});
  ASSERT_EQ(b2.exit_code, 0) << b2.err;
  EXPECT_NE(b2.out.find("\"files_unchanged\""), std::string::npos);

  ExpectRestoresExactly(*primary_, src, "latest", dir_ / "from-primary");
  ASSERT_TRUE(OffsiteCaughtUp("finance")) << primary_->Metrics() << primary_->Log();

  // Both sites list the same snapshots, and both check clean.
  auto p = primary_->Agent(agent_, "finance", {"snapshots", "--json"});
  auto o = offsite_->Agent(agent_, "finance", {"snapshots", "--json"});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  // The same-city vault's change records (the ransomware watch) stay there.
  auto without_change = [](const std::string& out) {
    auto j = nlohmann::json::parse(out, nullptr, false);
    if (j.is_array())
      for (auto& s : j) s.erase("change");
    return j;
  };
  EXPECT_EQ(without_change(p.out), without_change(o.out)) << p.out << o.out;
  // The same-city site is lost: the off-site one restores on its own.
  primary_->Kill9();
  ExpectRestoresExactly(*offsite_, src, "latest", dir_ / "from-offsite");
  primary_->Start();
  ExpectCheckClean(primary_->RepositoryOf("finance"));
  ExpectCheckClean(offsite_->RepositoryOf("finance"));
  EXPECT_NE(primary_->Log().find("snapshot_committed"), std::string::npos);
  // Agents that are done say so: no session is left behind.
  EXPECT_TRUE(test::WaitFor(5, [&] { return primary_->Metric("drvault_sessions") == 0; }))
      << primary_->Metrics();
}

TEST_F(Vaults, ADrillFromTheOffsiteSitePassesWithTheSameCityVaultKilled) {
  const std::string src = MakeDir("src");
  test::WriteFile(src + "/ledger", test::RandomBytes(3 << 20, 41));
  test::WriteFile(src + "/notes.txt", "quarter closed");
  ASSERT_EQ(primary_->Agent(agent_, "finance", {"-q", "backup", src}).exit_code, 0);
  ASSERT_TRUE(OffsiteCaughtUp("finance")) << primary_->Metrics();
  primary_->Kill9();
  auto r =
      offsite_->Agent(agent_, "finance",
                      {"--json", "drill", "--sandbox", dir_ / "sandbox", "--site", "off-site",
                       "--rpo", "1h", "--catalog", dir_ / "catalog.db", "--report", dir_ / "drill",
                       "--check", "cmp \"$DR_SANDBOX" + src + "/ledger\" " + src + "/ledger"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j["passed"].get<bool>()) << j.dump(2);
  EXPECT_EQ(j["site"], "off-site");
  EXPECT_EQ(j["restored"]["files"], 2);
  EXPECT_EQ(j["checks"][0]["exit_code"], 0);
  EXPECT_NE(test::ReadFile(dir_ / "drill.html").find("PASSED"), std::string::npos);
  primary_->Start();
}

// A drill run through a vault is recorded in that site's drill history;
// an agent can only ever add the next record, never fork, rewrite or cut
// the chain, and only with the restore right.
TEST_F(Vaults, ADrillThroughAVaultIsRecordedAndTheChainCannotBeForged) {
  const std::string src = MakeDir("src");
  test::WriteFile(src + "/ledger", test::RandomBytes(1 << 20, 43));
  ASSERT_EQ(primary_->Agent(agent_, "finance", {"-q", "backup", src}).exit_code, 0);
  for (int i = 0; i < 2; ++i) {
    auto r = primary_->Agent(agent_, "finance",
                             {"drill", "--sandbox", dir_ / "sandbox", "--catalog",
                              dir_ / "catalog.db", "--report", dir_ / "drill"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(r.err.find("not recorded"), std::string::npos) << r.err;
    EXPECT_NE(r.out.find("recorded as drill record " + std::to_string(i + 1)), std::string::npos)
        << r.out;
  }
  auto history = primary_->Agent(agent_, "finance", {"drill", "history"});
  EXPECT_EQ(history.exit_code, 0) << history.out << history.err;
  auto local = test::RunDrctl({"-r", primary_->RepositoryOf("finance"), "drill", "history"});
  EXPECT_EQ(local.exit_code, 0) << local.out << local.err;
  EXPECT_NE(primary_->Log().find("drill_recorded"), std::string::npos);

  auto client = primary_->Connect(agent_, "finance");
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  auto put = [&](const std::string& key, const std::string& prev, uint64_t seq) {
    const nlohmann::json body = {{"format", "dr-drill-record-1"},
                                 {"seq", seq},
                                 {"prev", prev},
                                 {"report", {{"passed", true}}}};
    const std::string bytes = body.dump();
    return (*client)->Call(wire::Put{0, key, bytes.size(), 0, bytes}).status();
  };
  const std::string zeros(64, '0');
  // Record 1 again (a forged first link), a gap, and a record that does not
  // name the newest as its predecessor.
  EXPECT_EQ(put("drills/0000000001", zeros, 1).code(), Code::kAlreadyExists);
  EXPECT_EQ(put("drills/0000000009", zeros, 9).code(), Code::kInvalidArgument);
  EXPECT_EQ(put("drills/0000000003", zeros, 3).code(), Code::kInvalidArgument);
  EXPECT_EQ(put("drills/0000000003", zeros, 4).code(), Code::kInvalidArgument);
  EXPECT_EQ(put("drills/x", zeros, 3).code(), Code::kInvalidArgument);
  // The right next link is taken, once per session; a record with more
  // than its four members is not.
  // The records as the vault's store holds them (what it digests).
  auto site_store = OpenObjectStore(primary_->RepositoryOf("finance"));
  ASSERT_TRUE(site_store.ok()) << site_store.status().ToString();
  auto record_two = (*site_store)->Get("drills/0000000002");
  ASSERT_TRUE(record_two.ok()) << record_two.status().ToString();
  ASSERT_FALSE(record_two->empty());
  const std::string newest = ChainDigest(*record_two);
  {
    const std::string extra = nlohmann::json{
        {"format", "dr-drill-record-1"},
        {"seq", 3},
        {"prev", newest},
        {"report", nlohmann::json::object()},
        {"note", "rides along"}}.dump();
    EXPECT_EQ(
        (*client)->Call(wire::Put{0, "drills/0000000003", extra.size(), 0, extra}).status().code(),
        Code::kInvalidArgument);
  }
  const Status third_put = put("drills/0000000003", newest, 3);
  ASSERT_TRUE(third_put.ok()) << third_put.ToString() << "\nrecord 2 (" << record_two->size()
                              << " bytes, digest " << newest << "):\n"
                              << *record_two << "\n"
                              << primary_->Log();
  // The same record again (a client resending after a reconnect) is
  // answered as stored; another one on this session is refused.
  EXPECT_TRUE(put("drills/0000000003", newest, 3).ok());
  auto record_three = (*site_store)->Get("drills/0000000003");
  ASSERT_TRUE(record_three.ok()) << record_three.status().ToString();
  const std::string third = ChainDigest(*record_three);
  const Status fourth = put("drills/0000000004", third, 4);
  EXPECT_EQ(fourth.code(), Code::kPermissionDenied) << fourth.ToString() << "\n" << primary_->Log();
  auto after = test::RunDrctl({"-r", primary_->RepositoryOf("finance"), "drill", "history"});
  EXPECT_EQ(after.exit_code, 0) << after.out << after.err;
  // Without the restore right (the off-site peer's key only replicates),
  // no drill is recorded at all.
  auto peer = test::MakeAgentKey(dir_.path(), "backup-only");
  primary_->Enrol("backup-only", peer.pub_file, "finance", "backup");
  auto writer = primary_->Connect(peer, "finance");
  ASSERT_TRUE(writer.ok());
  const std::string bytes = "{}";
  EXPECT_EQ((*writer)->Call(wire::Put{0, "drills/0000000003", 2, 0, bytes}).status().code(),
            Code::kPermissionDenied);
}

TEST_F(Vaults, OffsiteOutageLagIsReportedThenCaughtUpIdentically) {
  const std::string src = MakeDir("src");
  test::WriteFile(src + "/a", test::RandomBytes(2 << 20, 1));
  ASSERT_EQ(primary_->Agent(agent_, "finance", {"backup", src}).exit_code, 0);
  ASSERT_TRUE(OffsiteCaughtUp("finance"));
  offsite_->Stop();
  // The same-city site keeps accepting backups while the off-site one is down.
  for (int i = 0; i < 2; ++i) {
    test::WriteFile(src + "/b" + std::to_string(i), test::RandomBytes(3 << 20, 10 + i));
    auto r = primary_->Agent(agent_, "finance", {"backup", src});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  const std::string label = "{namespace=\"finance\"}";
  ASSERT_TRUE(test::WaitFor(20, [&] {
    return primary_->Metric("drvault_offsite_lag_snapshots" + label) == 2 &&
           primary_->Metric("drvault_offsite_peer_up" + label) == 0;
  })) << primary_->Metrics();
  EXPECT_GT(primary_->Metric("drvault_offsite_lag_bytes" + label), 6e6);
  const double lag1 = primary_->Metric("drvault_offsite_lag_seconds" + label);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_GT(primary_->Metric("drvault_offsite_lag_seconds" + label), lag1) << "lag must grow";
  EXPECT_NE(primary_->Log().find("offsite_unreachable"), std::string::npos);

  offsite_->Start();
  ASSERT_TRUE(OffsiteCaughtUp("finance")) << primary_->Metrics();
  // Identical: every object of the primary is at the off-site site, byte for byte.
  auto primary = OpenObjectStore(primary_->RepositoryOf("finance"));
  auto offsite = OpenObjectStore(offsite_->RepositoryOf("finance"));
  ASSERT_TRUE(primary.ok() && offsite.ok());
  for (const char* prefix : {"config", "data/", "index/", "snapshots/"}) {
    auto a = (*primary)->List(prefix);
    auto b = (*offsite)->List(prefix);
    ASSERT_TRUE(a.ok() && b.ok());
    std::sort(a->begin(), a->end(), [](auto& x, auto& y) { return x.key < y.key; });
    std::sort(b->begin(), b->end(), [](auto& x, auto& y) { return x.key < y.key; });
    ASSERT_EQ(a->size(), b->size()) << prefix;
    for (size_t i = 0; i < a->size(); ++i) {
      EXPECT_EQ((*a)[i].key, (*b)[i].key);
      EXPECT_EQ(*(*primary)->Get((*a)[i].key), *(*offsite)->Get((*b)[i].key)) << (*a)[i].key;
    }
  }
  ExpectRestoresExactly(*offsite_, src, "latest", dir_ / "from-offsite");
}

class VaultKill : public Vaults {
 protected:
  VaultKill() { credit_mib_ = 8; }
};

TEST_F(VaultKill, SameCityVaultKilledMidStreamAgentResumesAndCompletes) {
  const std::string src = MakeDir("src");
  for (int i = 0; i < 12; ++i)
    test::WriteFile(src + "/f" + std::to_string(i), test::RandomBytes(25 << 20, 100 + i));
  test::Process agent(primary_->AgentArgv(agent_, "finance", {"backup", src}), dir_ / "agent.log");
  // Kill the vault once a good part, but not all, has arrived.
  ASSERT_TRUE(test::WaitFor(60, [&] {
    return primary_->Metric("drvault_received_bytes_total") > 60e6 || !agent.running();
  }));
  ASSERT_TRUE(agent.running()) << "the backup finished before the kill; make the source bigger";
  primary_->Kill9();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  primary_->Start();
  ASSERT_EQ(agent.Wait(), 0) << test::ReadFile(dir_ / "agent.log") << primary_->Log();
  EXPECT_NE(primary_->Log().find("session_open"), std::string::npos);
  // The resumed session did not start over: after the restart the vault
  // received less than the whole source.
  EXPECT_LT(primary_->Metric("drvault_received_bytes_total"), 300e6 - 60e6 + 40e6);

  auto snaps = primary_->Agent(agent_, "finance", {"snapshots", "--json"});
  ASSERT_EQ(snaps.exit_code, 0);
  size_t count = 0;
  for (size_t pos = 0; (pos = snaps.out.find("\"id\"", pos)) != std::string::npos; ++pos) ++count;
  EXPECT_EQ(count, 1u) << snaps.out;
  ExpectCheckClean(primary_->RepositoryOf("finance"));
  ExpectRestoresExactly(*primary_, src, "latest", dir_ / "restored");
  ASSERT_TRUE(OffsiteCaughtUp("finance", 120));
  ExpectCheckClean(offsite_->RepositoryOf("finance"));
}

TEST_F(VaultKill, NetworkCutMidStreamSessionResumesWithoutStartingOver) {
  const std::string src = MakeDir("src");
  for (int i = 0; i < 8; ++i)
    test::WriteFile(src + "/f" + std::to_string(i), test::RandomBytes(25 << 20, 200 + i));
  test::TcpProxy proxy(test::TestPort(6), test::TestPort(2));
  test::Process agent(primary_->AgentArgv(agent_, "finance", {"backup", src}, proxy.endpoint()),
                      dir_ / "agent.log");
  ASSERT_TRUE(test::WaitFor(60, [&] {
    return primary_->Metric("drvault_received_bytes_total") > 40e6 || !agent.running();
  }));
  ASSERT_TRUE(agent.running()) << "the backup finished before the cut; make the source bigger";
  proxy.Cut();
  ASSERT_EQ(agent.Wait(), 0) << test::ReadFile(dir_ / "agent.log") << primary_->Log();
  // The vault kept the session: the agent resumed it and resent only what
  // had not arrived, so the vault received about the source once.
  EXPECT_NE(primary_->Log().find("session_resumed"), std::string::npos) << primary_->Log();
  EXPECT_LT(primary_->Metric("drvault_received_bytes_total"), 200e6 + 10e6);
  EXPECT_EQ(primary_->Metric("drvault_snapshots_committed_total"), 1);
  ExpectCheckClean(primary_->RepositoryOf("finance"));
  ExpectRestoresExactly(*primary_, src, "latest", dir_ / "restored");
}

TEST_F(Vaults, UnknownRevokedForeignNamespaceAndForbiddenRequestsAreRefusedAndLogged) {
  const std::string src = MakeDir("src");
  test::WriteFile(src + "/a", "data");
  ASSERT_EQ(primary_->Agent(agent_, "finance", {"backup", src}).exit_code, 0);

  AgentKey stranger = test::MakeAgentKey(dir_.path(), "stranger");
  auto r = primary_->Agent(stranger, "finance", {"snapshots"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("refused this agent's key"), std::string::npos) << r.err;

  AgentKey revoked = test::MakeAgentKey(dir_.path(), "revoked");
  primary_->Enrol("revoked", revoked.pub_file, "finance");
  EXPECT_EQ(primary_->Agent(revoked, "finance", {"snapshots"}).exit_code, 0);
  ASSERT_EQ(
      test::RunProgram({DRVAULT_PATH, "-c", primary_->config(), "revoke", "revoked"}).exit_code, 0);
  r = primary_->Agent(revoked, "finance", {"snapshots"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("refused this agent's key"), std::string::npos) << r.err;

  r = primary_->Agent(agent_, "hr", {"backup", src});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("may not use namespace 'hr'"), std::string::npos) << r.err;

  // Requests no agent may make, sent by hand on an admitted session.
  auto client = primary_->Connect(agent_, "finance");
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  auto put = (*client)->Call(wire::Put{0, "snapshots/00", 3, 0, "abc"});
  EXPECT_EQ(put.status().code(), Code::kPermissionDenied) << put.status().ToString();
  auto escape = (*client)->Call(wire::Get{0, "../../etc/passwd", 0, 100});
  EXPECT_EQ(escape.status().code(), Code::kPermissionDenied);
  // A snapshot whose tree names a chunk the vault never received is refused.
  {
    KeyedHasher hasher((*client)->welcome().secret);
    Tree tree;
    Node file;
    file.name = "ghost";
    file.mode = 0644;
    file.size = 5;
    file.content.push_back({false, 5, hasher.Hash("never sent")});
    file.digest = hasher.Hash("never sent");
    tree.nodes.push_back(file);
    const std::string raw = EncodeTree(tree);
    const Id tree_id = hasher.Hash(raw);
    ASSERT_TRUE((*client)
                    ->SendBlob(wire::Blob{0, BlobType::kTree, tree_id,
                                          static_cast<uint32_t>(raw.size()), raw})
                    .ok());
    Snapshot snap;
    snap.time_ns = 1;
    snap.host = "hostile";
    snap.paths = {"/ghost"};
    snap.tree = tree_id;
    auto commit = (*client)->Call(wire::Commit{0, EncodeSnapshot(snap)});
    EXPECT_EQ(commit.status().code(), Code::kCorruption) << commit.status().ToString();
    EXPECT_NE(commit.status().message().find("does not hold"), std::string::npos);
  }
  VaultStore store(std::shared_ptr<VaultClient>(std::move(client).value()));
  EXPECT_EQ(store.Delete("config").code(), Code::kPermissionDenied);
  EXPECT_EQ(store.Put("config", "x").code(), Code::kPermissionDenied);
  ASSERT_TRUE(store.Get("config").ok());  // the agent's own namespace stays readable

  // A backup-only agent cannot read data back.
  AgentKey writer = test::MakeAgentKey(dir_.path(), "writer");
  primary_->Enrol("writer", writer.pub_file, "finance", "backup");
  r = primary_->Agent(writer, "finance", {"restore", "latest", "--target", dir_ / "nope"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("lacks the restore right"), std::string::npos) << r.err;

  const std::string log = primary_->Log();
  EXPECT_NE(log.find("auth_refused"), std::string::npos);
  EXPECT_NE(log.find("request_refused"), std::string::npos);
  EXPECT_GE(primary_->Metric("drvault_refused_requests_total"), 3);
  // Nothing was lost: the first snapshot still restores.
  ExpectRestoresExactly(*primary_, src, "latest", dir_ / "after");
}

TEST_F(Vaults, MalformedTruncatedAndOversizedFramesAreDroppedAndOthersServed) {
  auto keys = ReadKeyFile(agent_.key_file);
  ASSERT_TRUE(keys.ok());
  zmq::context_t ctx;
  auto hostile = [&] {
    auto s = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::dealer);
    s->set(zmq::sockopt::curve_serverkey, *PublicKeyFromArg(primary_->server_pub()));
    s->set(zmq::sockopt::curve_publickey, keys->public_key);
    s->set(zmq::sockopt::curve_secretkey, keys->secret_key);
    s->set(zmq::sockopt::linger, 0);
    s->connect(primary_->endpoint());
    return s;
  };
  auto sock = hostile();
  std::string hello = *wire::EncodeMessage(wire::Hello{"hostile", "finance", 0, 0});
  std::string query = *wire::EncodeMessage(wire::Query{1, {Id{}, Id{}}});
  std::vector<std::string> junk = {"",
                                   "D",
                                   "GET / HTTP/1.1\r\n\r\n",
                                   hello.substr(0, hello.size() - 1),
                                   hello + "x",
                                   query.substr(0, 9),
                                   std::string(70000, '\xff')};
  for (const auto& frame : junk) sock->send(zmq::buffer(frame), zmq::send_flags::none);
  sock->send(zmq::buffer(hello), zmq::send_flags::sndmore);  // a two-frame message
  sock->send(zmq::buffer(query), zmq::send_flags::none);
  // A blob far beyond any credit, and a frame over the size limit.
  sock->send(zmq::buffer(hello), zmq::send_flags::none);
  wire::Blob greedy{5, BlobType::kData, Id{}, 4 << 20, std::string(4 << 20, 'z')};
  for (int i = 0; i < 12; ++i)
    sock->send(zmq::buffer(*wire::EncodeMessage(greedy)), zmq::send_flags::none);
  auto big_sock = hostile();
  big_sock->send(zmq::buffer(std::string(wire::kMaxFrameBytes + 4096, 'D')), zmq::send_flags::none);
  ASSERT_TRUE(test::WaitFor(20, [&] { return primary_->Metric("drvault_bad_frames_total") >= 7; }))
      << primary_->Log();

  // One key opening session after session cannot pile them up.
  {
    VaultAddress addr{primary_->endpoint(), "finance", *PublicKeyFromArg(primary_->server_pub()),
                      *keys, "greedy"};
    std::vector<std::unique_ptr<VaultClient>> many;
    for (int i = 0; i < 20; ++i) {
      auto c = VaultClient::Connect(addr);
      ASSERT_TRUE(c.ok()) << c.status().ToString();
      many.push_back(std::move(c).value());
    }
    EXPECT_LE(primary_->Metric("drvault_sessions"), 16);
    EXPECT_NE(primary_->Log().find("session_evicted"), std::string::npos);
  }

  // Meanwhile everyone else is served.
  const std::string src = MakeDir("src");
  test::WriteFile(src + "/a", test::RandomBytes(5 << 20, 3));
  auto r = primary_->Agent(agent_, "finance", {"backup", src});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectRestoresExactly(*primary_, src, "latest", dir_ / "out");
  EXPECT_TRUE(primary_->running());
  EXPECT_NE(primary_->Log().find("bad_frame"), std::string::npos);
}

TEST_F(Vaults, EightAgentsBackingUpAtOnceAllCompleteAndRestore) {
  std::vector<AgentKey> keys;
  std::vector<std::unique_ptr<test::Process>> agents;
  const std::string shared = test::RandomBytes(3 << 20, 42);  // dedups within a namespace
  for (int i = 0; i < 8; ++i) {
    const std::string name = "host" + std::to_string(i), ns = i % 2 ? "finance" : "hr";
    keys.push_back(test::MakeAgentKey(dir_.path(), name));
    primary_->Enrol(name, keys.back().pub_file, ns);
    const std::string src = MakeDir("src" + std::to_string(i));
    test::WriteFile(src + "/own", test::RandomBytes((4 + i) << 20, 1000 + i));
    test::WriteFile(src + "/shared", shared);
  }
  for (int i = 0; i < 8; ++i) {
    const std::string ns = i % 2 ? "finance" : "hr", src = dir_ / ("src" + std::to_string(i));
    agents.push_back(std::make_unique<test::Process>(
        primary_->AgentArgv(keys[i], ns, {"backup", "--host", "host" + std::to_string(i), src}),
        dir_ / ("agent" + std::to_string(i) + ".log")));
  }
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(agents[i]->Wait(), 0)
        << test::ReadFile(dir_ / ("agent" + std::to_string(i) + ".log"));
  for (int i = 0; i < 8; ++i) {
    const std::string ns = i % 2 ? "finance" : "hr", src = dir_ / ("src" + std::to_string(i));
    const std::string target = dir_ / ("restored" + std::to_string(i));
    auto snaps = primary_->Agent(keys[i], ns, {"snapshots", "--json"});
    ASSERT_EQ(snaps.exit_code, 0) << snaps.err;
    std::string id;
    for (const auto& s : nlohmann::json::parse(snaps.out))
      if (s["host"] == "host" + std::to_string(i)) id = s["id"];
    ASSERT_FALSE(id.empty()) << snaps.out;
    ExpectRestoresExactly(*primary_, src, id, target, &keys[i], ns);
  }
  // Each namespace holds its four agents' snapshots; the shared file was stored once per namespace.
  for (const char* ns : {"finance", "hr"}) {
    auto repo = OpenObjectStore(primary_->RepositoryOf(ns));
    ASSERT_TRUE(repo.ok());
    EXPECT_EQ((*repo)->List("snapshots/")->size(), 4u) << ns;
    ExpectCheckClean(primary_->RepositoryOf(ns));
  }
}

}  // namespace
}  // namespace dr
