#include "policies/job_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <deque>
#include <nlohmann/json.hpp>

#include "core/env/fd.h"
#include "core/env/file_io.h"
#include "core/env/line_log.h"

namespace dr {

namespace {

constexpr char kLogName[] = "jobs.jsonl";

std::string LogPath(const std::string& state_dir) { return state_dir + "/" + kLogName; }

// Moves a full log aside, replacing the previous generation.
Status RotateIfLarge(const std::string& state_dir) {
  const std::string path = LogPath(state_dir);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_size) < kJobLogRotateBytes)
    return Status::OK();
  if (::rename(path.c_str(), (path + ".1").c_str()) != 0)
    return Status::FromErrno(errno, "rotate " + path);
  return FsyncDir(state_dir);
}

// Agent names are host names: "LEDGER-01" is ledger-01.
bool SameAgent(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

// Appends the records of one file to `out`, warnings for lines that do not
// decode. Only the newest `filter.limit` matching records are held (0: all).
Status ReadOne(const std::string& path, const JobLogFilter& filter, std::deque<JobRecord>* out,
               std::vector<std::string>* warnings) {
  return ReadLogLines(
      path,
      [&](std::string_view line) {
        ASSIGN_OR_RETURN(JobRecord r, DecodeJobRecord(line));
        if (!filter.policy.empty() && r.policy != filter.policy) return Status::OK();
        if (!filter.agent.empty() && !SameAgent(r.agent, filter.agent)) return Status::OK();
        out->push_back(std::move(r));
        if (filter.limit && out->size() > filter.limit) out->pop_front();
        return Status::OK();
      },
      warnings);
}

}  // namespace

const char* JobResultName(JobResult r) {
  switch (r) {
    case JobResult::kOk:
      return "ok";
    case JobResult::kPartial:
      return "partial";
    case JobResult::kFailed:
      break;
  }
  return "failed";
}

std::string EncodeJobRecord(const JobRecord& r) {
  nlohmann::json j = {{"policy", r.policy},
                      {"source", r.source},
                      {"start_ns", r.start_ns},
                      {"end_ns", r.end_ns},
                      {"result", JobResultName(r.result)},
                      {"attempt", r.attempt},
                      {"bytes_read", r.bytes_read},
                      {"bytes_new", r.bytes_new},
                      {"snapshot", r.snapshot},
                      {"error", r.error}};
  // Only when set, so drctl run's lines stay as they were.
  if (!r.agent.empty()) j["agent"] = r.agent;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<JobRecord> DecodeJobRecord(std::string_view line) {
  auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  auto bad = [](const std::string& why) { return Status::Corruption("not a job record: " + why); };
  if (!j.is_object()) return bad("not a JSON object");
  JobRecord r;
  const std::pair<const char*, std::string*> texts[] = {
      {"policy", &r.policy}, {"source", &r.source}, {"snapshot", &r.snapshot}, {"error", &r.error}};
  for (const auto& [name, out] : texts) {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string()) return bad(std::string(name) + " missing");
    *out = it->get<std::string>();
  }
  const std::pair<const char*, int64_t*> times[] = {{"start_ns", &r.start_ns},
                                                    {"end_ns", &r.end_ns}};
  for (const auto& [name, out] : times) {
    auto it = j.find(name);
    if (it == j.end() || !it->is_number_integer()) return bad(std::string(name) + " missing");
    *out = it->get<int64_t>();
  }
  const std::pair<const char*, uint64_t*> counts[] = {{"bytes_read", &r.bytes_read},
                                                      {"bytes_new", &r.bytes_new}};
  for (const auto& [name, out] : counts) {
    auto it = j.find(name);
    if (it == j.end() || !it->is_number_unsigned()) return bad(std::string(name) + " missing");
    *out = it->get<uint64_t>();
  }
  // Optional: lines written before it existed, and drctl run's, have none.
  if (auto agent = j.find("agent"); agent != j.end()) {
    if (!agent->is_string()) return bad("agent is not a string");
    r.agent = agent->get<std::string>();
  }
  auto attempt = j.find("attempt");
  if (attempt == j.end() || !attempt->is_number_integer()) return bad("attempt missing");
  r.attempt = static_cast<int>(attempt->get<int64_t>());
  auto result = j.find("result");
  if (result == j.end() || !result->is_string()) return bad("result missing");
  const std::string name = result->get<std::string>();
  if (name == "ok") {
    r.result = JobResult::kOk;
  } else if (name == "partial") {
    r.result = JobResult::kPartial;
  } else if (name == "failed") {
    r.result = JobResult::kFailed;
  } else {
    return bad("unknown result \"" + name + "\"");
  }
  return r;
}

Status AppendJobRecord(const std::string& state_dir, const JobRecord& r) {
  RETURN_IF_ERROR(RotateIfLarge(state_dir));
  return AppendLogLine(LogPath(state_dir), EncodeJobRecord(r));
}

Result<JobLog> ReadJobLog(const std::string& state_dir, const JobLogFilter& filter) {
  std::deque<JobRecord> records;
  JobLog log;
  const std::string path = LogPath(state_dir);
  RETURN_IF_ERROR(ReadOne(path + ".1", filter, &records, &log.warnings));
  RETURN_IF_ERROR(ReadOne(path, filter, &records, &log.warnings));
  log.records.assign(std::make_move_iterator(records.begin()),
                     std::make_move_iterator(records.end()));
  return log;
}

}  // namespace dr
