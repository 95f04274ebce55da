#include "migrate/state.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/env/file_io.h"
#include "core/timefmt.h"

namespace dr {

namespace {

constexpr MigrationPhase kPhases[] = {MigrationPhase::kPlanned, MigrationPhase::kSyncing,
                                      MigrationPhase::kInSync,  MigrationPhase::kCuttingOver,
                                      MigrationPhase::kCutOver, MigrationPhase::kRolledBack,
                                      MigrationPhase::kFailed};

nlohmann::json SyncJson(const SyncRecord& s) {
  return {{"started_ns", s.started_ns},
          {"finished_ns", s.finished_ns},
          {"snapshot", s.snapshot},
          {"block_snapshot", s.block_snapshot},
          {"bytes_total", s.bytes_total},
          {"bytes_read", s.bytes_read},
          {"bytes_added", s.bytes_added},
          {"bytes_written", s.bytes_written},
          {"files_changed", s.files_changed},
          {"files_new", s.files_new},
          {"entries_removed", s.entries_removed},
          {"blocks_written", s.blocks_written},
          {"capture_s", s.capture_s},
          {"apply_s", s.apply_s},
          {"final", s.final}};
}

SyncRecord SyncFrom(const nlohmann::json& j) {
  SyncRecord s;
  s.started_ns = j.at("started_ns").get<int64_t>();
  s.finished_ns = j.at("finished_ns").get<int64_t>();
  s.snapshot = j.at("snapshot").get<std::string>();
  s.block_snapshot = j.at("block_snapshot").get<std::string>();
  s.bytes_total = j.at("bytes_total").get<uint64_t>();
  s.bytes_read = j.at("bytes_read").get<uint64_t>();
  s.bytes_added = j.at("bytes_added").get<uint64_t>();
  s.bytes_written = j.at("bytes_written").get<uint64_t>();
  s.files_changed = j.at("files_changed").get<uint64_t>();
  s.files_new = j.at("files_new").get<uint64_t>();
  s.entries_removed = j.at("entries_removed").get<uint64_t>();
  s.blocks_written = j.at("blocks_written").get<uint64_t>();
  s.capture_s = j.at("capture_s").get<double>();
  s.apply_s = j.at("apply_s").get<double>();
  s.final = j.at("final").get<bool>();
  return s;
}

nlohmann::json CutoverJson(const CutoverRecord& c) {
  nlohmann::json steps = nlohmann::json::array();
  for (const auto& [step, s] : c.steps) steps.push_back({{"step", step}, {"seconds", s}});
  return {{"started_ns", c.started_ns},
          {"finished_ns", c.finished_ns},
          {"token", c.token},
          {"failed_step", c.failed_step},
          {"error", c.error},
          {"verified", c.verified},
          {"differences", c.differences},
          {"rolled_back", c.rolled_back},
          {"rollback_error", c.rollback_error},
          {"downtime_s", c.downtime_s},
          {"steps", steps}};
}

CutoverRecord CutoverFrom(const nlohmann::json& j) {
  CutoverRecord c;
  c.started_ns = j.at("started_ns").get<int64_t>();
  c.finished_ns = j.at("finished_ns").get<int64_t>();
  c.token = j.value("token", "");  // absent in the first release's files
  c.failed_step = j.at("failed_step").get<std::string>();
  c.error = j.at("error").get<std::string>();
  c.verified = j.at("verified").get<bool>();
  c.differences = j.at("differences").get<uint64_t>();
  c.rolled_back = j.at("rolled_back").get<bool>();
  c.rollback_error = j.at("rollback_error").get<std::string>();
  c.downtime_s = j.at("downtime_s").get<double>();
  for (const auto& s : j.at("steps"))
    c.steps.emplace_back(s.at("step").get<std::string>(), s.at("seconds").get<double>());
  return c;
}

std::string StateFile(const std::string& dir, const std::string& system) {
  return dir + "/" + system + ".json";
}

}  // namespace

const char* PhaseName(MigrationPhase p) {
  switch (p) {
    case MigrationPhase::kPlanned:
      return "planned";
    case MigrationPhase::kSyncing:
      return "syncing";
    case MigrationPhase::kInSync:
      return "in sync";
    case MigrationPhase::kCuttingOver:
      return "cutting over";
    case MigrationPhase::kCutOver:
      return "cut over";
    case MigrationPhase::kRolledBack:
      return "rolled back";
    case MigrationPhase::kFailed:
      return "failed";
  }
  return "?";
}

Result<std::unique_ptr<MigrationStateStore>> MigrationStateStore::Open(const std::string& dir) {
  std::error_code ec;
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 && errno == ENOENT) {
    // Its files name every system's targets and hooks: for root's eyes.
    const auto old_mask = ::umask(077);
    std::filesystem::create_directories(dir, ec);
    ::umask(old_mask);
  }
  if (::stat(dir.c_str(), &st) != 0)
    return Status::FromErrno(
        errno, "migration state directory " + dir + (ec ? " (" + ec.message() + ")" : ""));
  if (!S_ISDIR(st.st_mode))
    return Status::InvalidArgument("migration state directory " + dir + " is not a directory");
  if (::access(dir.c_str(), W_OK) != 0)
    return Status::FromErrno(errno, "migration state directory " + dir + " is not writable");
  return std::unique_ptr<MigrationStateStore>(new MigrationStateStore(dir));
}

Result<SystemState> MigrationStateStore::Load(const std::string& system) const {
  const std::string path = StateFile(dir_, system);
  SystemState state;
  state.system = system;
  if (::access(path.c_str(), F_OK) != 0 && errno == ENOENT) return state;
  ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path));
  try {
    const auto j = nlohmann::json::parse(text);
    if (j.at("system").get<std::string>() != system)
      return Status::Corruption(path + ": holds the state of system " +
                                j.at("system").get<std::string>());
    const std::string phase = j.at("phase").get<std::string>();
    bool known = false;
    for (MigrationPhase p : kPhases) {
      if (phase == PhaseName(p)) state.phase = p, known = true;
    }
    if (!known) return Status::Corruption(path + ": unknown phase \"" + phase + "\"");
    state.error = j.at("error").get<std::string>();
    state.applied_snapshot = j.at("applied_snapshot").get<std::string>();
    state.applied_block_snapshot = j.at("applied_block_snapshot").get<std::string>();
    state.apply_pending = j.at("apply_pending").get<bool>();
    for (const auto& s : j.at("syncs")) state.syncs.push_back(SyncFrom(s));
    if (j.contains("cutover")) state.cutover = CutoverFrom(j.at("cutover"));
    state.updated_ns = j.at("updated_ns").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    return Status::Corruption(path + ": not a migration state file: " + e.what());
  }
  return state;
}

Status MigrationStateStore::Save(SystemState& state) const {
  state.updated_ns = NowUnixNs();
  if (state.syncs.size() > kMaxSyncsKept)
    state.syncs.erase(state.syncs.begin(),
                      state.syncs.begin() + static_cast<long>(state.syncs.size() - kMaxSyncsKept));
  nlohmann::json syncs = nlohmann::json::array();
  for (const auto& s : state.syncs) syncs.push_back(SyncJson(s));
  nlohmann::json j = {{"system", state.system},
                      {"phase", PhaseName(state.phase)},
                      {"error", state.error},
                      {"applied_snapshot", state.applied_snapshot},
                      {"applied_block_snapshot", state.applied_block_snapshot},
                      {"apply_pending", state.apply_pending},
                      {"syncs", syncs},
                      {"updated_ns", state.updated_ns},
                      {"updated", FormatRfc3339Utc(state.updated_ns)}};
  if (state.cutover) j["cutover"] = CutoverJson(*state.cutover);
  // Error messages may name paths that are not UTF-8: replaced, not thrown.
  return WriteFileAtomically(
      StateFile(dir_, state.system),
      j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

Result<MigrationStateStore::Lock> MigrationStateStore::LockSystem(const std::string& system,
                                                                  const std::string& command,
                                                                  double wait_s) const {
  const std::string path = dir_ + "/" + system + ".lock";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) return Status::FromErrno(errno, "open " + path);
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(wait_s * 1e3));
  while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) return Status::FromErrno(errno, "lock " + path);
    if (std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    std::string holder(256, '\0');
    const ssize_t n = ::pread(fd.get(), holder.data(), holder.size(), 0);
    holder.resize(n > 0 ? static_cast<size_t>(n) : 0);
    while (!holder.empty() && holder.back() == '\n') holder.pop_back();
    return Status::Unavailable(
        "system " + system + " is busy: " + (holder.empty() ? "another migrate command" : holder) +
        " is working on it");
  }
  // Who holds it, for the message above; the lock itself is the flock, which
  // the kernel drops when the holder dies.
  const std::string who = std::string(program_invocation_short_name) + " migrate " + command +
                          " (pid " + std::to_string(::getpid()) + ")\n";
  if (::ftruncate(fd.get(), 0) == 0) (void)PwriteFull(fd.get(), who, 0, path);
  return Lock(std::move(fd));
}

}  // namespace dr
