#include <cstdio>

#include "catalog/prune.h"
#include "catalog/store/object_store.h"
#include "core/timefmt.h"
#include "tools/drctl/cli.h"

namespace dr::cli {

namespace {

nlohmann::json ReportJson(const PruneReport& r) {
  return {{"snapshots", r.snapshots},
          {"blobs_indexed", r.blobs_indexed},
          {"blobs_referenced", r.blobs_referenced},
          {"packs", r.packs},
          {"pack_bytes", r.pack_bytes},
          {"referenced_bytes", r.referenced_bytes},
          {"condemned_unused", r.condemned_unused},
          {"condemned_unindexed", r.condemned_unindexed},
          {"condemned_repacked", r.condemned_repacked},
          {"condemned_bytes", r.condemned_bytes},
          {"repacked_blobs", r.repacked_blobs},
          {"repacked_bytes", r.repacked_bytes},
          {"packs_deleted", r.packs_deleted},
          {"bytes_deleted", r.bytes_deleted},
          {"packs_rescued", r.packs_rescued},
          {"records_dropped", r.records_dropped},
          {"records_waiting", r.records_waiting},
          {"waiting_for", r.waiting_for},
          {"stale_sessions_removed", r.stale_sessions_removed},
          {"segments_before", r.segments_before},
          {"segments_after", r.segments_after},
          {"reachability_bytes", r.reachability_bytes},
          {"warnings", r.warnings},
          {"seconds", r.seconds}};
}

void PrintReport(const PruneReport& r, bool dry_run) {
  auto n = [](uint64_t v) { return static_cast<unsigned long long>(v); };
  std::printf(
      "%llu snapshots reference %llu of %llu blobs; %llu packs hold %s, %s of it "
      "referenced\n",
      n(r.snapshots), n(r.blobs_referenced), n(r.blobs_indexed), n(r.packs),
      HumanBytes(r.pack_bytes).c_str(), HumanBytes(r.referenced_bytes).c_str());
  const char* verb = dry_run ? "would condemn" : "condemned";
  std::printf(
      "%s %llu packs (%s): %llu unused, %llu left by failed backups, %llu repacked "
      "(%llu blobs, %s copied)\n",
      verb, n(r.condemned_unused + r.condemned_unindexed + r.condemned_repacked),
      HumanBytes(r.condemned_bytes).c_str(), n(r.condemned_unused), n(r.condemned_unindexed),
      n(r.condemned_repacked), n(r.repacked_blobs), HumanBytes(r.repacked_bytes).c_str());
  std::printf("%s %llu packs (%s)%s\n", dry_run ? "would delete now" : "deleted",
              n(r.packs_deleted), HumanBytes(r.bytes_deleted).c_str(),
              r.packs_rescued ? (", kept " + std::to_string(r.packs_rescued) +
                                 " condemned packs a new snapshot uses")
                                    .c_str()
                              : "");
  if (dry_run && r.records_waiting == 0 && r.condemned_bytes > 0) {
    std::printf("with no backup running, the condemned packs are deleted in the same run\n");
  }
  if (r.records_waiting > 0) {
    std::printf(
        "%llu condemnation records wait for sessions that were running when they were "
        "written (the next prune deletes their packs once these end):\n",
        n(r.records_waiting));
    for (const auto& w : r.waiting_for) std::printf("  %s\n", w.c_str());
  }
  if (r.stale_sessions_removed) {
    std::printf("removed %llu session markers of processes that are gone\n",
                n(r.stale_sessions_removed));
  }
  std::printf("index: %llu segments before, %llu after; reachability set %s; %.1fs\n",
              n(r.segments_before), n(r.segments_after), HumanBytes(r.reachability_bytes).c_str(),
              r.seconds);
  for (const auto& w : r.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
}

}  // namespace

void AddPruneCommand(CLI::App& app, GlobalOptions& g, Runner* run) {
  auto* cmd = app.add_subcommand(
      "prune", "reclaim the space of data no snapshot references (safe while backups run)");
  auto dry_run = std::make_shared<bool>(false);
  auto max_unused = std::make_shared<double>(PruneOptions{}.max_unused * 100);
  cmd->add_flag("-n,--dry-run", *dry_run, "show what would be condemned, repacked and deleted");
  cmd->add_option("--max-unused", *max_unused,
                  "repack the most wasteful packs until unreferenced data is at most this "
                  "percentage of what the packs hold afterwards (default 5; 100: never repack)")
      ->check(CLI::Range(0.0, 100.0));
  cmd->callback([&g, run, dry_run, max_unused] {
    *run = [&g, dry_run, max_unused] {
      if (g.repo.empty()) {
        return Fail(
            Status::InvalidArgument("no repository given (use -r PATH or set DR_REPOSITORY)"));
      }
      RepositoryOpener open = [&g]() { return OpenRepoAt(g.repo); };
      PruneOptions opts;
      opts.dry_run = *dry_run;
      opts.max_unused = *max_unused / 100.0;
      if (!g.quiet && !g.json) {
        opts.log = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
      }
      auto r = Prune(open, opts);
      if (!r.ok()) return Fail(r.status());
      if (g.json) {
        auto j = ReportJson(*r);
        j["dry_run"] = *dry_run;
        PrintJson(j);
      } else if (!g.quiet) {
        PrintReport(*r, *dry_run);
      }
      return kExitOk;
    };
  });
}

}  // namespace dr::cli
