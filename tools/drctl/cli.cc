#include "tools/drctl/cli.h"

#include <cstdio>
#include <iostream>

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
  auto store = IsVaultUrl(g.repo) ? OpenVaultStore(g.repo) : OpenObjectStore(g.repo);
  if (!store.ok()) {
    Fail(store.status());
    return nullptr;
  }
  auto repo = Repository::Open(std::move(store).value(), IsVaultUrl(g.repo) ? "" : session_kind);
  if (!repo.ok()) {
    Fail(repo.status());
    return nullptr;
  }
  return std::move(repo).value();
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
