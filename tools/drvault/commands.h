// What the drvault commands share: exit codes, printing an error, and the
// configuration every command but keygen runs with. main.cc registers the
// server and key commands; each other file registers one command group.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"
#include "replicator/vault/vault_config.h"

namespace dr::drvault {

inline constexpr int kExitOk = 0, kExitError = 1, kExitUsage = 2;

// Prints "drvault: <message>" to stderr, returns kExitError.
inline int Fail(const Status& s) {
  std::fprintf(stderr, "drvault: %s\n", s.message().c_str());
  return kExitError;
}

// What every command shares: the configuration path and the command to run
// once parsing succeeded.
struct Cli {
  std::string config_path;
  std::function<int()> run;

  // Registers `body`, run with the loaded configuration.
  void WithConfig(CLI::App* cmd, std::function<int(const VaultConfig&)> body) {
    cmd->callback([this, body] {
      run = [this, body] {
        if (config_path.empty())
          return Fail(Status::InvalidArgument("no --config given (env DRVAULT_CONFIG)"));
        auto c = LoadVaultConfig(config_path);
        return c.ok() ? body(*c) : Fail(c.status());
      };
    });
  }
};

// Who runs this command, for the policy history and the audit log: the
// sudo user, else the login name, else "uid N".
std::string CurrentAdmin();
// Records an action this command took in the vault's audit log (actor
// "admin USER"). The action has happened: an error says it went unrecorded.
Status Audit(const VaultConfig& config, const std::string& action, const std::string& subject,
             nlohmann::json details);

// `drvault audit`: list and verify the audit log (cmd_audit.cc).
void AddAuditCommand(CLI::App& app, Cli& cli);
// `drvault history NS`: a namespace's sealed history, with the head (cmd_history.cc).
void AddHistoryCommand(CLI::App& app, Cli& cli);
// `drvault policy apply|list|show|diff|remove|history` (cmd_policy.cc).
void AddPolicyCommands(CLI::App& app, Cli& cli);
// `drvault status`: the RPO of every policy source at each site (cmd_status.cc).
void AddStatusCommand(CLI::App& app, Cli& cli);
// `drvault jobs`: the backups this vault committed (cmd_jobs.cc).
void AddJobsCommand(CLI::App& app, Cli& cli);
// `drvault key list|add|remove|rotate|export NS`: an encrypted namespace's
// keys (cmd_key.cc).
void AddKeyCommands(CLI::App& app, Cli& cli);

}  // namespace dr::drvault
