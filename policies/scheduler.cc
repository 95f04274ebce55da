#include "policies/scheduler.h"

#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>

#include "core/env/file_io.h"

namespace dr {

namespace {

constexpr char kStateFile[] = "scheduler.json";

}  // namespace

int64_t RealClock::NowS() { return static_cast<int64_t>(::time(nullptr)); }

void RealClock::SleepUntil(int64_t s) {
  while (!woken_.exchange(false)) {
    const int64_t left = s - NowS();
    if (left <= 0) return;
    // A signal interrupts nanosleep (it is never restarted), and the slice
    // bounds the delay when the signal came just before it started.
    struct timespec ts = {std::min<int64_t>(left, 1), 0};
    ::nanosleep(&ts, nullptr);
  }
}

int64_t RetryDelay(int failures) {
  if (failures <= 1) return kFirstRetryDelayS;
  if (failures > 20) return kMaxRetryDelayS;  // no shift overflow
  return std::min(kFirstRetryDelayS << (failures - 1), kMaxRetryDelayS);
}

std::string JobKey(const Policy& policy, const PolicySource& source) {
  return policy.name + "/" + source.Label();
}

std::string DrillJobKey(const Policy& policy, const DrillSpec& drill) {
  return policy.name + "/drill:" + drill.name;
}

std::string JitterKey(const std::string& job_key, const std::string& host) {
  return job_key + "@" + host;
}

Scheduler::Scheduler(Clock* clock, std::string state_dir, std::string host)
    : clock_(clock), state_dir_(std::move(state_dir)), host_(std::move(host)) {}

Status Scheduler::Load() {
  states_.clear();
  if (state_dir_.empty()) return Status::OK();
  const std::string path = state_dir_ + "/" + kStateFile;
  auto text = ReadWholeFile(path);
  if (!text.ok()) return text.status().IsNotFound() ? Status::OK() : text.status();
  auto j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  auto bad = [&] { return Status::Corruption(path + ": not a scheduler state file"); };
  if (!j.is_object() || !j.contains("jobs") || !j["jobs"].is_object()) return bad();
  std::map<std::string, JobState> states;
  for (const auto& [key, v] : j["jobs"].items()) {
    if (!v.is_object()) return bad();
    JobState s;
    auto num = [&](const char* name, int64_t* out) {
      auto it = v.find(name);
      if (it == v.end()) return true;
      if (!it->is_number_integer()) return false;
      *out = it->get<int64_t>();
      return true;
    };
    int64_t failures = 0;
    if (!num("handled_until_s", &s.handled_until_s) || !num("last_start_s", &s.last_start_s) ||
        !num("last_end_s", &s.last_end_s) || !num("retry_at_s", &s.retry_at_s) ||
        !num("consecutive_failures", &failures) || failures < 0 || failures > INT_MAX)
      return bad();
    s.consecutive_failures = static_cast<int>(failures);
    auto ok = v.find("last_ok");
    s.last_ok = ok != v.end() && ok->is_boolean() && ok->get<bool>();
    states[key] = s;
  }
  states_ = std::move(states);
  return Status::OK();
}

Status Scheduler::Save() const {
  if (state_dir_.empty()) return Status::OK();
  nlohmann::json jobs = nlohmann::json::object();
  for (const auto& [key, s] : states_) {
    jobs[key] = {{"handled_until_s", s.handled_until_s},
                 {"last_start_s", s.last_start_s},
                 {"last_end_s", s.last_end_s},
                 {"last_ok", s.last_ok},
                 {"consecutive_failures", s.consecutive_failures},
                 {"retry_at_s", s.retry_at_s}};
  }
  nlohmann::json j = {{"version", 1}, {"jobs", jobs}};
  return WriteFileAtomically(
      state_dir_ + "/" + kStateFile,
      j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

Status Scheduler::SetPolicies(const std::vector<Policy>& policies, bool run_new_now) {
  const int64_t now = clock_->NowS();
  std::map<std::string, Entry> jobs;
  for (const Policy& p : policies) {
    for (const PolicySource& src : p.Sources()) jobs[JobKey(p, src)] = Entry{p, src, {}};
    for (const DrillSpec& d : p.drills) jobs[DrillJobKey(p, d)] = Entry{p, {}, d};
  }
  bool changed = false;
  for (auto it = states_.begin(); it != states_.end();) {
    if (jobs.count(it->first)) {
      ++it;
    } else {
      it = states_.erase(it);
      changed = true;
    }
  }
  for (const auto& [key, e] : jobs) {
    if (states_.count(key)) continue;
    // 0: every slot since the epoch is unhandled, so the job is due at once.
    states_[key].handled_until_s = run_new_now && !e.drill ? 0 : now;
    changed = true;
  }
  jobs_ = std::move(jobs);
  return changed ? Save() : Status::OK();
}

std::optional<int64_t> Scheduler::NextSlotDue(const std::string& key, const Entry& e,
                                              const JobState& state) const {
  const std::optional<int64_t> slot = NextRun(e.schedule(), state.handled_until_s);
  if (!slot) return std::nullopt;
  return *slot + JitterFor(e.schedule(), JitterKey(key, host_), *slot);
}

std::optional<int64_t> Scheduler::DueAt(const std::string& key) const {
  auto e = jobs_.find(key);
  auto s = states_.find(key);
  if (e == jobs_.end() || s == states_.end()) return std::nullopt;
  const std::optional<int64_t> slot = NextSlotDue(key, e->second, s->second);
  // A retry never waits past the next regular slot; that slot runs instead.
  if (s->second.retry_at_s > 0 && (!slot || s->second.retry_at_s < *slot))
    return s->second.retry_at_s;
  return slot;
}

std::vector<DueJob> Scheduler::AllDue(int64_t* next_s) const {
  const int64_t now = clock_->NowS();
  std::vector<DueJob> due;
  int64_t next = INT64_MAX;
  for (const auto& [key, e] : jobs_) {
    const std::optional<int64_t> at = DueAt(key);
    if (!at) continue;
    if (*at > now) {
      next = std::min(next, *at);
      continue;
    }
    const JobState& s = states_.at(key);
    DueJob job{key, e.policy, e.source, e.drill, *at, false, s.consecutive_failures + 1};
    job.retry = s.retry_at_s > 0 && *at == s.retry_at_s;
    due.push_back(std::move(job));
  }
  std::stable_sort(due.begin(), due.end(),
                   [](const DueJob& a, const DueJob& b) { return a.due_s < b.due_s; });
  if (next_s) *next_s = next;
  return due;
}

std::vector<DueJob> Scheduler::AllJobs() const {
  const int64_t now = clock_->NowS();
  std::vector<DueJob> all;
  for (const auto& [key, e] : jobs_) {
    all.push_back(DueJob{key, e.policy, e.source, e.drill, now, false,
                         states_.at(key).consecutive_failures + 1});
  }
  return all;
}

std::optional<DueJob> Scheduler::NextDue(int64_t* next_s) const {
  std::vector<DueJob> due = AllDue(next_s);
  if (due.empty()) return std::nullopt;
  return std::move(due.front());
}

void Scheduler::Started(const DueJob& job) { started_[job.key] = clock_->NowS(); }

Status Scheduler::Finished(const DueJob& job, bool ok) {
  const int64_t now = clock_->NowS();
  auto started = started_.find(job.key);
  const int64_t start = started == started_.end() ? now : started->second;
  if (started != started_.end()) started_.erase(started);
  auto it = states_.find(job.key);
  if (it == states_.end()) return Status::OK();  // dropped by a reload meanwhile
  JobState& s = it->second;
  s.last_start_s = start;
  s.last_end_s = now;
  s.last_ok = ok;
  // Slots that passed while the job ran stay unhandled: they collapse into
  // one run right after it. A retry handles no slot.
  if (!job.retry) s.handled_until_s = std::max(s.handled_until_s, start);
  if (ok) {
    s.consecutive_failures = 0;
    s.retry_at_s = 0;
  } else {
    s.consecutive_failures++;
    s.retry_at_s = now + RetryDelay(s.consecutive_failures);
  }
  return Save();
}

std::string DefaultStateDir() {
  const char* systemd = std::getenv("STATE_DIRECTORY");
  if (systemd && *systemd) {
    const std::string dirs = systemd;
    return dirs.substr(0, dirs.find(':'));
  }
  if (::geteuid() == 0) return "/var/lib/drbackup";
  const char* xdg = std::getenv("XDG_STATE_HOME");
  if (xdg && *xdg) return std::string(xdg) + "/drbackup";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.local/state/drbackup";
}

Result<PolicyDirLoad> LoadPolicyDir(const std::string& path) {
  ASSIGN_OR_RETURN(std::vector<std::string> files, PolicyFiles(path));
  PolicyDirLoad out;
  std::map<std::string, std::string> defined;  // name -> file
  for (const std::string& file : files) {
    auto one = LoadPolicies(file);
    if (!one.ok()) {
      out.errors.push_back(one.status().message());
      continue;
    }
    for (Policy& p : *one) {
      const auto [it, fresh] = defined.emplace(p.name, file);
      if (!fresh) {
        out.errors.push_back(file + ": name: policy \"" + p.name + "\" is already defined in " +
                             it->second + "; this file is ignored");
        continue;
      }
      out.policies.push_back(std::move(p));
    }
  }
  return out;
}

std::string PolicyDirFingerprint(const std::string& path) {
  auto files = PolicyFiles(path);
  if (!files.ok()) return "unreadable";
  // FNV-1a over every name and content: cheap, and a policy directory is
  // a few pages. Not a security check, only "did anything change".
  uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&h](std::string_view s) {
    for (char c : s) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ULL;
    h = (h ^ 0xff) * 0x100000001b3ULL;  // separator
  };
  for (const std::string& file : *files) {
    mix(file);
    struct stat st;
    if (::stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      mix("<not a regular file>");  // a FIFO must not block the poll
      continue;
    }
    auto text = ReadWholeFile(file);
    mix(text.ok() ? *text : "<" + text.status().message() + ">");
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace dr
