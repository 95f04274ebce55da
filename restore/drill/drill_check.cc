#include "restore/drill/drill_check.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

extern char** environ;

namespace dr {
namespace {

constexpr size_t kMaxOutput = 64 << 10;

}  // namespace

DrillCheckResult RunDrillCheck(const std::string& command, const std::string& cwd,
                               const std::vector<std::pair<std::string, std::string>>& env,
                               int64_t timeout_s) {
  DrillCheckResult r;
  r.command = command;
  const auto start = std::chrono::steady_clock::now();
  // Everything the child needs is made before fork: between fork and exec
  // only async-signal-safe calls are allowed.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const auto& [n, v] : env) replaced |= n == name;
    if (!replaced) env_strings.push_back(entry);
  }
  for (const auto& [name, value] : env) env_strings.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string cannot_enter = "cannot enter the sandbox " + cwd + "\n";
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    r.output = std::string("cannot start: pipe: ") + std::strerror(errno);
    return r;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    r.output = std::string("cannot start: fork: ") + std::strerror(errno);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    return r;
  }
  if (pid == 0) {
    // The child: its own process group, so a timeout kills what it started.
    ::setpgid(0, 0);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(pipe_fds[1], 1);
    ::dup2(pipe_fds[1], 2);
    if (::chdir(cwd.c_str()) != 0) {
      (void)!::write(2, cannot_enter.data(), cannot_enter.size());
      ::_exit(127);
    }
    char* const argv[] = {const_cast<char*>("sh"), const_cast<char*>("-c"),
                          const_cast<char*>(command.c_str()), nullptr};
    ::execve("/bin/sh", argv, envp.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  ::close(pipe_fds[1]);
  const auto deadline = start + std::chrono::seconds(timeout_s);
  bool open = true;
  char buf[8192];
  while (open) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) {
      r.timed_out = true;
      break;
    }
    pollfd p{pipe_fds[0], POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    const ssize_t got = ::read(pipe_fds[0], buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      open = false;
      break;
    }
    if (r.output.size() < kMaxOutput) {
      r.output.append(buf,
                      std::min<size_t>(static_cast<size_t>(got), kMaxOutput - r.output.size()));
    }
  }
  ::close(pipe_fds[0]);
  // The output may close long before the shell ends (a check that writes to
  // a file): the deadline holds for the wait too.
  int status = 0;
  bool exited = false;
  while (!r.timed_out) {
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid || (w < 0 && errno != EINTR)) {
      exited = w == pid;
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      r.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Whatever the check started in the background goes with it: nothing may
  // keep running in a sandbox that is about to be removed.
  ::kill(-pid, SIGKILL);
  if (!exited) {
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (r.timed_out) {
    r.output += "\n[killed after " + std::to_string(timeout_s) + " s]";
  } else if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.output += "\n[killed by signal " + std::to_string(WTERMSIG(status)) + "]";
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace dr
