// drctl: the administrator's command line. Each command lives in its own
// file beside this one; this only wires them together.
#include <malloc.h>
#include <sys/resource.h>

#include <cstdlib>

#include "tools/drctl/cli.h"

int main(int argc, char** argv) {
  using namespace dr::cli;
  // Restore keeps one descriptor per queued file; allow what the system allows.
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  // Chunks and packs are megabytes each and pass between threads; a fixed
  // mmap threshold returns them to the system at once instead of letting
  // per-thread heaps grow (glibc raises the threshold dynamically otherwise).
  mallopt(M_MMAP_THRESHOLD, 8 << 20);
  // Pinning the mmap threshold also pins the trim threshold at 128 KiB, and
  // then every freed megabyte buffer at the heap top goes back to the kernel
  // only to be faulted in again (seen: 11k brk calls in one verify).
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  CLI::App app{"drctl " DR_VERSION " - disaster-recovery backup: repositories, backups, restores"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the command name
  GlobalOptions g;
  if (const char* r = std::getenv("DR_REPOSITORY")) g.repo = r;
  app.add_option("-r,--repo", g.repo, "repository: dir:///path or a path (env DR_REPOSITORY)");
  app.add_flag("--json", g.json, "machine-readable output on stdout");
  app.add_flag("-q,--quiet", g.quiet, "print only errors");
  app.add_flag("--progress", g.progress, "show the live progress line even when not a terminal");
  Runner run;
  AddInitCommand(app, g, &run);
  AddBackupCommand(app, g, &run);
  AddSnapshotsCommand(app, g, &run);
  AddLsCommand(app, g, &run);
  AddDiffCommand(app, g, &run);
  AddCheckCommand(app, g, &run);
  AddStatsCommand(app, g, &run);
  AddRestoreCommand(app, g, &run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "drctl: %s (see drctl --help)\n", e.what());
    return kExitUsage;
  }
  return run ? run() : kExitUsage;
}
