// drvault: the vault server and its key tooling.
//   drvault init --config vault.yaml        state directory and server key
//   drvault serve --config vault.yaml       serve agents (and feed the off-site peer)
//   drvault keygen --out agent.key          a key pair for an agent (agent.key + agent.key.pub)
//   drvault enrol --config ... --name N --key K --namespace NS --rights backup,restore
//   drvault revoke --config ... N|KEY
//   drvault agents --config ...             who is enrolled
//   drvault server-key --config ...         the public key agents pin
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <filesystem>

#include "catalog/store/object_store.h"
#include "catalog/repository.h"
#include "replicator/vault/agent_registry.h"
#include "replicator/wire/curve_keys.h"
#include "replicator/vault/vault.h"
#include "replicator/vault/vault_config.h"

namespace {

using namespace dr;

constexpr int kExitOk = 0, kExitError = 1, kExitUsage = 2;
std::atomic<bool> g_stop{false};

int Fail(const Status& s) {
  std::fprintf(stderr, "drvault: %s\n", s.message().c_str());
  return kExitError;
}

Result<VaultConfig> Config(const std::string& path) {
  if (path.empty()) return Status::InvalidArgument("no --config given (env DRVAULT_CONFIG)");
  return LoadVaultConfig(path);
}

// The namespace's repository is created when its first backup agent is enrolled.
Status EnsureNamespaceRepository(const VaultConfig& c, const std::string& ns) {
  ASSIGN_OR_RETURN(std::string url, NamespaceRepositoryUrl(c.repository, ns));
  if (url.rfind("dir://", 0) == 0) {
    std::error_code ec;
    std::filesystem::create_directories(url.substr(6), ec);
    if (ec) return Status::FromErrno(ec.value(), "create repository directory " + url.substr(6));
  }
  ASSIGN_OR_RETURN(auto store, OpenObjectStore(url));
  if (store->Size("config").ok()) return Status::OK();
  RETURN_IF_ERROR(Repository::Init(store.get(), InitOptions{}));
  std::printf("created repository %s for namespace %s\n", store->Url().c_str(), ns.c_str());
  return Status::OK();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"drvault " DR_VERSION " - the vault: receives agents' backups over ZeroMQ"};
  app.require_subcommand(1);
  app.fallthrough();
  std::string config_path;
  if (const char* c = std::getenv("DRVAULT_CONFIG")) config_path = c;
  app.add_option("-c,--config", config_path, "vault configuration file (env DRVAULT_CONFIG)");
  std::function<int()> run;

  auto* init = app.add_subcommand("init", "create the state directory and the server key");
  init->callback([&] {
    run = [&] {
      auto c = Config(config_path);
      if (!c.ok()) return Fail(c.status());
      Status s = InitVaultState(*c);
      if (!s.ok()) return Fail(s);
      auto keys = ReadKeyFile(c->server_key_path());
      if (!keys.ok()) return Fail(keys.status());
      std::printf("server key %s\n", keys->public_key.c_str());
      return kExitOk;
    };
  });

  auto* serve = app.add_subcommand("serve", "serve agents until SIGINT or SIGTERM");
  serve->callback([&] {
    run = [&] {
      auto c = Config(config_path);
      if (!c.ok()) return Fail(c.status());
      auto vault = Vault::Start(*c);
      if (!vault.ok()) return Fail(vault.status());
      std::signal(SIGINT, [](int) { g_stop = true; });
      std::signal(SIGTERM, [](int) { g_stop = true; });
      Status s = (*vault)->Run(g_stop);
      return s.ok() ? kExitOk : Fail(s);
    };
  });

  std::string out, comment;
  auto* keygen = app.add_subcommand("keygen", "write a new key pair: FILE (secret) and FILE.pub");
  keygen->add_option("--out", out, "key file to create")->required();
  keygen->add_option("--comment", comment, "a note kept in the files (e.g. the agent's name)");
  keygen->callback([&] {
    run = [&] {
      auto keys = GenerateCurveKeyPair();
      if (!keys.ok()) return Fail(keys.status());
      Status s = WriteKeyFile(out, *keys, comment.empty() ? out : comment, true);
      if (s.ok()) s = WriteKeyFile(out + ".pub", *keys, comment.empty() ? out : comment, false);
      if (!s.ok()) return Fail(s);
      std::printf("public key %s\n", keys->public_key.c_str());
      return kExitOk;
    };
  });

  AgentEntry entry;
  std::string key_arg, rights_arg = "backup,restore";
  auto* enrol = app.add_subcommand("enrol", "admit an agent key to a namespace");
  enrol->add_option("--name", entry.name, "agent name")->required();
  enrol->add_option("--key", key_arg, "the agent's public key: a key file or the Z85 key")
      ->required();
  enrol->add_option("--namespace", entry.nspace, "its namespace, or * for a replicating vault")
      ->required();
  enrol->add_option("--rights", rights_arg, "backup, restore, replicate (comma-separated)")
      ->capture_default_str();
  enrol->callback([&] {
    run = [&] {
      auto c = Config(config_path);
      if (!c.ok()) return Fail(c.status());
      auto key = PublicKeyFromArg(key_arg);
      if (!key.ok()) return Fail(key.status());
      entry.public_key = *key;
      auto rights = ParseRights(rights_arg);
      if (!rights.ok()) return Fail(rights.status());
      entry.rights = *rights;
      if (entry.nspace == "*" ? entry.rights != kRightReplicate : !IsValidNamespace(entry.nspace)) {
        return Fail(Status::InvalidArgument(
            entry.nspace == "*" ? "namespace * is for replicating vaults: --rights replicate only"
                                : "namespace '" + entry.nspace +
                                      "' is not valid (lower-case letters, digits, - and _)"));
      }
      if ((entry.rights & kRightReplicate) && entry.nspace != "*")
        return Fail(Status::InvalidArgument("the replicate right goes with --namespace '*'"));
      if (entry.rights & kRightBackup) {
        Status s = EnsureNamespaceRepository(*c, entry.nspace);
        if (!s.ok()) return Fail(s);
      }
      AgentRegistry registry(c->registry_path());
      Status s = registry.Enrol(entry);
      if (!s.ok()) return Fail(s);
      std::printf("enrolled agent %s (%s) in namespace %s with rights %s\n", entry.name.c_str(),
                  entry.public_key.c_str(), entry.nspace.c_str(),
                  RightsToString(entry.rights).c_str());
      return kExitOk;
    };
  });

  std::string who;
  auto* revoke = app.add_subcommand("revoke", "refuse an agent's key from now on");
  revoke->add_option("agent", who, "agent name or public key")->required();
  revoke->callback([&] {
    run = [&] {
      auto c = Config(config_path);
      if (!c.ok()) return Fail(c.status());
      Status s = AgentRegistry(c->registry_path()).Revoke(who);
      if (!s.ok()) return Fail(s);
      std::printf("revoked %s\n", who.c_str());
      return kExitOk;
    };
  });

  auto* agents = app.add_subcommand("agents", "list enrolled agents");
  agents->callback([&] {
    run = [&] {
      auto c = Config(config_path);
      if (!c.ok()) return Fail(c.status());
      auto all = AgentRegistry(c->registry_path()).All();
      if (!all.ok()) return Fail(all.status());
      std::printf("%-20s %-12s %-24s %-8s %s\n", "NAME", "NAMESPACE", "RIGHTS", "STATE", "KEY");
      for (const auto& a : *all) {
        std::printf("%-20s %-12s %-24s %-8s %s\n", a.name.c_str(), a.nspace.c_str(),
                    RightsToString(a.rights).c_str(), a.revoked ? "revoked" : "active",
                    a.public_key.c_str());
      }
      return kExitOk;
    };
  });

  std::string pub_out;
  auto* server_key = app.add_subcommand("server-key", "print the vault's public key");
  server_key->add_option("--out", pub_out, "also write it as a public key file");
  server_key->callback([&] {
    run = [&] {
      auto c = Config(config_path);
      if (!c.ok()) return Fail(c.status());
      std::string path = c->server_key_path();
      auto keys = ReadKeyFile(path);
      if (!keys.ok()) return Fail(keys.status());
      if (!pub_out.empty()) {
        Status s = WriteKeyFile(pub_out, *keys, "vault server", false);
        if (!s.ok()) return Fail(s);
      }
      std::printf("%s\n", keys->public_key.c_str());
      return kExitOk;
    };
  });

  auto* offsite_key = app.add_subcommand(
      "offsite-key", "print the public key this vault presents to its off-site peer");
  offsite_key->callback([&] {
    run = [&] {
      auto c = Config(config_path);
      if (!c.ok()) return Fail(c.status());
      auto keys = ReadKeyFile(c->offsite_client_key_path());
      if (!keys.ok()) return Fail(keys.status());
      std::printf("%s\n", keys->public_key.c_str());
      return kExitOk;
    };
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "drvault: %s (see drvault --help)\n", e.what());
    return kExitUsage;
  }
  return run ? run() : kExitUsage;
}
