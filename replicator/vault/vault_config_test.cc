// The vault's two text parsers: vault.yaml (ParseVaultConfig) and
// agents.json (ParseAgentRegistry). Whatever the text, each returns a value
// or an error and never throws; the inputs below once threw out of the
// parser (found by fuzz/vault_config_fuzz.cc) and would have stopped
// `drvault` with std::terminate instead of one line naming the field.
#include <gtest/gtest.h>

#include "replicator/vault/agent_registry.h"
#include "replicator/vault/vault_config.h"
#include "tests/test_util.h"

namespace dr {
namespace {

constexpr char kBase[] =
    "listen: tcp://0.0.0.0:7400\nstate: /var/lib/drvault\nrepository: /srv/vault\n";
constexpr char kKey[] = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";

Result<VaultConfig> Parse(const std::string& text) {
  return ParseVaultConfig(text, "vault.yaml", [](const std::string& arg) -> Result<std::string> {
    if (arg == kKey) return arg;
    return Status::InvalidArgument("not a key");
  });
}

TEST(VaultConfig, PruneEveryIsADurationOrOffAndDefaultsToADay) {
  auto deflt = Parse(kBase);
  ASSERT_TRUE(deflt.ok()) << deflt.status().ToString();
  EXPECT_EQ(deflt->prune_every_s, 24 * 3600);
  auto hours = Parse(std::string(kBase) + "prune_every: 6h\n");
  ASSERT_TRUE(hours.ok()) << hours.status().ToString();
  EXPECT_EQ(hours->prune_every_s, 6 * 3600);
  auto off = Parse(std::string(kBase) + "prune_every: off\n");
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  EXPECT_EQ(off->prune_every_s, 0);
  for (const char* bad : {"prune_every: daily\n", "prune_every: 0s\n", "prune_every: [1h]\n"}) {
    auto c = Parse(std::string(kBase) + bad);
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_NE(c.status().message().find("prune_every"), std::string::npos) << c.status().message();
  }
}

TEST(VaultConfig, ParsesEveryField) {
  auto c = Parse(std::string(kBase) +
                 "metrics: tcp://127.0.0.1:9400\ncredit_mib: 64\n"
                 "offsite:\n  endpoint: tcp://dr-offsite:7400\n  server_key: \"" +
                 kKey + "\"\n  interval_s: 7\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->listen, "tcp://0.0.0.0:7400");
  EXPECT_EQ(c->state_dir, "/var/lib/drvault");
  EXPECT_EQ(c->repository, "/srv/vault");
  EXPECT_EQ(c->metrics, "tcp://127.0.0.1:9400");
  EXPECT_EQ(c->credit_bytes, 64ull << 20);
  ASSERT_TRUE(c->offsite.has_value());
  EXPECT_EQ(c->offsite->endpoint, "tcp://dr-offsite:7400");
  EXPECT_EQ(c->offsite->server_key, kKey);
  EXPECT_EQ(c->offsite->interval_s, 7);
}

// Each of these threw a yaml-cpp exception out of LoadVaultConfig.
TEST(VaultConfig, OffsiteThatIsNotAMappingIsAnError) {
  for (const char* offsite :
       {"offsite: tcp://dr-offsite:7400\n", "offsite: 5\n", "offsite:\n  endpoinf&id=drva400\n"}) {
    auto c = Parse(std::string(kBase) + offsite);
    ASSERT_FALSE(c.ok()) << offsite;
    EXPECT_EQ(c.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(c.status().message(), "vault config vault.yaml: offsite: not a mapping");
  }
}

TEST(VaultConfig, FieldNameThatIsNotAStringIsAnError) {
  for (const char* key : {"[a]: b\n", "{a: b}: c\n", "? \n: x\n", "? [listen]\n: tcp://x:1\n"}) {
    auto c = Parse(std::string(kBase) + key);
    ASSERT_FALSE(c.ok()) << key;
    EXPECT_EQ(c.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(c.status().message(), "vault config vault.yaml: a field name is not a string");
  }
  auto c = Parse("{a: b}: c\n");
  EXPECT_FALSE(c.ok());
}

// Accepted before: an empty repository put every namespace's repository at
// /NS (dir:///NS), an empty state directory the server key at /server.key.
TEST(VaultConfig, EmptyRequiredFieldIsAnError) {
  const std::string listen = "listen: tcp://0.0.0.0:7400\n", state = "state: /var/lib/drvault\n",
                    repo = "repository: /srv/vault\n";
  for (const auto& [text, field] : std::vector<std::pair<std::string, std::string>>{
           {listen + state + "repository: \"\"\n", "repository"},
           {listen + state + "repository: !r//repos///\n", "repository"},
           {listen + "state: ''\n" + repo, "state"},
           {"listen: \"\"\n" + state + repo, "listen"},
           {listen + state + repo + "offsite: {endpoint: '', server_key: k}\n",
            "offsite.endpoint"}}) {
    auto c = Parse(text);
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_EQ(c.status().message(), "vault config vault.yaml: " + field + ": empty") << text;
  }
}

TEST(VaultConfig, OtherShapesAreErrorsNotExceptions) {
  for (const std::string& text :
       {std::string(""), std::string("[1, 2]"), std::string("listen: [a]\n"),
        std::string(kBase) + "credit_mib: {a: 1}\n", std::string(kBase) + "offsite: [a, b]\n",
        std::string(kBase) + "offsite: {endpoint: [x], server_key: k}\n",
        std::string(kBase) + "offsite: {endpoint: tcp://x:1, server_key: not-a-key}\n",
        std::string(kBase) + "credit_mib: 99999999999999999999\n", std::string("{{{{{{"),
        std::string("&a [*a]"), std::string(2000, '[')}) {
    auto c = Parse(text);
    EXPECT_FALSE(c.ok()) << text;
  }
}

TEST(VaultConfig, LoadReadsTheFile) {
  test::TempDir dir("vault-config");
  EXPECT_EQ(LoadVaultConfig(dir / "absent.yaml").status().code(), Code::kNotFound);
  test::WriteFile(dir / "vault.yaml", std::string(kBase) + "offsite: oops\n");
  auto bad = LoadVaultConfig(dir / "vault.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "vault config " + (dir / "vault.yaml") + ": offsite: not a mapping");
  test::WriteFile(dir / "vault.yaml", kBase);
  auto good = LoadVaultConfig(dir / "vault.yaml");
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ(good->repository, "/srv/vault");
}

TEST(AgentRegistryText, RoundTrips) {
  const std::vector<AgentEntry> entries = {
      {"records-01", kKey, "finance", kRightBackup, false, "2026-11-30T03:56:09Z", ""},
      {"peer", "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6", "*", kRightReplicate, true,
       "2026-11-30T03:56:09Z", "2026-11-30T04:00:00Z"}};
  auto back = ParseAgentRegistry(AgentRegistryText(entries), "agents.json");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->size(), 2u);
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ((*back)[i].name, entries[i].name);
    EXPECT_EQ((*back)[i].public_key, entries[i].public_key);
    EXPECT_EQ((*back)[i].nspace, entries[i].nspace);
    EXPECT_EQ((*back)[i].rights, entries[i].rights);
    EXPECT_EQ((*back)[i].revoked, entries[i].revoked);
    EXPECT_EQ((*back)[i].enrolled_at, entries[i].enrolled_at);
    EXPECT_EQ((*back)[i].revoked_at, entries[i].revoked_at);
  }
}

TEST(AgentRegistryText, BadShapesAreCorruptionNotExceptions) {
  for (const char* text :
       {"", "[]", "{\"agents\": 5}", "{\"agents\": [5]}", "{\"agents\": [{\"name\": 1}]}",
        "{\"agents\": [{\"name\": \"a\", \"public_key\": \"k\", \"namespace\": \"n\", "
        "\"rights\": \"backup\", \"revoked\": \"yes\"}]}",
        "{\"agents\": [{\"name\": \"a\", \"public_key\": \"k\", \"namespace\": \"n\", "
        "\"rights\": \"all\"}]}"}) {
    auto r = ParseAgentRegistry(text, "agents.json");
    EXPECT_FALSE(r.ok()) << text;
  }
}

}  // namespace
}  // namespace dr
