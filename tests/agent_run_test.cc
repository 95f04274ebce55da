// dragent run: the policies an admin applied at the vault are fetched by
// the agents they cover (and no other), run on schedule, reloaded when they
// change, and weighed by the vault's retention, never the agent's.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "catalog/store/object_store.h"
#include "tests/test_util.h"
#include "tests/vault_harness.h"

namespace dr {
namespace {

using test::AgentKey;
using test::VaultSite;

class AgentRun : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_ / "vault");
    std::filesystem::create_directories(src_);
    test::WriteFile(src_ + "/a.txt", test::TextBytes(50000, 1));
    vault_ = std::make_unique<VaultSite>(dir_ / "vault", test::TestPort(30),
                                         VaultSite::Options{"dir://" + dir_ / "repo", 32, "", ""});
    web_ = test::MakeAgentKey(dir_.path(), "web-01");
    vault_->Enrol("web-01", web_.pub_file, "records");
    vault_->Start();
  }

  void Apply(const std::string& name, const std::string& body) {
    test::WriteFile(dir_ / (name + ".yaml"), body);
    auto r = test::RunProgram(
        {DRVAULT_PATH, "-c", vault_->config(), "policy", "apply", dir_ / (name + ".yaml")});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  std::string Policy(const std::string& name, const std::string& ns, const std::string& agent,
                     const std::string& every = "1h") {
    return "name: " + name + "\nnamespace: " + ns + "\nagents: [" + agent +
           "]\nsources:\n  paths: [" + src_ + "]\nschedule:\n  every: " + every +
           "\nretention:\n  same-city:\n    keep-last: 2\n";
  }
  std::set<std::string> Cached() {
    std::set<std::string> names;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(state_ + "/policies", ec))
      names.insert(e.path().filename());
    return names;
  }
  size_t Snapshots() {
    auto store = OpenObjectStore(vault_->RepositoryOf("records"));
    if (!store.ok()) return 0;
    auto list = (*store)->List("snapshots/");
    return list.ok() ? list->size() : 0;
  }

  test::TempDir dir_{"agent-run"};
  std::string src_ = dir_ / "src", state_ = dir_ / "state";
  std::unique_ptr<VaultSite> vault_;
  AgentKey web_;
};

TEST_F(AgentRun, RunsOnlyItsOwnPoliciesAndTheVaultKeepsTheRetention) {
  Apply("web", Policy("web", "records", "web-01"));
  Apply("db", Policy("db", "records", "db-01"));    // another agent's
  Apply("hr", Policy("hr-files", "hr", "web-01"));  // another namespace's
  for (int i = 0; i < 3; ++i) {
    test::WriteFile(src_ + "/run.txt", test::TextBytes(2000, 10 + i));
    auto r = vault_->Agent(web_, "records", {"run", "--once", "--all", "--state", state_});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("web/files: ok, snapshot "), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("db/"), std::string::npos) << r.out;
  }
  EXPECT_EQ(Cached(), std::set<std::string>{"web.yaml"});
  // The vault applied keep-last 2 after the commits; the agent forgot nothing.
  EXPECT_TRUE(test::WaitFor(30, [&] { return Snapshots() == 2; })) << vault_->Log();
  auto jobs = vault_->Agent(web_, "records", {"--json", "jobs", "--state", state_});
  ASSERT_EQ(jobs.exit_code, 0) << jobs.err;
  auto j = nlohmann::json::parse(jobs.out);
  ASSERT_EQ(j.size(), 3u);
  for (const auto& rec : j) EXPECT_EQ(rec["result"], "ok");

  // Removed at the vault: the next run fetches nothing and runs nothing.
  auto removed =
      test::RunProgram({DRVAULT_PATH, "-c", vault_->config(), "policy", "remove", "web"});
  ASSERT_EQ(removed.exit_code, 0) << removed.err;
  auto r = vault_->Agent(web_, "records", {"run", "--once", "--all", "--state", state_});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("0 policies apply"), std::string::npos) << r.out;
  EXPECT_TRUE(Cached().empty());
}

TEST_F(AgentRun, TheServiceRunsAtOnceReloadsOnHangupAndKeepsItsPoliciesWithoutTheVault) {
  Apply("web", Policy("web", "records", "web-01"));
  test::Process service(vault_->AgentArgv(web_, "records", {"run", "--state", state_}),
                        dir_ / "agent.log");
  // A job that never ran is due at once.
  ASSERT_TRUE(test::WaitFor(60, [&] { return Snapshots() == 1; }))
      << test::ReadFile(dir_ / "agent.log");
  // A new policy applied at the vault is fetched on SIGHUP (or within 30 s)
  // and scheduled from its next slot on.
  Apply("web2", Policy("web2", "records", "web-01"));
  service.Signal(SIGHUP);
  ASSERT_TRUE(test::WaitFor(60, [&] {
    return test::ReadFile(dir_ / "agent.log").find("2 policies apply") != std::string::npos;
  })) << test::ReadFile(dir_ / "agent.log");
  EXPECT_EQ(Cached(), (std::set<std::string>{"web.yaml", "web2.yaml"}));
  // With the vault down, a reload keeps the policies fetched before.
  vault_->Stop();
  service.Signal(SIGHUP);
  ASSERT_TRUE(test::WaitFor(60, [&] {
    return test::ReadFile(dir_ / "agent.log").find("cannot fetch policies from the vault") !=
           std::string::npos;
  })) << test::ReadFile(dir_ / "agent.log");
  EXPECT_EQ(Cached(), (std::set<std::string>{"web.yaml", "web2.yaml"}));
  service.Signal(SIGTERM);
  EXPECT_EQ(service.Wait(), 0) << test::ReadFile(dir_ / "agent.log");
}

TEST_F(AgentRun, AnAgentWithoutTheBackupRightGetsNoPolicies) {
  AgentKey reader = test::MakeAgentKey(dir_.path(), "reader");
  vault_->Enrol("reader", reader.pub_file, "records", "restore");
  Apply("web", Policy("web", "records", "reader"));
  auto r = vault_->Agent(reader, "records", {"run", "--once", "--state", state_});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("lacks the backup right"), std::string::npos) << r.err;
  EXPECT_TRUE(Cached().empty());
}

}  // namespace
}  // namespace dr
