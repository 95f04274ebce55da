#include <cstdio>

#include "core/timefmt.h"
#include "replicator/backup.h"
#include "replicator/remote_target.h"
#include "replicator/vault_client.h"
#include "tools/drctl/cli.h"

namespace dr::cli {

void AddBackupCommand(CLI::App& app, GlobalOptions& g, Runner* run) {
  auto* cmd = app.add_subcommand("backup", "back up files and directories into a new snapshot");
  auto opts = std::make_shared<BackupOptions>();
  auto parent = std::make_shared<std::string>();
  cmd->add_option("paths", opts->paths, "files and directories to back up")->required();
  cmd->add_option("-e,--exclude", opts->excludes,
                  "glob to leave out; without '/' it matches a name at any depth");
  cmd->add_flag("-x,--one-file-system", opts->one_file_system, "do not cross mount points");
  cmd->add_option("--tag", opts->tags, "tag the snapshot (repeatable)");
  cmd->add_option("--host", opts->host, "host name recorded in the snapshot");
  cmd->add_option("--parent", *parent,
                  "snapshot to compare with (default: latest of same host+paths)");
  cmd->add_flag("--force", opts->force_reread, "read every file, ignoring the parent's metadata");
  cmd->add_option("--threads", opts->threads, "compression threads (default: one per core)");
  cmd->callback([&g, run, opts, parent] {
    *run = [&g, opts, parent] {
      // A local repository, or a vault session that stores only what the vault lacks.
      std::unique_ptr<Repository> repo;
      std::unique_ptr<BackupTarget> target;
      std::shared_ptr<VaultClient> vault;
      if (IsVaultUrl(g.repo)) {
        auto address = ParseVaultUrl(g.repo);
        if (!address.ok()) return Fail(address.status());
        auto client = VaultClient::Connect(*address);
        if (!client.ok()) return Fail(client.status());
        vault = std::move(client).value();
        auto remote = MakeRemoteTarget(vault, opts->threads);
        if (!remote.ok()) return Fail(remote.status());
        target = std::move(remote).value();
      } else {
        repo = OpenRepo(g);
        if (!repo) return kExitError;
        target = MakeRepositoryTarget(*repo, opts->threads);
      }
      if (!parent->empty()) opts->parent = *parent;
      ProgressCounters counters;
      opts->progress = &counters;
      Result<BackupResult> r = Status::Unavailable("not run");
      {
        ProgressReporter reporter(&counters, "backup", ShowProgress(g));
        r = RunBackup(*target, *opts);
      }
      if (!r.ok()) return Fail(r.status());
      const Snapshot& s = r->snapshot;
      const SnapshotStats& st = s.stats;
      for (const auto& w : r->warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
      const uint64_t wire_bytes = vault ? vault->stats().bytes_sent : 0;
      if (g.json) {
        nlohmann::json out = {{"snapshot", s.id.Hex()},
                              {"partial", s.partial},
                              {"warnings", r->warnings},
                              {"files_new", st.files_new},
                              {"files_changed", st.files_changed},
                              {"files_unchanged", st.files_unchanged},
                              {"dirs", st.dirs},
                              {"bytes_total", st.bytes_total},
                              {"bytes_read", st.bytes_read},
                              {"bytes_added", st.bytes_added},
                              {"blobs_added", st.blobs_added},
                              {"duration_s", st.duration_s}};
        if (vault) out["wire_bytes_sent"] = wire_bytes;
        PrintJson(out);
      } else if (!g.quiet) {
        std::printf(
            "snapshot %s saved%s: %llu new, %llu changed, %llu unchanged files, %llu dirs; "
            "read %s of %s, added %s to the repository in %.1fs\n",
            s.ShortId().c_str(), s.partial ? " (PARTIAL: see warnings)" : "",
            static_cast<unsigned long long>(st.files_new),
            static_cast<unsigned long long>(st.files_changed),
            static_cast<unsigned long long>(st.files_unchanged),
            static_cast<unsigned long long>(st.dirs), HumanBytes(st.bytes_read).c_str(),
            HumanBytes(st.bytes_total).c_str(), HumanBytes(st.bytes_added).c_str(), st.duration_s);
        if (vault) {
          std::printf("sent %s to vault %s (namespace %s)\n", HumanBytes(wire_bytes).c_str(),
                      vault->address().endpoint.c_str(), vault->address().nspace.c_str());
        }
      }
      return s.partial ? kExitPartial : kExitOk;
    };
  });
}

}  // namespace dr::cli
