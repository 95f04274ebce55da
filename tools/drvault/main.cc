// drvault: the vault server and its key tooling.
//   drvault init --config vault.yaml        state directory and server key
//   drvault serve --config vault.yaml       serve agents (and feed the off-site peer)
//   drvault keygen --out agent.key          a key pair for an agent (agent.key + agent.key.pub)
//   drvault enrol --config ... --name N --key K --namespace NS --rights backup,restore
//   drvault revoke --config ... N|KEY
//   drvault agents --config ...             who is enrolled
//   drvault server-key --config ...         the public key agents pin
//   drvault policy apply|list|show|diff|remove|history   policies applied here (cmd_policy.cc)
//   drvault status [--json] [--last-seen]   RPO of each policy source at each site (cmd_status.cc)
//   drvault jobs [--policy P] [--agent A] [--last N] [--json]   backups committed (cmd_jobs.cc)
//   drvault audit [--since T] [--verify] [--json]   the audit log, checked (cmd_audit.cc)
//   drvault key list|export NS              an encrypted namespace's keys (cmd_key.cc)
// Each command parses, calls one library function, and prints.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <functional>

#include "core/env/process_tuning.h"
#include "replicator/vault/agent_registry.h"
#include "replicator/vault/audit_log.h"
#include "replicator/vault/enrolment.h"
#include "replicator/vault/vault.h"
#include "replicator/vault/vault_config.h"
#include "replicator/wire/curve_keys.h"
#include "tools/drvault/commands.h"

namespace {

using namespace dr;
using namespace dr::drvault;

std::atomic<bool> g_stop{false};

int PrintKey(const std::string& path) {
  auto keys = ReadKeyFile(path);
  if (!keys.ok()) return Fail(keys.status());
  std::printf("%s\n", keys->public_key.c_str());
  return kExitOk;
}

void AddInit(CLI::App& app, Cli& cli) {
  auto* cmd = app.add_subcommand("init", "create the state directory and the server key");
  cli.WithConfig(cmd, [](const VaultConfig& c) {
    Status s = InitVaultState(c);
    if (!s.ok()) return Fail(s);
    auto keys = ReadKeyFile(c.server_key_path());
    if (!keys.ok()) return Fail(keys.status());
    std::printf("server key %s\n", keys->public_key.c_str());
    auto audit = AuditLog::Open(c);  // makes the audit key
    if (!audit.ok()) return Fail(audit.status());
    std::printf("audit key %s\n", (*audit)->public_key().c_str());
    return kExitOk;
  });
}

void AddServe(CLI::App& app, Cli& cli) {
  auto* cmd = app.add_subcommand("serve", "serve agents until SIGINT or SIGTERM");
  cli.WithConfig(cmd, [](const VaultConfig& c) {
    auto vault = Vault::Start(c);
    if (!vault.ok()) return Fail(vault.status());
    std::signal(SIGINT, [](int) { g_stop = true; });
    std::signal(SIGTERM, [](int) { g_stop = true; });
    Status s = (*vault)->Run(g_stop);
    return s.ok() ? kExitOk : Fail(s);
  });
}

void AddKeygen(CLI::App& app, Cli& cli) {
  static std::string out, comment;
  auto* cmd = app.add_subcommand("keygen", "write a new key pair: FILE (secret) and FILE.pub");
  cmd->add_option("--out", out, "key file to create")->required();
  cmd->add_option("--comment", comment, "a note kept in the files (e.g. the agent's name)");
  cmd->callback([&cli] {
    cli.run = [] {
      auto keys = GenerateCurveKeyPair();
      if (!keys.ok()) return Fail(keys.status());
      const std::string note = comment.empty() ? out : comment;
      Status s = WriteKeyFile(out, *keys, note, true);
      if (s.ok()) s = WriteKeyFile(out + ".pub", *keys, note, false);
      if (!s.ok()) return Fail(s);
      std::printf("public key %s\n", keys->public_key.c_str());
      return kExitOk;
    };
  });
}

void AddEnrol(CLI::App& app, Cli& cli) {
  static AgentEntry entry;
  static std::string key_arg, rights_arg = "backup,restore";
  static NewNamespace create;
  auto* cmd = app.add_subcommand("enrol", "admit an agent key to a namespace");
  cmd->add_option("--name", entry.name, "agent name")->required();
  cmd->add_option("--key", key_arg, "the agent's public key: a key file or the Z85 key")
      ->required();
  cmd->add_option("--namespace", entry.nspace, "its namespace, or * for a replicating vault")
      ->required();
  cmd->add_option("--rights", rights_arg, "backup, restore, replicate (comma-separated)")
      ->capture_default_str();
  auto* encrypt =
      cmd->add_flag("--encrypt", create.encrypt,
                    "create the namespace encrypted: this vault keeps a key for it, and only "
                    "ciphertext reaches the store and the off-site site");
  cmd->add_option("--escrow-key-file", create.escrow_key_file,
                  "with --encrypt: write the namespace's master key here (keep it offline)")
      ->needs(encrypt);
  cli.WithConfig(cmd, [](const VaultConfig& c) {
    auto key = PublicKeyFromArg(key_arg);
    if (!key.ok()) return Fail(key.status());
    auto rights = ParseRights(rights_arg);
    if (!rights.ok()) return Fail(rights.status());
    entry.public_key = *key;
    entry.rights = *rights;
    auto done = EnrolAgent(c, entry, create);
    if (!done.ok()) return Fail(done.status());
    if (!done->created_repository.empty())
      std::printf("created %srepository %s for namespace %s\n", create.encrypt ? "encrypted " : "",
                  done->created_repository.c_str(), entry.nspace.c_str());
    if (create.encrypt && !done->created_repository.empty())
      std::printf("master key of namespace %s written to %s: keep it offline\n",
                  entry.nspace.c_str(), create.escrow_key_file.c_str());
    std::printf("enrolled agent %s (%s) in namespace %s with rights %s\n", entry.name.c_str(),
                entry.public_key.c_str(), entry.nspace.c_str(),
                RightsToString(entry.rights).c_str());
    Status a = Audit(c, "enrol", entry.name,
                     {{"key", entry.public_key},
                      {"namespace", entry.nspace},
                      {"rights", RightsToString(entry.rights)},
                      {"created_repository", done->created_repository},
                      {"encrypted", create.encrypt && !done->created_repository.empty()},
                      {"escrow_key_file", create.escrow_key_file}});
    return a.ok() ? kExitOk : Fail(a);
  });
}

void AddRevoke(CLI::App& app, Cli& cli) {
  static std::string who;
  auto* cmd = app.add_subcommand("revoke", "refuse an agent's key from now on");
  cmd->add_option("agent", who, "agent name or public key")->required();
  cli.WithConfig(cmd, [](const VaultConfig& c) {
    Status s = AgentRegistry(c.registry_path()).Revoke(who);
    if (!s.ok()) return Fail(s);
    std::printf("revoked %s\n", who.c_str());
    Status a = Audit(c, "revoke", who, nlohmann::json::object());
    return a.ok() ? kExitOk : Fail(a);
  });
}

void AddAgents(CLI::App& app, Cli& cli) {
  auto* cmd = app.add_subcommand("agents", "list enrolled agents");
  cli.WithConfig(cmd, [](const VaultConfig& c) {
    auto all = AgentRegistry(c.registry_path()).All();
    if (!all.ok()) return Fail(all.status());
    std::printf("%-20s %-12s %-24s %-8s %s\n", "NAME", "NAMESPACE", "RIGHTS", "STATE", "KEY");
    for (const auto& a : *all) {
      std::printf("%-20s %-12s %-24s %-8s %s\n", a.name.c_str(), a.nspace.c_str(),
                  RightsToString(a.rights).c_str(), a.revoked ? "revoked" : "active",
                  a.public_key.c_str());
    }
    return kExitOk;
  });
}

void AddKeyPrinters(CLI::App& app, Cli& cli) {
  static std::string pub_out;
  auto* server_key = app.add_subcommand("server-key", "print the vault's public key");
  server_key->add_option("--out", pub_out, "also write it as a public key file");
  cli.WithConfig(server_key, [](const VaultConfig& c) {
    if (!pub_out.empty()) {
      auto keys = ReadKeyFile(c.server_key_path());
      if (!keys.ok()) return Fail(keys.status());
      Status s = WriteKeyFile(pub_out, *keys, "vault server", false);
      if (!s.ok()) return Fail(s);
    }
    return PrintKey(c.server_key_path());
  });
  auto* offsite_key = app.add_subcommand(
      "offsite-key", "print the public key this vault presents to its off-site peer");
  cli.WithConfig(offsite_key,
                 [](const VaultConfig& c) { return PrintKey(c.offsite_client_key_path()); });
}

}  // namespace

int main(int argc, char** argv) {
  dr::TuneAllocatorForLargeBuffers();
  CLI::App app{"drvault " DR_VERSION " - the vault: receives agents' backups over ZeroMQ"};
  app.require_subcommand(1);
  app.fallthrough();
  Cli cli;
  if (const char* c = std::getenv("DRVAULT_CONFIG")) cli.config_path = c;
  app.add_option("-c,--config", cli.config_path, "vault configuration file (env DRVAULT_CONFIG)");
  AddInit(app, cli);
  AddServe(app, cli);
  AddKeygen(app, cli);
  AddEnrol(app, cli);
  AddRevoke(app, cli);
  AddAgents(app, cli);
  AddKeyPrinters(app, cli);
  AddPolicyCommands(app, cli);
  AddStatusCommand(app, cli);
  AddJobsCommand(app, cli);
  AddAuditCommand(app, cli);
  AddHistoryCommand(app, cli);
  AddKeyCommands(app, cli);
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
  return cli.run ? cli.run() : kExitUsage;
}
