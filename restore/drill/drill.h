// Recovery drills: restore a recovery point into a sandbox, verify every file
// or block against its digest, run the operator's checks against the
// sandbox, measure the recovery time (RTO) and the recovery point's age
// (RPO) against the objectives, and say pass or fail with the reasons.
// The report (drill_report.h) and the tamper-evident record
// (catalog/drill_record.h) are made from the DrillReport this returns.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "catalog/repository.h"
#include "core/status.h"

namespace dr {

struct DrillOptions {
  // Where the drill restores: a directory that does not exist or is empty
  // (a disk-image snapshot is restored to an image file inside it).
  std::string sandbox;
  std::vector<std::string> include_paths;  // files snapshots: only these paths; empty = all
  // Shell commands run one after another in the sandbox after the verify,
  // with DR_SANDBOX (and DR_IMAGE for an image) set; a non-zero exit fails
  // the drill. Each may run for `check_timeout_s`.
  std::vector<std::string> checks;
  int64_t check_timeout_s = 600;
  std::optional<int64_t> rto_objective_s, rpo_objective_s;
  std::string site;        // for the report: "same-city", "off-site", a URL
  std::string repository;  // the repository's URL without secrets
  std::string operator_name;
  bool keep_sandbox = false;  // otherwise it is removed at the end, pass or fail
};

struct DrillCheckResult {
  std::string command;
  int exit_code = -1;  // -1: could not run, or killed at the timeout
  bool timed_out = false;
  double seconds = 0;
  std::string output;  // stdout and stderr, the first 64 KiB
};

struct DrillPhase {
  std::string name;  // "fetch", "write", "verify", "checks"
  double seconds = 0;
};

struct DrillReport {
  std::string drill_id;  // 32 hex digits, random
  int64_t started_ns = 0, finished_ns = 0;
  std::string site, repository, operator_name, host_name;
  // The recovery point.
  std::string snapshot_id, snapshot_host, kind, policy;
  int64_t snapshot_time_ns = 0;
  std::vector<std::string> paths, include_paths;
  std::string sandbox, image;  // image: the restored image file (block snapshots)
  bool sandbox_kept = false;
  // What came back.
  uint64_t files = 0, blocks = 0, bytes = 0;
  uint64_t entries_verified = 0, bytes_verified = 0;
  std::vector<std::string> problems;  // restore errors and verify differences (the first 1000)
  uint64_t problem_count = 0;
  std::vector<DrillCheckResult> checks;
  // Measured.
  std::vector<DrillPhase> phases;
  double rto_s = 0;   // start to verified and checked
  int64_t rpo_s = 0;  // age of the recovery point at the drill's start
  std::optional<int64_t> rto_objective_s, rpo_objective_s;
  bool passed = false;
  std::vector<std::string> verdict;  // why it failed; "all checks passed" when it did not
};

// Runs the drill. An error means the drill could not be made at all (the
// sandbox is not empty, say); a drill that restored wrong bytes or whose
// checks failed returns a report with passed = false.
Result<DrillReport> RunDrill(Repository& repo, const Snapshot& snapshot,
                             const DrillOptions& options);

}  // namespace dr
