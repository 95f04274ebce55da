// Shared pieces of the drctl commands: exit codes, opening the repository,
// printing errors and JSON.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "catalog/change_record.h"
#include "catalog/drill_record.h"
#include "catalog/index/catalog.h"
#include "catalog/repository.h"
#include "core/progress.h"
#include "core/status.h"
#include "restore/drill/drill.h"

namespace dr::cli {

// Exit codes (documented in README.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;    // failed; or check/verify found problems
inline constexpr int kExitUsage = 2;    // bad command line
inline constexpr int kExitPartial = 3;  // backup written, but some paths could not be read

struct GlobalOptions {
  std::string repo;  // -r / DR_REPOSITORY
  bool json = false;
  bool quiet = false;
  bool progress = false;  // --progress forces the live line even when not a terminal
};

// The running program's name, for messages: "drctl" or "dragent".
const char* ProgramName();
// Prints "<program>: <message>" to stderr, returns kExitError.
int Fail(const Status& s);
// Opens the repository named by the options; prints the error on failure.
// With `session_kind` ("restore", "check"), a session marker tells a
// concurrent prune to delete nothing this command may still need
// (catalog/session_marker.h); through a vault there is none (the vault keeps
// its own sessions).
std::unique_ptr<Repository> OpenRepo(const GlobalOptions& g, const std::string& session_kind = "");
// The key that opens an encrypted repository, from the environment:
// DR_KEY_FILE (a key file), DR_PASSPHRASE_FILE (its first line) or
// DR_PASSPHRASE; the global --key-file and --passphrase-file set the first
// two. Empty when none is set (plaintext repositories need none).
Result<KeySource> KeySourceFromEnvironment();
// DR_NEW_PASSPHRASE (for `key add`), likewise read once and then removed.
std::optional<std::string> NewPassphraseFromEnvironment();
// The same, and when none is set, stdin is a terminal and the repository
// at `url` is encrypted, the passphrase asked for on the terminal (not
// echoed).
Result<KeySource> KeySourceFor(const std::string& url);
// Reads one line from the terminal with echo off, after `prompt`.
Result<std::string> AskPassphrase(const std::string& prompt);
// Opens a repository (not a vault) at `url` with that key.
Result<std::unique_ptr<Repository>> OpenRepoAt(const std::string& url,
                                               const std::string& session_kind = "");
bool ShowProgress(const GlobalOptions& g);
void PrintJson(const nlohmann::json& j);
// What a block snapshot captured, as `backup --json` and `snapshots --json` show it.
nlohmann::json BlockInfoJson(const BlockInfo& b);
// Runs `fn` while the live progress line for `counters` is shown; the line
// is cleared before the caller prints the result.
template <typename Fn>
auto WithProgress(const GlobalOptions& g, const ProgressCounters* counters, const char* verb,
                  Fn fn) {
  ProgressReporter reporter(counters, verb, ShowProgress(g));
  return fn();
}
// The catalog file `file`, or the default one (DefaultCatalogPath) when empty.
Result<std::unique_ptr<Catalog>> OpenCatalogFile(const std::string& file);
// A repository URL as reports and the catalog name it: without its query
// (a vault URL names key files there).
std::string RepositoryUrlForDisplay(const std::string& repo);
// JSON-safe text for raw-byte paths (invalid UTF-8 replaced).
std::string Printable(const std::string& raw);

// A drill of `snapshot` (restore/drill/drill.h), recorded in the repository
// (catalog/drill_record.h) and in the catalog `catalog_file` (default when
// empty), its reports written to PREFIX.json and PREFIX.html (PREFIX:
// `report_prefix`, or drill-<id> when empty). What could not be recorded or
// written is a warning, not an error: the drill itself happened.
struct DrillRun {
  DrillReport report;
  nlohmann::json json;
  std::optional<DrillRecord> record;
  std::vector<std::string> warnings;
  std::string report_prefix;
};
Result<DrillRun> RunAndRecordDrill(Repository& repo, const Snapshot& snapshot,
                                   const DrillOptions& options, const std::string& catalog_file,
                                   const std::string& report_prefix);

// Weighs a file snapshot just written into a local repository for
// ransomware's marks (policies/change_watch.h). One that looks like an
// attack is reported on stderr with the clean snapshot the watch locked; a
// failure to weigh is a warning, never the backup's failure. nullopt when
// nothing was weighed.
std::optional<ChangeRecord> WatchLocalBackup(Repository& repo, const Snapshot& snapshot);
nlohmann::json ChangeRecordJson(const ChangeRecord& record);

// Each command registers itself on `app` and sets `*run` when chosen.
using Runner = std::function<int()>;
void AddInitCommand(CLI::App& app, GlobalOptions& g, Runner* run);
void AddKeyCommand(CLI::App& app, GlobalOptions& g, Runner* run);
void AddBackupCommand(CLI::App& app, GlobalOptions& g, Runner* run);
void AddSnapshotsCommand(CLI::App& app, GlobalOptions& g, Runner* run);
void AddLsCommand(CLI::App& app, GlobalOptions& g, Runner* run);
void AddDiffCommand(CLI::App& app, GlobalOptions& g, Runner* run);
void AddCheckCommand(CLI::App& app, GlobalOptions& g, Runner* run);
void AddStatsCommand(CLI::App& app, GlobalOptions& g, Runner* run);
void AddRestoreCommand(CLI::App& app, GlobalOptions& g, Runner* run);
// Browsing every snapshot through a read-only FUSE mount (restore/mount/).
void AddMountCommand(CLI::App& app, GlobalOptions& g, Runner* run);
// Repository maintenance: drctl only (an agent can never forget or prune).
void AddPruneCommand(CLI::App& app, GlobalOptions& g, Runner* run);
void AddForgetCommand(CLI::App& app, GlobalOptions& g, Runner* run);
// Retention locks (cmd_lock.cc): drctl only, like forget.
void AddLockCommand(CLI::App& app, GlobalOptions& g, Runner* run);
// The sealed snapshot history (cmd_verify_history.cc): drctl only.
void AddVerifyHistoryCommand(CLI::App& app, GlobalOptions& g, Runner* run);
// The policy service and its job log (policies/scheduler.h), in both
// programs; the RPO report of a local repository, drctl only (a vault
// reports its own: drvault status).
void AddRunCommand(CLI::App& app, GlobalOptions& g, Runner* run);
void AddJobsCommand(CLI::App& app, GlobalOptions& g, Runner* run);
void AddRpoCommand(CLI::App& app, GlobalOptions& g, Runner* run);
// The catalog (catalog/index/catalog.h): catalog sync|rebuild, versions,
// find, recovery-points; in both programs (dragent syncs through its vault).
void AddCatalogCommands(CLI::App& app, GlobalOptions& g, Runner* run);
// Recovery drills (restore/drill/): drill and drill history, in both programs.
void AddDrillCommand(CLI::App& app, GlobalOptions& g, Runner* run);
// migrate (cmd_migrate.cc): systems into the cloud by plan; drctl syncs
// through the plan's repository, dragent captures or applies through its vault.
void AddMigrateCommand(CLI::App& app, GlobalOptions& g, Runner* run, bool agent);

// The whole command line of drctl (agent = false) or dragent (agent = true:
// the repository is a vault, named by --vault/--namespace/--key/--server-key,
// and there is no init).
int RunApp(int argc, char** argv, bool agent);

// Resolves "latest", an id prefix, or (when `at` is set) a time.
Result<Snapshot> ResolveSnapshot(Repository& repo, const std::string& spec, const std::string& at,
                                 const std::string& host = "");

}  // namespace dr::cli
