#include "restore/drill/drill.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>

#include "core/timefmt.h"
#include "restore/block/block_restore.h"
#include "restore/drill/drill_check.h"
#include "restore/files/restorer.h"
#include "restore/files/verifier.h"

namespace dr {
namespace {

constexpr size_t kMaxProblems = 1000;

std::string RandomHex128() {
  std::random_device rd;
  Id id;
  for (auto& b : id.b) b = static_cast<uint8_t>(rd());
  return id.Hex();
}

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// The sandbox must be new, or an empty directory only this user can write
// to: a drill never writes over data, and nobody else may swap what it
// restored between the restore, the verify and the checks. Returns whether
// the drill made it (then it removes it; otherwise only what it put there).
Result<bool> PrepareSandbox(const std::string& sandbox) {
  namespace fs = std::filesystem;
  if (sandbox.empty()) return Status::InvalidArgument("drill: no sandbox given (--sandbox DIR)");
  struct stat st;
  if (::lstat(sandbox.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      return Status::InvalidArgument("drill: sandbox " + sandbox +
                                     " exists and is not a directory");
    }
    std::error_code ec;
    if (!fs::is_empty(sandbox, ec) || ec) {
      return Status::InvalidArgument("drill: sandbox " + sandbox +
                                     " is not empty (a drill restores only into a new or empty "
                                     "directory)");
    }
    if (st.st_uid != ::geteuid() || (st.st_mode & 022) != 0) {
      return Status::PermissionDenied("drill: sandbox " + sandbox +
                                      " may be changed by another user (it must be this user's "
                                      "and not group- or world-writable)");
    }
    return false;
  }
  std::error_code ec;
  fs::create_directories(fs::path(sandbox).parent_path(), ec);
  if (ec) return Status::IOError("drill: create " + sandbox + ": " + ec.message());
  if (::mkdir(sandbox.c_str(), 0700) != 0)
    return Status::FromErrno(errno, "drill: create " + sandbox);
  return true;
}

Status RemoveSandbox(const std::string& sandbox, bool made_by_drill) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (made_by_drill) {
    fs::remove_all(sandbox, ec);
  } else {
    for (const auto& entry : fs::directory_iterator(sandbox, ec)) {
      fs::remove_all(entry.path(), ec);
      if (ec) break;
    }
  }
  if (ec) return Status::IOError("sandbox " + sandbox + " not removed: " + ec.message());
  return Status::OK();
}

void AddProblem(DrillReport* r, std::string problem) {
  ++r->problem_count;
  if (r->problems.size() < kMaxProblems) r->problems.push_back(std::move(problem));
}

// Splits the restore's wall time between fetching and writing in the
// proportion the restore threads were busy with each.
void AddRestorePhases(DrillReport* r, double wall, double fetch_busy, double write_busy) {
  const double busy = fetch_busy + write_busy;
  const double fetch = busy > 0 ? wall * fetch_busy / busy : wall;
  r->phases.push_back({"fetch", fetch});
  r->phases.push_back({"write", wall - fetch});
}

Status RestoreFiles(Repository& repo, const Snapshot& snapshot, const DrillOptions& o,
                    DrillReport* r) {
  const auto t = std::chrono::steady_clock::now();
  RestoreOptions ro;
  ro.target = o.sandbox;
  ro.include_paths = o.include_paths;
  ASSIGN_OR_RETURN(RestoreResult restored, RestoreSnapshot(repo, snapshot, ro));
  AddRestorePhases(r, Since(t), restored.fetch_busy_s, restored.write_busy_s);
  r->files = restored.files;
  r->bytes = restored.bytes_total;
  for (auto& e : restored.errors) AddProblem(r, "restore: " + e);

  const auto v = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(VerifyResult verified,
                   VerifyAgainst(repo, snapshot, o.sandbox, o.include_paths, nullptr));
  r->phases.push_back({"verify", Since(v)});
  r->entries_verified = verified.entries_checked;
  r->bytes_verified = verified.bytes_checked;
  for (const Difference& d : verified.differences) {
    AddProblem(r, "verify: " + d.path + ": " + d.what);
  }
  return Status::OK();
}

Status RestoreImage(Repository& repo, const Snapshot& snapshot, const DrillOptions& o,
                    DrillReport* r) {
  std::string name = snapshot.paths.empty()
                         ? "image"
                         : std::filesystem::path(snapshot.paths.front()).filename().string();
  if (name.empty() || name == "." || name == "..") name = "image";
  r->image = (std::filesystem::path(o.sandbox) / (name + ".img")).string();
  const auto t = std::chrono::steady_clock::now();
  BlockRestoreOptions bo;
  bo.target = r->image;
  auto restored = RestoreBlockSnapshot(repo, snapshot, bo);
  if (!restored.ok()) {
    // A damaged or missing block fails the drill, naming the block.
    r->phases.push_back({"fetch", Since(t)});
    AddProblem(r, "restore: " + restored.status().message());
    return Status::OK();
  }
  AddRestorePhases(r, Since(t), restored->fetch_busy_s, restored->write_busy_s);
  r->blocks = restored->blocks;
  r->bytes = restored->length;

  const auto v = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(BlockVerifyResult verified,
                   VerifyBlockTarget(repo, snapshot, r->image, nullptr));
  r->phases.push_back({"verify", Since(v)});
  r->entries_verified = verified.blocks;
  r->bytes_verified = verified.bytes;
  for (uint64_t b : verified.differing) AddProblem(r, "verify: block " + std::to_string(b));
  r->problem_count += verified.differing_count - verified.differing.size();
  return Status::OK();
}

std::string HostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

}  // namespace

Result<DrillReport> RunDrill(Repository& repo, const Snapshot& snapshot,
                             const DrillOptions& given) {
  const auto start = std::chrono::steady_clock::now();
  // Absolute: checks run inside the sandbox and are told where it is.
  DrillOptions options = given;
  if (!options.sandbox.empty()) {
    options.sandbox = std::filesystem::absolute(options.sandbox).lexically_normal().string();
    while (options.sandbox.size() > 1 && options.sandbox.back() == '/') options.sandbox.pop_back();
  }
  DrillReport r;
  r.drill_id = RandomHex128();
  r.started_ns = NowUnixNs();
  r.site = options.site;
  r.repository = options.repository;
  r.operator_name = options.operator_name;
  r.host_name = HostName();
  r.snapshot_id = snapshot.id.Hex();
  r.snapshot_host = snapshot.host;
  r.snapshot_time_ns = snapshot.time_ns;
  r.kind = snapshot.block
               ? (snapshot.block->source_kind.empty() ? "image" : snapshot.block->source_kind)
               : "files";
  r.policy = snapshot.policy;
  r.paths = snapshot.paths;
  r.include_paths = options.include_paths;
  r.sandbox = options.sandbox;
  r.rto_objective_s = options.rto_objective_s;
  r.rpo_objective_s = options.rpo_objective_s;
  r.rpo_s = (r.started_ns - snapshot.time_ns) / 1000000000;
  if (snapshot.block && !options.include_paths.empty()) {
    return Status::InvalidArgument("drill: --include selects files; snapshot " +
                                   snapshot.ShortId() + " is a block snapshot");
  }
  ASSIGN_OR_RETURN(const bool made_sandbox, PrepareSandbox(options.sandbox));

  Status restored = snapshot.block ? RestoreImage(repo, snapshot, options, &r)
                                   : RestoreFiles(repo, snapshot, options, &r);
  if (!restored.ok()) AddProblem(&r, "restore: " + restored.message());

  if (r.problem_count == 0) {
    const auto c = std::chrono::steady_clock::now();
    std::vector<std::pair<std::string, std::string>> env = {{"DR_SANDBOX", options.sandbox},
                                                            {"DR_SNAPSHOT", r.snapshot_id}};
    if (!r.image.empty()) env.emplace_back("DR_IMAGE", r.image);
    for (const std::string& command : options.checks) {
      r.checks.push_back(RunDrillCheck(command, options.sandbox, env, options.check_timeout_s));
    }
    if (!options.checks.empty()) r.phases.push_back({"checks", Since(c)});
  }
  r.rto_s = Since(start);

  if (r.problem_count > 0) {
    r.verdict.push_back(std::to_string(r.problem_count) +
                        " problems: the recovery point did not come back bit for bit");
  }
  for (const DrillCheckResult& c : r.checks) {
    if (c.exit_code != 0) {
      r.verdict.push_back(
          "check failed (" +
          (c.timed_out ? std::string("timed out") : "exit " + std::to_string(c.exit_code)) +
          "): " + c.command);
    }
  }
  if (r.rto_objective_s && r.rto_s > static_cast<double>(*r.rto_objective_s)) {
    r.verdict.push_back("RTO objective missed: " + std::to_string(static_cast<int64_t>(r.rto_s)) +
                        " s > " + std::to_string(*r.rto_objective_s) + " s");
  }
  if (r.rpo_objective_s && r.rpo_s > *r.rpo_objective_s) {
    r.verdict.push_back("RPO objective missed: the recovery point is " + std::to_string(r.rpo_s) +
                        " s old > " + std::to_string(*r.rpo_objective_s) + " s");
  }
  r.passed = r.verdict.empty();
  if (r.passed) r.verdict.push_back("restored, verified bit for bit, every check passed");

  if (!options.keep_sandbox) {
    if (Status s = RemoveSandbox(options.sandbox, made_sandbox); !s.ok()) {
      r.verdict.push_back("note: " + s.message());
    }
  }
  r.sandbox_kept = options.keep_sandbox;
  r.finished_ns = NowUnixNs();
  return r;
}

}  // namespace dr
