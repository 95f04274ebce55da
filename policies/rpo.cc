#include "policies/rpo.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <nlohmann/json.hpp>

#include "core/env/file_io.h"

extern char** environ;

namespace dr {

namespace {

constexpr char kAlertFile[] = "alerts.json";
// Cron schedules as sparse as yearly need two slots: look back far enough.
constexpr int64_t kMaxLookbackS = 800LL * 86400;
// Bounds the forward walk over one lookback (a minutely cron over a day).
constexpr int kMaxSlotsPerPass = 5000;

}  // namespace

const char* RpoStateName(RpoState s) {
  switch (s) {
    case RpoState::kOk:
      return "ok";
    case RpoState::kLate:
      return "late";
    case RpoState::kBreached:
      return "breached";
    case RpoState::kNever:
      break;
  }
  return "never";
}

int64_t LateGrace(int64_t interval_s) { return std::max<int64_t>(interval_s / 10, 0); }

RpoStatus EvaluateRpo(std::optional<int64_t> newest_ns, int64_t rpo_s,
                      std::optional<ExpectedSlot> expected, int64_t now_s) {
  if (!newest_ns) return {RpoState::kNever, -1};
  // Floor division: a snapshot 0.4 s old is 0 s old, never -1.
  int64_t newest_s = *newest_ns / 1000000000;
  if (*newest_ns < 0 && *newest_ns % 1000000000) newest_s--;
  const int64_t age = std::max<int64_t>(now_s - newest_s, 0);
  if (rpo_s > 0 && age > rpo_s) return {RpoState::kBreached, age};
  if (expected && now_s > expected->due_s + LateGrace(expected->interval_s) &&
      newest_s < expected->slot_s)
    return {RpoState::kLate, age};
  return {RpoState::kOk, age};
}

std::optional<ExpectedSlot> LastExpectedSlot(const Schedule& schedule,
                                             const std::string& jitter_key, int64_t now_s) {
  // NextRun only walks forward: start some way back and walk to now,
  // doubling the way back until two slots are found.
  int64_t back = schedule.every_s > 0 ? 2 * schedule.every_s + 1 : 3600;
  for (;;) {
    std::optional<int64_t> prev, last;
    std::optional<int64_t> t = NextRun(schedule, now_s - back);
    for (int i = 0; t && *t <= now_s && i < kMaxSlotsPerPass; ++i) {
      prev = last;
      last = t;
      t = NextRun(schedule, *t);
    }
    if (last && (prev || back >= kMaxLookbackS)) {
      ExpectedSlot e;
      e.slot_s = *last;
      e.due_s = *last + JitterFor(schedule, jitter_key, *last);
      e.interval_s = prev ? *last - *prev : 0;
      return e;
    }
    if (back >= kMaxLookbackS) return std::nullopt;
    back = std::min(back * 2, kMaxLookbackS);
  }
}

Status RunAlertCommand(const std::string& command, const AlertInfo& info, int timeout_s) {
  std::vector<std::string> vars = {
      "DR_EVENT=" + info.event,
      "DR_POLICY=" + info.policy,
      "DR_SOURCE=" + info.source,
      "DR_SITE=" + info.site,
      "DR_RPO_STATE=" + std::string(RpoStateName(info.rpo.state)),
      "DR_RPO_AGE_S=" + (info.rpo.age_s < 0 ? std::string() : std::to_string(info.rpo.age_s)),
      "DR_ERROR=" + info.error,
      "DR_AGENT=" + info.agent,
      "DR_NAMESPACE=" + info.nspace};
  std::vector<char*> envp;
  for (char** e = environ; e && *e; ++e) {
    const std::string_view v(*e);
    const bool ours = std::any_of(vars.begin(), vars.end(), [&](const std::string& mine) {
      const size_t eq = mine.find('=');
      return v.substr(0, eq + 1) == std::string_view(mine).substr(0, eq + 1);
    });
    if (!ours) envp.push_back(*e);
  }
  for (auto& v : vars) envp.push_back(v.data());
  envp.push_back(nullptr);
  const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group, so a timeout kills whatever it started too.
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  pid_t pid = -1;
  const int err =
      ::posix_spawn(&pid, "/bin/sh", &actions, &attr, const_cast<char**>(argv), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (err != 0) return Status::FromErrno(err, "alert command '" + command + "'");

  int status = 0;
  const int64_t deadline_ms = static_cast<int64_t>(timeout_s) * 1000;
  for (int64_t waited_ms = 0;; waited_ms += 50) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return Status::FromErrno(errno, "wait for alert command");
    if (waited_ms >= deadline_ms) {
      ::kill(-pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      return Status::IOError("alert command '" + command + "' killed after " +
                             std::to_string(timeout_s) + "s");
    }
    struct timespec ts = {0, 50 * 1000 * 1000};
    ::nanosleep(&ts, nullptr);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Status::IOError("alert command '" + command + "' failed (exit status " +
                           std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")");
  return Status::OK();
}

AlertTracker::AlertTracker(std::string state_dir) : state_dir_(std::move(state_dir)) {}

Status AlertTracker::Load() {
  alerted_.clear();
  if (state_dir_.empty()) return Status::OK();
  const std::string path = state_dir_ + "/" + kAlertFile;
  auto text = ReadWholeFile(path);
  if (!text.ok()) return text.status().IsNotFound() ? Status::OK() : text.status();
  auto j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("breaches") || !j["breaches"].is_object())
    return Status::Corruption(path + ": not an alert state file");
  for (const auto& [key, v] : j["breaches"].items()) {
    if (!v.is_number_integer()) return Status::Corruption(path + ": not an alert state file");
    alerted_[key] = v.get<int64_t>();
  }
  return Status::OK();
}

Status AlertTracker::Save() const {
  if (state_dir_.empty()) return Status::OK();
  nlohmann::json breaches = nlohmann::json::object();
  for (const auto& [key, at] : alerted_) breaches[key] = at;
  nlohmann::json j = {{"version", 1}, {"breaches", breaches}};
  return WriteFileAtomically(
      state_dir_ + "/" + kAlertFile,
      j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

Status AlertTracker::Update(const std::string& key, const std::string& command,
                            const AlertInfo& info, bool* fired) {
  if (fired) *fired = false;
  const RpoState state = info.rpo.state;
  if (state == RpoState::kOk) {
    // Only a return to ok re-arms: late or never in between is the same
    // trouble, not a new breach.
    if (alerted_.erase(key)) return Save();
    return Status::OK();
  }
  if (state != RpoState::kBreached || alerted_.count(key)) return Status::OK();
  alerted_[key] = static_cast<int64_t>(::time(nullptr));
  // Remembered before the command runs: a crash while it runs must not
  // page twice.
  RETURN_IF_ERROR(Save());
  if (command.empty()) return Status::OK();
  if (fired) *fired = true;
  return RunAlertCommand(command, info);
}

Status AlertTracker::Retain(const std::vector<std::string>& keys) {
  bool changed = false;
  for (auto it = alerted_.begin(); it != alerted_.end();) {
    if (std::find(keys.begin(), keys.end(), it->first) == keys.end()) {
      it = alerted_.erase(it);
      changed = true;
    } else {
      ++it;
    }
  }
  return changed ? Save() : Status::OK();
}

}  // namespace dr
