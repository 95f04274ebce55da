#include "migrate/hook_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <string_view>
#include <thread>
#include <vector>

namespace dr {

Status RunMigrationHook(const HookRun& hook) {
  const std::string what = hook.step + " hook '" + hook.command + "'";
  // Everything the child needs is built here: between fork and exec only
  // async-signal-safe calls (other threads may hold the allocator's locks).
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    const std::string_view entry(*e);
    const std::string_view key = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const auto& [k, v] : hook.env) replaced = replaced || key == k;
    if (!replaced) env_strings.emplace_back(entry);
  }
  for (const auto& [k, v] : hook.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  const char* argv[] = {"sh", "-c", hook.command.c_str(), nullptr};
  const int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t pid = ::fork();
  if (pid < 0) {
    if (devnull >= 0) ::close(devnull);
    return Status::FromErrno(errno, what);
  }
  if (pid == 0) {
    // Its own process group, so a timeout reaches whatever it started. No
    // stdin; its output goes to our stderr, never into our --json stdout.
    ::setpgid(0, 0);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    ::dup2(STDERR_FILENO, STDOUT_FILENO);
    ::execve("/bin/sh", const_cast<char* const*>(argv), envp.data());
    ::_exit(127);
  }
  if (devnull >= 0) ::close(devnull);
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
