#include <cstdio>

#include "core/timefmt.h"
#include "restore/restorer.h"
#include "restore/verifier.h"
#include "tools/drctl/cli.h"

namespace dr::cli {

namespace {

struct RestoreArgs {
  std::string snapshot;
  std::string at;
  std::string target;
  std::vector<std::string> includes;
  bool verify_only = false;
  int threads = 0;
};

int RunVerifyOnly(Repository& repo, const Snapshot& snap, const RestoreArgs& a,
                  const GlobalOptions& g) {
  ProgressCounters counters;
  Result<VerifyResult> r = Status::Unavailable("not run");
  {
    ProgressReporter reporter(&counters, "verify", ShowProgress(g));
    r = VerifyAgainst(repo, snap, a.target, a.includes, &counters);
  }
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

}  // namespace

void AddRestoreCommand(CLI::App& app, GlobalOptions& g, Runner* run) {
  auto* cmd = app.add_subcommand(
      "restore", "restore a snapshot (or parts) into a directory, verifying every file");
  auto a = std::make_shared<RestoreArgs>();
  cmd->add_option("snapshot", a->snapshot, "snapshot id, prefix or 'latest' (default: latest)");
  cmd->add_option("--at", a->at,
                  "the last snapshot at or before this time: \"YYYY-MM-DD HH:MM[:SS]\" (local) or "
                  "with Z for UTC");
  cmd->add_option("-t,--target", a->target, "directory to restore into")->required();
  cmd->add_option("-i,--include", a->includes,
                  "absolute path in the snapshot to restore (repeatable; default: everything)");
  cmd->add_flag("--verify-only", a->verify_only,
                "change nothing: compare the snapshot with the files under --target");
  cmd->add_option("--threads", a->threads,
                  "parallel file writers (default: one per core, more for rados://)");
  cmd->callback([&g, run, a] {
    *run = [&g, a] {
      auto repo = OpenRepo(g);
      if (!repo) return kExitError;
      auto snap = ResolveSnapshot(*repo, a->snapshot, a->at);
      if (!snap.ok()) return Fail(snap.status());
      if (a->verify_only) return RunVerifyOnly(*repo, *snap, *a, g);
      ProgressCounters counters;
      RestoreOptions opts;
      opts.target = a->target;
      opts.include_paths = a->includes;
      opts.threads = a->threads;
      opts.progress = &counters;
      Result<RestoreResult> r = Status::Unavailable("not run");
      {
        ProgressReporter reporter(&counters, "restore", ShowProgress(g));
        r = RestoreSnapshot(*repo, *snap, opts);
      }
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
