// The command line shared by drctl (administration, local or RADOS
// repositories) and dragent (the capture agent: the same commands through a
// vault).
#include <sys/resource.h>

#include <cstdlib>

#include "core/env/process_tuning.h"
#include "tools/drctl/cli.h"

namespace dr::cli {

void SetProgramName(const char* name);

namespace {

// vault://HOST:PORT/NS?key=...&server-key=... from dragent's options.
struct AgentOptions {
  std::string vault, nspace, key, server_key, name;
};

Status ComposeVaultUrl(const AgentOptions& a, std::string* url) {
  if (a.vault.empty())
    return Status::InvalidArgument("no vault given (use --vault tcp://HOST:PORT or set DR_VAULT)");
  if (a.vault.rfind("tcp://", 0) != 0)
    return Status::InvalidArgument("--vault " + a.vault + ": expected tcp://HOST:PORT");
  if (a.nspace.empty()) return Status::InvalidArgument("no --namespace given (env DR_NAMESPACE)");
  if (a.key.empty())
    return Status::InvalidArgument("no --key given (this agent's key file; env DR_AGENT_KEY)");
  if (a.server_key.empty())
    return Status::InvalidArgument(
        "no --server-key given (the vault's public key; env DR_SERVER_KEY)");
  *url = "vault://" + a.vault.substr(6) + "/" + a.nspace + "?key=" + a.key +
         "&server-key=" + a.server_key + (a.name.empty() ? "" : "&name=" + a.name);
  return Status::OK();
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

int RunApp(int argc, char** argv, bool agent) {
  SetProgramName(agent ? "dragent" : "drctl");
  // Restore keeps one descriptor per queued file; allow what the system allows.
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  TuneAllocatorForLargeBuffers();
  CLI::App app{agent ? "dragent " DR_VERSION
                       " - capture agent: back up to and restore from a vault over ZeroMQ"
                     : "drctl " DR_VERSION
                       " - disaster-recovery backup: repositories, backups, restores"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the command name
  GlobalOptions g;
  AgentOptions a{Env("DR_VAULT"), Env("DR_NAMESPACE"), Env("DR_AGENT_KEY"), Env("DR_SERVER_KEY"),
                 ""};
  if (agent) {
    app.add_option("--vault", a.vault, "the vault: tcp://HOST:PORT (env DR_VAULT)");
    app.add_option("--namespace", a.nspace, "namespace (department) to work in (env DR_NAMESPACE)");
    app.add_option("--key", a.key, "this agent's key file (env DR_AGENT_KEY)");
    app.add_option("--server-key", a.server_key,
                   "the vault's public key: a key file or the Z85 key (env DR_SERVER_KEY)");
    app.add_option("--name", a.name, "agent name in the vault's logs (default: host name)");
  } else {
    if (const char* r = std::getenv("DR_REPOSITORY")) g.repo = r;
    app.add_option("-r,--repo", g.repo,
                   "repository: dir:///path, a path, rados://POOL[/NS]?conf=..., or "
                   "vault://HOST:PORT/NS?key=...&server-key=... (env DR_REPOSITORY)");
  }
  std::string key_file, passphrase_file;
  if (!agent) {
    app.add_option("--key-file", key_file,
                   "key file that opens an encrypted repository (env DR_KEY_FILE)");
    app.add_option("--passphrase-file", passphrase_file,
                   "file whose first line is the passphrase of an encrypted repository (env "
                   "DR_PASSPHRASE_FILE; or DR_PASSPHRASE)");
  }
  app.add_flag("--json", g.json, "machine-readable output on stdout");
  app.add_flag("-q,--quiet", g.quiet, "print only errors");
  app.add_flag("--progress", g.progress, "show the live progress line even when not a terminal");
  Runner run;
  if (!agent) {
    AddInitCommand(app, g, &run);
    AddKeyCommand(app, g, &run);
  }
  AddBackupCommand(app, g, &run);
  AddSnapshotsCommand(app, g, &run);
  AddLsCommand(app, g, &run);
  AddDiffCommand(app, g, &run);
  AddCheckCommand(app, g, &run);
  AddStatsCommand(app, g, &run);
  AddRestoreCommand(app, g, &run);
  AddMountCommand(app, g, &run);
  AddRunCommand(app, g, &run);
  AddJobsCommand(app, g, &run);
  AddCatalogCommands(app, g, &run);
  AddDrillCommand(app, g, &run);
  if (!agent) {
    AddPruneCommand(app, g, &run);
    AddForgetCommand(app, g, &run);
    AddLockCommand(app, g, &run);
    AddVerifyHistoryCommand(app, g, &run);
    AddRpoCommand(app, g, &run);
  }
  AddMigrateCommand(app, g, &run, agent);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%s: %s (see %s --help)\n", ProgramName(), e.what(), ProgramName());
    return kExitUsage;
  }
  if (!run) return kExitUsage;
  // One place the key is looked up (KeySourceFromEnvironment), for every
  // command and the jobs `run` starts.
  if (!key_file.empty()) setenv("DR_KEY_FILE", key_file.c_str(), 1);
  if (!passphrase_file.empty()) setenv("DR_PASSPHRASE_FILE", passphrase_file.c_str(), 1);
  (void)KeySourceFromEnvironment();  // takes the passphrases out of the environment
  (void)NewPassphraseFromEnvironment();
  if (agent) {
    Status s = ComposeVaultUrl(a, &g.repo);
    if (!s.ok()) {
      Fail(s);
      return kExitUsage;
    }
  }
  return run();
}

}  // namespace dr::cli
