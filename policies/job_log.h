// Job history: one JSON line per policy run, appended to STATE/jobs.jsonl
// and fsync'd before the run is reported, so `drctl jobs` shows what ran,
// when, and how it ended, across restarts.
//
// A crash during an append can leave a torn last line. Reading skips any
// line that is not a whole record, with a warning, and never fails because
// of one; the next append starts on a fresh line so a torn record never
// swallows the following one. The log is rotated to jobs.jsonl.1 once it
// passes kJobLogRotateBytes, so it never grows without bound; reading sees
// both files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace dr {

inline constexpr uint64_t kJobLogRotateBytes = 16u << 20;

enum class JobResult { kOk, kPartial, kFailed };
// "ok", "partial", "failed".
const char* JobResultName(JobResult r);

struct JobRecord {
  std::string policy;
  std::string source;  // PolicySource::Label()
  int64_t start_ns = 0, end_ns = 0;
  JobResult result = JobResult::kFailed;
  int attempt = 1;  // 1 + the consecutive failures before this run
  uint64_t bytes_read = 0;
  uint64_t bytes_new = 0;  // stored bytes the run added (stats.bytes_added)
  std::string snapshot;    // hex id; empty when no snapshot was written
  std::string error;       // empty unless failed; warnings summary when partial
  // The enrolled agent that made it, in a vault's log (`drvault jobs`);
  // empty in drctl run's own log, where it is not written at all.
  std::string agent;
};

// The record as one line of JSON (no newline), and back.
std::string EncodeJobRecord(const JobRecord& r);
Result<JobRecord> DecodeJobRecord(std::string_view line);

// Appends `r` to `state_dir`/jobs.jsonl (created 0600) and fsyncs it.
Status AppendJobRecord(const std::string& state_dir, const JobRecord& r);

struct JobLogFilter {
  std::string policy;      // empty: every policy
  size_t limit = 0;        // the newest N matching records; 0: all
  std::string agent = "";  // empty: every agent (compared without case)
};
struct JobLog {
  std::vector<JobRecord> records;     // oldest first
  std::vector<std::string> warnings;  // skipped lines, one message each
};
// A missing log is an empty one.
Result<JobLog> ReadJobLog(const std::string& state_dir, const JobLogFilter& filter = {});

}  // namespace dr
