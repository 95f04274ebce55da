#include <cstdio>

#include "catalog/checker.h"
#include "core/timefmt.h"
#include "replicator/wire/vault_store.h"
#include "tools/drctl/cli.h"

namespace dr::cli {

void AddCheckCommand(CLI::App& app, GlobalOptions& g, Runner* run) {
  auto* cmd = app.add_subcommand("check", "verify the repository's structure (and data)");
  auto read_data = std::make_shared<bool>(false);
  auto without_key = std::make_shared<bool>(false);
  cmd->add_flag("--read-data", *read_data,
                "read every pack, decompress and verify every blob against its id");
  cmd->add_flag("--without-key", *without_key,
                "an encrypted repository, at a site holding no key: check every object "
                "against its name and layout (with --read-data, every pack too)");
  cmd->callback([&g, run, read_data, without_key] {
    *run = [&g, read_data, without_key] {
      ProgressCounters counters;
      CheckOptions opts;
      opts.read_data = *read_data;
      opts.progress = &counters;
      Result<CheckReport> r = Status::InvalidArgument("check did not run");
      if (*without_key) {
        if (g.repo.empty()) return Fail(Status::InvalidArgument("no repository given (use -r)"));
        auto store = IsVaultUrl(g.repo) ? OpenVaultStore(g.repo) : OpenObjectStore(g.repo);
        if (!store.ok()) return Fail(store.status());
        r = WithProgress(g, &counters, "check",
                         [&] { return CheckWithoutKey(store->get(), opts); });
      } else {
        auto repo = OpenRepo(g, "check");
        if (!repo) return kExitError;
        r = WithProgress(g, &counters, "check", [&] { return CheckRepository(*repo, opts); });
      }
      if (!r.ok()) return Fail(r.status());
      size_t errors = r->error_count();
      if (g.json) {
        nlohmann::json problems = nlohmann::json::array();
        for (const auto& p : r->problems) {
          problems.push_back({{"kind", ProblemKindName(p.kind)},
                              {"where", p.where},
                              {"message", p.message},
                              {"error", p.IsError()}});
        }
        PrintJson({{"errors", errors},
                   {"problems", problems},
                   {"packs", r->packs},
                   {"blobs", r->blobs},
                   {"snapshots", r->snapshots},
                   {"trees", r->trees},
                   {"files", r->files},
                   {"bytes_read", r->bytes_read},
                   {"seconds", r->seconds}});
      } else {
        for (const auto& p : r->problems) {
          std::fprintf(p.IsError() ? stderr : stdout, "%s: %s: %s: %s\n",
                       p.IsError() ? "error" : "note", ProblemKindName(p.kind), p.where.c_str(),
                       p.message.c_str());
        }
        if (!g.quiet) {
          std::printf(
              "checked %llu packs, %llu blobs, %llu snapshots, %llu trees, %llu files%s "
              "in %.1fs: %s\n",
              static_cast<unsigned long long>(r->packs), static_cast<unsigned long long>(r->blobs),
              static_cast<unsigned long long>(r->snapshots),
              static_cast<unsigned long long>(r->trees), static_cast<unsigned long long>(r->files),
              *read_data ? (", read " + HumanBytes(r->bytes_read)).c_str() : "", r->seconds,
              errors ? (std::to_string(errors) + " errors").c_str() : "no errors found");
        }
      }
      return errors ? kExitError : kExitOk;
    };
  });
}

}  // namespace dr::cli
