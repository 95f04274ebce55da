#include "tools/drctl/cli.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "catalog/format/repo_config.h"
#include "core/env/fd.h"
#include "core/env/file_io.h"
#include "core/progress.h"
#include "core/timefmt.h"
#include "replicator/wire/vault_store.h"

namespace dr::cli {

namespace {
const char* program_name = "drctl";
}  // namespace

const char* ProgramName() { return program_name; }
void SetProgramName(const char* name) { program_name = name; }

int Fail(const Status& s) {
  std::fprintf(stderr, "%s: %s\n", program_name, s.message().c_str());
  return kExitError;
}

std::unique_ptr<Repository> OpenRepo(const GlobalOptions& g, const std::string& session_kind) {
  if (g.repo.empty()) {
    Fail(Status::InvalidArgument("no repository given (use -r PATH or set DR_REPOSITORY)"));
    return nullptr;
  }
  auto repo = OpenRepoAt(g.repo, session_kind);
  if (!repo.ok()) {
    Fail(repo.status());
    return nullptr;
  }
  return std::move(repo).value();
}

namespace {
Result<KeySource> ReadKeySourceFromEnvironment() {
  KeySource k;
  if (const char* f = std::getenv("DR_KEY_FILE"); f && *f) k.key_file = f;
  if (const char* f = std::getenv("DR_PASSPHRASE_FILE"); f && *f) {
    auto first = ReadFirstLine(f);
    if (!first.ok()) return first.status().WithContext("DR_PASSPHRASE_FILE");
    std::string line = std::move(first).value();
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
      return Status::InvalidArgument(std::string("passphrase file ") + f + " is empty");
    }
    k.passphrase = std::move(line);
  } else if (const char* p = std::getenv("DR_PASSPHRASE"); p && *p) {
    k.passphrase = std::string(p);
  }
  return k;
}

}  // namespace

Result<KeySource> KeySourceFromEnvironment() {
  // Read once, then the passphrase leaves the environment: hooks, drill
  // checks and alert commands this process starts must not inherit it.
  static const Result<KeySource> keys = [] {
    auto k = ReadKeySourceFromEnvironment();
    ::unsetenv("DR_PASSPHRASE");
    return k;
  }();
  return keys;
}

std::optional<std::string> NewPassphraseFromEnvironment() {
  static const std::optional<std::string> passphrase = [] {
    const char* p = std::getenv("DR_NEW_PASSPHRASE");
    std::optional<std::string> out;
    if (p && *p) out = std::string(p);
    ::unsetenv("DR_NEW_PASSPHRASE");
    return out;
  }();
  return passphrase;
}

Result<std::string> AskPassphrase(const std::string& prompt) {
  UniqueFd tty(::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY));
  if (tty.get() < 0) return Status::FromErrno(errno, "/dev/tty");
  termios saved{};
  const bool term = ::tcgetattr(tty.get(), &saved) == 0;
  if (term) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(tty.get(), TCSANOW, &quiet);
  }
  RETURN_IF_ERROR(WriteFull(tty.get(), prompt, "/dev/tty"));
  std::string line;
  char c;
  while (::read(tty.get(), &c, 1) == 1 && c != '\n') line.push_back(c);
  if (term) ::tcsetattr(tty.get(), TCSANOW, &saved);
  (void)WriteFull(tty.get(), "\n", "/dev/tty");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) return Status::InvalidArgument("no passphrase given");
  return line;
}

Result<KeySource> KeySourceFor(const std::string& url) {
  ASSIGN_OR_RETURN(KeySource keys, KeySourceFromEnvironment());
  if (keys.given() || IsVaultUrl(url)) return keys;
  auto store = OpenObjectStore(url);
  if (!store.ok()) return keys;
  auto raw = (*store)->Get("config");
  if (!raw.ok()) return keys;
  auto config = RepoConfig::Decode(*raw, "config");
  if (!config.ok() || !config->encrypted()) return keys;
  if (!::isatty(STDIN_FILENO)) {
    return Status::PermissionDenied((*store)->Url() +
                                    " is encrypted and no key was given (--key-file, "
                                    "--passphrase-file, DR_KEY_FILE, DR_PASSPHRASE_FILE or "
                                    "DR_PASSPHRASE)");
  }
  ASSIGN_OR_RETURN(std::string passphrase,
                   AskPassphrase("passphrase for " + RepositoryUrlForDisplay(url) + ": "));
  keys.passphrase = std::move(passphrase);
  return keys;
}

Result<std::unique_ptr<Repository>> OpenRepoAt(const std::string& url,
                                               const std::string& session_kind) {
  ASSIGN_OR_RETURN(KeySource keys, KeySourceFor(url));
  return OpenRepositoryAt(url, session_kind, std::move(keys));
}

bool ShowProgress(const GlobalOptions& g) {
  return !g.quiet && !g.json && (g.progress || ProgressReporter::StderrIsTerminal());
}

void PrintJson(const nlohmann::json& j) {
  std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

Result<std::unique_ptr<Catalog>> OpenCatalogFile(const std::string& file) {
  std::string path = file;
  if (path.empty()) {
    ASSIGN_OR_RETURN(path, DefaultCatalogPath());
  }
  return Catalog::Open(path);
}

std::string RepositoryUrlForDisplay(const std::string& repo) {
  return repo.substr(0, repo.find('?'));
}

std::string Printable(const std::string& raw) {
  return nlohmann::json(raw).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<Snapshot> ResolveSnapshot(Repository& repo, const std::string& spec, const std::string& at,
                                 const std::string& host) {
  if (!at.empty()) {
    if (!spec.empty() && spec != "latest") {
      return Status::InvalidArgument("give either a snapshot id or --at, not both");
    }
    ASSIGN_OR_RETURN(int64_t t, ParseTimeArg(at));
    return repo.FindSnapshotAt(t, host);
  }
  return repo.FindSnapshot(spec.empty() ? "latest" : spec, host);
}

}  // namespace dr::cli
