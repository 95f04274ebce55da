// drctl catalog sync|rebuild, versions, find, recovery-points: the catalog
// of recovery points and file versions (catalog/index/catalog.h). Sync reads
// the repository named by -r (or dragent's vault); the queries read only
// the catalog file, so they answer with every site down. dragent asks its
// vault's catalog of the namespace instead, unless given a catalog file
// (--catalog or DR_CATALOG).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <thread>

#include "catalog/index/catalog.h"
#include "catalog/index/catalog_query.h"
#include "core/timefmt.h"
#include "replicator/wire/vault_client.h"
#include "tools/drctl/cli.h"

namespace dr::cli {
namespace {

struct CatalogFlags {
  std::string file, site;
};

void AddCatalogFileOption(CLI::App* cmd, CatalogFlags* f) {
  cmd->add_option("--catalog", f->file,
                  "the catalog file (env DR_CATALOG; default ~/.cache/dr/catalog.db)");
}

// Through a vault, without a catalog file of one's own, the vault answers.
bool AskTheVault(const GlobalOptions& g, const CatalogFlags& f) {
  const char* env = std::getenv("DR_CATALOG");
  return IsVaultUrl(g.repo) && f.file.empty() && (env == nullptr || *env == '\0');
}

Result<std::string> AskVaultCatalog(const GlobalOptions& g, const std::string& request) {
  ASSIGN_OR_RETURN(VaultAddress address, ParseVaultUrl(g.repo));
  ASSIGN_OR_RETURN(auto client, VaultClient::Connect(address));
  // A vault that has not built a namespace's catalog yet says so: wait a
  // little for it rather than fail.
  for (int attempt = 0;; ++attempt) {
    auto answer = Expect<wire::CatalogAnswer>(client->Call(wire::CatalogQuery{0, request}));
    if (answer.ok()) return std::move(answer->answer);
    if (answer.status().code() != Code::kUnavailable || attempt == 20) return answer.status();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

Result<std::vector<FileVersion>> VersionsFrom(
    const GlobalOptions& g, const CatalogFlags& f, const std::string& request,
    const std::function<Result<std::vector<FileVersion>>(Catalog&)>& local) {
  if (AskTheVault(g, f)) {
    ASSIGN_OR_RETURN(std::string answer, AskVaultCatalog(g, request));
    return VersionsFromAnswer(answer);
  }
  ASSIGN_OR_RETURN(auto catalog, OpenCatalogFile(f.file));
  return local(*catalog);
}

std::string Age(int64_t then_ns) {
  const int64_t s = (NowUnixNs() - then_ns) / 1000000000;
  char buf[32];
  if (s < 120) {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  } else if (s < 7200) {
    std::snprintf(buf, sizeof buf, "%lldm", static_cast<long long>(s / 60));
  } else if (s < 172800) {
    std::snprintf(buf, sizeof buf, "%lldh", static_cast<long long>(s / 3600));
  } else {
    std::snprintf(buf, sizeof buf, "%lldd", static_cast<long long>(s / 86400));
  }
  return buf;
}

nlohmann::json VersionJson(const FileVersion& v) {
  nlohmann::json j = {{"path", v.path},
                      {"type", NodeTypeName(v.type)},
                      {"size", v.size},
                      {"mtime", FormatRfc3339Utc(v.mtime_ns)},
                      {"first_time", FormatRfc3339Utc(v.first_time_ns)},
                      {"last_time", FormatRfc3339Utc(v.last_time_ns)},
                      {"first_snapshot", v.first_snapshot},
                      {"last_snapshot", v.last_snapshot},
                      {"snapshots", v.snapshots},
                      {"sites", v.sites}};
  if (!v.digest.empty()) j["digest"] = v.digest;
  if (v.type == NodeType::kSymlink) j["link_target"] = v.link_target;
  return j;
}

std::string Joined(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
  return out;
}

int PrintVersions(const GlobalOptions& g, const std::vector<FileVersion>& versions,
                  bool with_path) {
  if (g.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& v : versions) arr.push_back(VersionJson(v));
    PrintJson(arr);
    return kExitOk;
  }
  if (!with_path) std::printf("%-3s  ", "#");
  std::printf("%-19s  %-19s  %5s  %10s  %-19s  %-8s  %s\n", "first seen", "last seen", "snaps",
              "size", "modified", "content", with_path ? "sites  path" : "sites");
  int n = 0;
  for (const auto& v : versions) {
    if (!with_path) std::printf("%-3d  ", ++n);
    std::string content = v.type == NodeType::kSymlink ? "-> " + v.link_target
                          : v.digest.empty()           ? NodeTypeName(v.type)
                                                       : v.digest.substr(0, 8);
    std::printf("%-19s  %-19s  %5d  %10s  %-19s  %-8s  %s%s%s\n",
                FormatLocal(v.first_time_ns).c_str(), FormatLocal(v.last_time_ns).c_str(),
                v.snapshots, HumanBytes(static_cast<double>(v.size)).c_str(),
                FormatLocal(v.mtime_ns).c_str(), content.c_str(), Joined(v.sites, ",").c_str(),
                with_path ? "  " : "", with_path ? v.path.c_str() : "");
  }
  return kExitOk;
}

void AddSyncCommands(CLI::App& parent, GlobalOptions& g, Runner* run) {
  auto* cmd = parent.add_subcommand("catalog", "the catalog of recovery points and file versions");
  cmd->require_subcommand(1);
  for (const bool rebuild : {false, true}) {
    auto* sub = cmd->add_subcommand(
        rebuild ? "rebuild" : "sync",
        rebuild ? "forget the site in the catalog and index all its snapshots again"
                : "add the repository's new snapshots to the catalog, drop forgotten ones");
    auto f = std::make_shared<CatalogFlags>();
    AddCatalogFileOption(sub, f.get());
    sub->add_option("--site", f->site,
                    "the name this repository has in the catalog, e.g. same-city or off-site "
                    "(default: its URL)");
    sub->callback([&g, run, f, rebuild] {
      *run = [&g, f, rebuild] {
        auto catalog = OpenCatalogFile(f->file);
        if (!catalog.ok()) return Fail(catalog.status());
        auto repo = OpenRepo(g, "catalog");
        if (!repo) return kExitError;
        const std::string url = RepositoryUrlForDisplay(g.repo);
        const std::string site = f->site.empty() ? url : f->site;
        auto r =
            rebuild ? (*catalog)->Rebuild(*repo, site, url) : (*catalog)->Sync(*repo, site, url);
        if (!r.ok()) return Fail(r.status());
        for (const auto& w : r->warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
        if (g.json) {
          PrintJson({{"site", site},
                     {"snapshots_added", r->snapshots_added},
                     {"snapshots_removed", r->snapshots_removed},
                     {"lineages_reindexed", r->lineages_reindexed},
                     {"versions_added", r->versions_added},
                     {"drills_added", r->drills_added},
                     {"warnings", r->warnings},
                     {"seconds", r->seconds}});
        } else if (!g.quiet) {
          std::printf(
              "catalog: %s: %d snapshots added, %d removed, %llu file versions added in "
              "%.2fs\n",
              site.c_str(), r->snapshots_added, r->snapshots_removed,
              static_cast<unsigned long long>(r->versions_added), r->seconds);
        }
        return kExitOk;
      };
    });
  }
}

void AddVersionsCommand(CLI::App& app, GlobalOptions& g, Runner* run) {
  auto* cmd = app.add_subcommand("versions", "every distinct version of a path, at every site");
  auto f = std::make_shared<CatalogFlags>();
  auto path = std::make_shared<std::string>();
  cmd->add_option("PATH", *path, "absolute path as backed up")->required();
  AddCatalogFileOption(cmd, f.get());
  cmd->callback([&g, run, f, path] {
    *run = [&g, f, path] {
      auto v = VersionsFrom(g, *f, VersionsRequest(*path),
                            [&](Catalog& c) { return c.Versions(*path); });
      if (!v.ok()) return Fail(v.status());
      if (v->empty() && !g.json) {
        if (AskTheVault(g, *f)) {
          std::fprintf(stderr, "%s: no version of %s in the vault's catalog\n", ProgramName(),
                       path->c_str());
        } else {
          std::fprintf(stderr, "%s: no version of %s in the catalog (run `%s catalog sync`?)\n",
                       ProgramName(), path->c_str(), ProgramName());
        }
        return kExitError;
      }
      return PrintVersions(g, *v, false);
    };
  });
}

struct FindFlags {
  std::string pattern, since, until;
  bool changed = false;
  size_t limit = 0;
};

void AddFindCommand(CLI::App& app, GlobalOptions& g, Runner* run) {
  auto* cmd = app.add_subcommand("find", "find versions of files by name or path in the catalog");
  auto f = std::make_shared<CatalogFlags>();
  auto q = std::make_shared<FindFlags>();
  cmd->add_option("PATTERN", q->pattern,
                  "glob (* ? [..]) on the name, or on the whole path if it has a '/'")
      ->required();
  cmd->add_option("--since", q->since, "only versions held by a snapshot taken at or after T");
  cmd->add_option("--until", q->until, "only versions held by a snapshot taken at or before T");
  cmd->add_flag("--changed", q->changed,
                "only versions that appeared (new or changed) within --since/--until");
  cmd->add_option("--limit", q->limit, "at most N versions (default: all)");
  AddCatalogFileOption(cmd, f.get());
  cmd->callback([&g, run, f, q] {
    *run = [&g, f, q] {
      FindQuery query;
      query.pattern = q->pattern;
      query.changed = q->changed;
      query.limit = q->limit;
      for (auto [text, out] :
           {std::pair{&q->since, &query.since_ns}, std::pair{&q->until, &query.until_ns}}) {
        if (text->empty()) continue;
        // --since 2026-12-01 takes in that whole day, --until too.
        auto t = out == &query.since_ns ? ParseTimeArgStart(*text) : ParseTimeArg(*text);
        if (!t.ok()) return Fail(t.status());
        *out = *t;
      }
      auto v = VersionsFrom(g, *f, FindRequest(query), [&](Catalog& c) { return c.Find(query); });
      if (!v.ok()) return Fail(v.status());
      return PrintVersions(g, *v, true);
    };
  });
}

void AddRecoveryPointsCommand(CLI::App& app, GlobalOptions& g, Runner* run) {
  auto* cmd = app.add_subcommand("recovery-points",
                                 "every snapshot at every site in the catalog, with ages and "
                                 "each source's lag between sites");
  auto f = std::make_shared<CatalogFlags>();
  AddCatalogFileOption(cmd, f.get());
  cmd->add_option("--site", f->site, "only this site");
  cmd->callback([&g, run, f] {
    *run = [&g, f] {
      Result<std::vector<RecoveryPoint>> points = Status::NotFound("");
      if (AskTheVault(g, *f)) {
        auto answer = AskVaultCatalog(g, RecoveryPointsRequest(f->site));
        points = answer.ok() ? RecoveryPointsFromAnswer(*answer)
                             : Result<std::vector<RecoveryPoint>>(answer.status());
      } else {
        auto catalog = OpenCatalogFile(f->file);
        points = catalog.ok() ? (*catalog)->RecoveryPoints(f->site)
                              : Result<std::vector<RecoveryPoint>>(catalog.status());
      }
      if (!points.ok()) return Fail(points.status());
      // The newest point of each source at each site; a site's lag is how
      // far its newest is behind the newest anywhere.
      std::map<std::string, std::map<std::string, int64_t>> newest;
      for (const auto& p : *points) {
        int64_t& n = newest[p.identity + "\n" + p.host + "\n" + Joined(p.paths, " ")][p.site];
        n = std::max(n, p.time_ns);
      }
      auto lag_of = [&](const RecoveryPoint& p) {
        const auto& sites = newest[p.identity + "\n" + p.host + "\n" + Joined(p.paths, " ")];
        int64_t best = 0;
        for (const auto& [site, t] : sites) best = std::max(best, t);
        return (best - sites.at(p.site)) / 1000000000;
      };
      if (g.json) {
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& p : *points) {
          nlohmann::json paths = nlohmann::json::array();
          for (const auto& path : p.paths) paths.push_back(path);
          arr.push_back({{"site", p.site},
                         {"id", p.id},
                         {"time", FormatRfc3339Utc(p.time_ns)},
                         {"age_s", (NowUnixNs() - p.time_ns) / 1000000000},
                         {"host", p.host},
                         {"identity", p.identity},
                         {"policy", p.policy},
                         {"kind", p.kind},
                         {"paths", paths},
                         {"tags", p.tags},
                         {"bytes_total", p.bytes_total},
                         {"bytes_added", p.bytes_added},
                         {"files", p.files},
                         {"partial", p.partial},
                         {"site_lag_s", lag_of(p)}});
        }
        PrintJson(arr);
        return kExitOk;
      }
      std::printf("%-12s  %-8s  %-19s  %6s  %-12s  %-6s  %-10s  %10s  %8s  %s\n", "site", "id",
                  "time", "age", "host", "kind", "policy", "size", "site lag", "paths");
      for (const auto& p : *points) {
        const int64_t lag = lag_of(p);
        std::printf("%-12s  %-8s  %-19s  %6s  %-12s  %-6s  %-10s  %10s  %8s  %s\n", p.site.c_str(),
                    p.id.substr(0, 8).c_str(), FormatLocal(p.time_ns).c_str(),
                    Age(p.time_ns).c_str(), p.host.c_str(), p.kind.c_str(), p.policy.c_str(),
                    HumanBytes(static_cast<double>(p.bytes_total)).c_str(),
                    lag == 0 ? "-" : Age(NowUnixNs() - lag * 1000000000).c_str(),
                    Joined(p.paths, " ").c_str());
      }
      return kExitOk;
    };
  });
}

}  // namespace

void AddCatalogCommands(CLI::App& app, GlobalOptions& g, Runner* run) {
  AddSyncCommands(app, g, run);
  AddVersionsCommand(app, g, run);
  AddFindCommand(app, g, run);
  AddRecoveryPointsCommand(app, g, run);
}

}  // namespace dr::cli
