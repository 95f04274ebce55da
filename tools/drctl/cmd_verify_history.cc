// drctl verify-history: a site's snapshots against the history its vault
// sealed (catalog/history.h), and, with --offsite, the two sites' histories
// against each other. Read only: it needs the sites' storage, not a vault.
#include <cstdio>
#include <optional>

#include "catalog/history.h"
#include "catalog/store/object_store.h"
#include "replicator/wire/vault_client.h"
#include "tools/drctl/cli.h"

namespace dr::cli {

namespace {

struct VerifyHistoryFlags {
  std::string key, offsite, offsite_key, nspace;
};

bool IsKeyHex(const std::string& k) {
  if (k.size() != 64) return false;
  for (char c : k)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

Result<SiteHistory> ReadSite(const std::string& url, const std::string& key,
                             const std::string& site, const std::string& ns) {
  if (IsVaultUrl(url)) {
    return Status::InvalidArgument(site +
                                   ": verify-history reads a site's storage (dir:// or "
                                   "rados://), not a vault");
  }
  ASSIGN_OR_RETURN(auto store, OpenObjectStore(url));
  return VerifySiteHistory(*store, key, site, ns);
}

nlohmann::json SiteJson(const SiteHistory& h) {
  return {{"site", h.site},
          {"namespace", h.nspace},
          {"key", h.log.key},
          {"records", h.log.entries.size()},
          {"snapshots_present", h.present},
          {"snapshots_forgotten", h.forgotten()},
          {"intact", h.problems.empty()},
          {"problems", h.problems}};
}

void PrintSite(const SiteHistory& h) {
  if (h.problems.empty()) {
    std::printf(
        "%s: history of namespace %s intact: %zu records, %zu snapshots as sealed, %zu "
        "forgotten; key %s\n",
        h.site.c_str(), h.nspace.empty() ? "(none)" : h.nspace.c_str(), h.log.entries.size(),
        h.present, h.forgotten(), h.log.key.empty() ? "(no records)" : h.log.key.c_str());
  }
  for (const auto& p : h.problems) std::fprintf(stderr, "%s: %s\n", ProgramName(), p.c_str());
}

int RunVerifyHistory(const GlobalOptions& g, const VerifyHistoryFlags& f) {
  if (g.repo.empty())
    return Fail(Status::InvalidArgument("no repository given (use -r URL or set DR_REPOSITORY)"));
  for (const auto& [flag, k] : {std::pair{"--key", f.key}, {"--offsite-key", f.offsite_key}}) {
    if (!k.empty() && !IsKeyHex(k)) {
      return Fail(Status::InvalidArgument(std::string(flag) +
                                          ": a vault key is 64 lowercase hex digits "
                                          "(drvault init and drvault audit --json print it)"));
    }
  }
  auto same = ReadSite(g.repo, f.key,
                       f.offsite.empty() ? RepositoryUrlForDisplay(g.repo) : "same-city", f.nspace);
  if (!same.ok()) return Fail(same.status());
  std::optional<SiteHistory> off;
  std::optional<HistoryComparison> cmp;
  if (!f.offsite.empty()) {
    // The off-site's history must be of the same namespace.
    auto o = ReadSite(f.offsite, f.offsite_key, "off-site", same->nspace);
    if (!o.ok()) return Fail(o.status());
    off = std::move(o).value();
    cmp = CompareHistories(*same, *off);
  }
  bool ok = same->problems.empty() && (!off || off->problems.empty()) && (!cmp || !cmp->diverged);
  if (g.json) {
    nlohmann::json out = {{"intact", ok}, {"sites", {SiteJson(*same)}}};
    if (off) {
      out["sites"].push_back(SiteJson(*off));
      out["diverged"] = cmp->diverged;
      out["divergences"] = cmp->divergences;
      out["lagging"] = cmp->lagging;
    }
    PrintJson(out);
    return ok ? kExitOk : kExitError;
  }
  PrintSite(*same);
  if (off) {
    PrintSite(*off);
    for (const auto& d : cmp->divergences)
      std::fprintf(stderr, "%s: diverged: %s\n", ProgramName(), d.c_str());
    if (!cmp->diverged) {
      if (cmp->lagging.empty()) {
        std::printf("the off-site holds everything the same-city site accepted\n");
      } else {
        std::printf("the off-site lags by %zu snapshots (not diverged); oldest: %s\n",
                    cmp->lagging.size(), cmp->lagging.front().c_str());
      }
    }
  }
  return ok ? kExitOk : kExitError;
}

}  // namespace

void AddVerifyHistoryCommand(CLI::App& app, GlobalOptions& g, Runner* run) {
  auto* cmd = app.add_subcommand(
      "verify-history",
      "check a site's snapshots against the history its vault signed (-r: the same-city "
      "storage); with --offsite, compare the two sites");
  auto f = std::make_shared<VerifyHistoryFlags>();
  cmd->add_option("--key", f->key, "the same-city vault's key (drvault init prints it)");
  cmd->add_option("--offsite", f->offsite, "the off-site's storage of the same namespace");
  cmd->add_option("--offsite-key", f->offsite_key, "the off-site vault's key");
  cmd->add_option("--namespace", f->nspace,
                  "the namespace the history must be of (default: the one its first record "
                  "names, printed)");
  cmd->callback([&g, run, f] { *run = [&g, f] { return RunVerifyHistory(g, *f); }; });
}

}  // namespace dr::cli
