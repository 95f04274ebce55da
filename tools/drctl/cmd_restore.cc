#include <cstdio>

#include "core/timefmt.h"
#include "restore/block/block_restore.h"
#include "restore/files/restorer.h"
#include "restore/files/verifier.h"
#include "tools/drctl/cli.h"

namespace dr::cli {

namespace {

struct RestoreArgs {
  std::string snapshot;
  std::string at;
  std::string host;
  std::string target;
  std::vector<std::string> includes;
  bool verify_only = false;
  int threads = 0;
};

int RunVerifyOnly(Repository& repo, const Snapshot& snap, const RestoreArgs& a,
                  const GlobalOptions& g) {
  ProgressCounters counters;
  auto r = WithProgress(g, &counters, "verify",
                        [&] { return VerifyAgainst(repo, snap, a.target, a.includes, &counters); });
  if (!r.ok()) return Fail(r.status());
  if (g.json) {
    nlohmann::json diffs = nlohmann::json::array();
    for (const auto& d : r->differences) diffs.push_back({{"path", d.path}, {"what", d.what}});
    PrintJson({{"snapshot", snap.id.Hex()},
               {"live_root", a.target},
               {"entries_checked", r->entries_checked},
               {"files_checked", r->files_checked},
               {"bytes_checked", r->bytes_checked},
               {"differences", diffs},
               {"seconds", r->seconds}});
  } else {
    for (const auto& d : r->differences) std::printf("%s: %s\n", d.path.c_str(), d.what.c_str());
    if (!g.quiet) {
      std::printf("verified snapshot %s against %s: %llu entries, %llu files, %s in %.1fs: %s\n",
                  snap.ShortId().c_str(), a.target.c_str(),
                  static_cast<unsigned long long>(r->entries_checked),
                  static_cast<unsigned long long>(r->files_checked),
                  HumanBytes(r->bytes_checked).c_str(), r->seconds,
                  r->differences.empty()
                      ? "identical"
                      : (std::to_string(r->differences.size()) + " differences").c_str());
    }
  }
  return r->differences.empty() ? kExitOk : kExitError;
}

// A block snapshot: to an image file, a device or an RBD image, or compared
// with one (--verify-only).
int RunBlockRestore(Repository& repo, const Snapshot& snap, const RestoreArgs& a,
                    const GlobalOptions& g) {
  if (!a.includes.empty()) {
    std::fprintf(stderr, "%s: --include does not apply to snapshot %s, a disk image\n",
                 ProgramName(), snap.ShortId().c_str());
    return kExitUsage;
  }
  ProgressCounters counters;
  if (a.verify_only) {
    auto r = WithProgress(g, &counters, "verify",
                          [&] { return VerifyBlockTarget(repo, snap, a.target, &counters); });
    if (!r.ok()) return Fail(r.status());
    if (g.json) {
      PrintJson({{"snapshot", snap.id.Hex()},
                 {"target", a.target},
                 {"blocks_checked", r->blocks},
                 {"bytes_checked", r->bytes},
                 {"differing_blocks", r->differing_count},
                 {"first_differing_blocks", r->differing},
                 {"seconds", r->seconds}});
    } else if (!g.quiet) {
      for (uint64_t b : r->differing)
        std::printf("block %llu (offset %llu) differs\n", static_cast<unsigned long long>(b),
                    static_cast<unsigned long long>(b * snap.block->block_size));
      std::printf("verified snapshot %s against %s: %llu blocks, %s in %.1fs: %s\n",
                  snap.ShortId().c_str(), a.target.c_str(),
                  static_cast<unsigned long long>(r->blocks), HumanBytes(r->bytes).c_str(),
                  r->seconds,
                  r->differing_count == 0
                      ? "identical"
                      : (std::to_string(r->differing_count) + " blocks differ").c_str());
    }
    return r->differing_count == 0 ? kExitOk : kExitError;
  }
  BlockRestoreOptions opts{a.target, a.threads, &counters, std::nullopt};
  auto r =
      WithProgress(g, &counters, "restore", [&] { return RestoreBlockSnapshot(repo, snap, opts); });
  if (!r.ok()) return Fail(r.status());
  const double rate = r->seconds > 0 ? r->length / r->seconds : 0;
  if (g.json) {
    PrintJson({{"snapshot", snap.id.Hex()},
               {"target", a.target},
               {"length", r->length},
               {"blocks", r->blocks},
               {"blocks_written", r->blocks_written},
               {"zero_blocks", r->zero_blocks},
               {"bytes_written", r->bytes_written},
               {"seconds", r->seconds},
               {"bytes_per_second", rate}});
  } else if (!g.quiet) {
    std::printf(
        "restored snapshot %s (%s %s) to %s: %s, %llu blocks written and verified against "
        "their ids, %llu zero blocks not written; %.1fs, %s/s\n",
        snap.ShortId().c_str(), snap.block->source_kind.c_str(), snap.paths.front().c_str(),
        a.target.c_str(), HumanBytes(r->length).c_str(),
        static_cast<unsigned long long>(r->blocks_written),
        static_cast<unsigned long long>(r->zero_blocks), r->seconds, HumanBytes(rate).c_str());
  }
  return kExitOk;
}

}  // namespace

void AddRestoreCommand(CLI::App& app, GlobalOptions& g, Runner* run) {
  auto* cmd = app.add_subcommand(
      "restore",
      "restore a snapshot (or parts) into a directory, verifying every file; a disk image "
      "snapshot to an image file, block device or rbd://POOL/IMAGE");
  auto a = std::make_shared<RestoreArgs>();
  cmd->add_option("snapshot", a->snapshot, "snapshot id, prefix or 'latest' (default: latest)");
  cmd->add_option("--at", a->at,
                  "the last snapshot at or before this time: \"YYYY-MM-DD HH:MM[:SS]\" (local) or "
                  "with Z for UTC");
  cmd->add_option("--host", a->host,
                  "only snapshots of this host for 'latest', --at and id prefixes");
  cmd->add_option("-t,--target", a->target,
                  "directory to restore into; for a disk image snapshot a new image file, a block "
                  "device, or rbd://POOL/IMAGE?conf=PATH&id=USER")
      ->required();
  cmd->add_option("-i,--include", a->includes,
                  "absolute path in the snapshot to restore (repeatable; default: everything)");
  cmd->add_flag("--verify-only", a->verify_only,
                "change nothing: compare the snapshot with the files under --target");
  cmd->add_option("--threads", a->threads,
                  "parallel file writers (default: one per core, more for rados://)");
  cmd->callback([&g, run, a] {
    *run = [&g, a] {
      auto repo = OpenRepo(g, "restore");
      if (!repo) return kExitError;
      auto snap = ResolveSnapshot(*repo, a->snapshot, a->at, a->host);
      if (!snap.ok()) return Fail(snap.status());
      if (snap->block) return RunBlockRestore(*repo, *snap, *a, g);
      if (a->verify_only) return RunVerifyOnly(*repo, *snap, *a, g);
      ProgressCounters counters;
      RestoreOptions opts;
      opts.target = a->target;
      opts.include_paths = a->includes;
      opts.threads = a->threads;
      opts.progress = &counters;
      auto r = WithProgress(g, &counters, "restore",
                            [&] { return RestoreSnapshot(*repo, *snap, opts); });
      if (!r.ok()) return Fail(r.status());
      for (const auto& e : r->errors) std::fprintf(stderr, "error: %s\n", e.c_str());
      double rate = r->seconds > 0 ? r->bytes_total / r->seconds : 0;
      if (g.json) {
        PrintJson({{"snapshot", snap->id.Hex()},
                   {"target", a->target},
                   {"files", r->files},
                   {"files_verified", r->files_verified},
                   {"dirs", r->dirs},
                   {"others", r->others},
                   {"hardlinks", r->hardlinks},
                   {"bytes_total", r->bytes_total},
                   {"bytes_written", r->bytes_written},
                   {"bytes_kept", r->bytes_kept},
                   {"errors", r->errors},
                   {"seconds", r->seconds}});
      } else if (!g.quiet) {
        std::printf(
            "restored snapshot %s to %s: %llu files (%llu verified bit-for-bit), %llu dirs, "
            "%llu other entries, %llu hard links; %s (%s written, %s already correct) in %.1fs, "
            "%s/s%s\n",
            snap->ShortId().c_str(), a->target.c_str(), static_cast<unsigned long long>(r->files),
            static_cast<unsigned long long>(r->files_verified),
            static_cast<unsigned long long>(r->dirs), static_cast<unsigned long long>(r->others),
            static_cast<unsigned long long>(r->hardlinks), HumanBytes(r->bytes_total).c_str(),
            HumanBytes(r->bytes_written).c_str(), HumanBytes(r->bytes_kept).c_str(), r->seconds,
            HumanBytes(rate).c_str(),
            r->errors.empty() ? "" : (", " + std::to_string(r->errors.size()) + " ERRORS").c_str());
      }
      return r->errors.empty() ? kExitOk : kExitError;
    };
  });
}

}  // namespace dr::cli
