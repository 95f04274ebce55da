#include "migrate/hook_runner.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <thread>

namespace dr {

Status RunMigrationHook(const HookRun& hook) {
  const std::string what = hook.step + " hook '" + hook.command + "'";
  const pid_t pid = ::fork();
  if (pid < 0) return Status::FromErrno(errno, what);
  if (pid == 0) {
    // Its own process group, so a timeout reaches whatever it started.
    ::setpgid(0, 0);
    for (const auto& [k, v] : hook.env) ::setenv(k.c_str(), v.c_str(), 1);
    ::execl("/bin/sh", "sh", "-c", hook.command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also here: whichever runs first
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(hook.timeout_s * 1000));
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    int status = 0;
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done < 0 && errno == EINTR) continue;
    if (done < 0) return Status::FromErrno(errno, "wait for " + what);
    if (done == pid) {
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::OK();
      if (WIFEXITED(status))
        return Status::IOError(what + " failed (exit status " +
                               std::to_string(WEXITSTATUS(status)) + ")");
      return Status::IOError(what + " was killed by signal " + std::to_string(WTERMSIG(status)));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return Status::IOError(what + " did not finish within " +
                             std::to_string(static_cast<int64_t>(hook.timeout_s)) + " s");
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

}  // namespace dr
