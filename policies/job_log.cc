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

// Whether the file's last byte is a newline (true for an empty file): an
// append after a torn line must start on a line of its own.
Result<bool> EndsWithNewline(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::FromErrno(errno, "stat " + path);
  if (st.st_size == 0) return true;
  char last = 0;
  ASSIGN_OR_RETURN(size_t n, PreadFull(fd, &last, 1, st.st_size - 1, path));
  return n == 1 && last == '\n';
}

// Agent names are host names: "LEDGER-01" is ledger-01.
bool SameAgent(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

// Appends the lines of one file to `out`, warnings for those that do not
// decode. Only the newest `keep` matching records are held (0: all).
Status ReadOne(const std::string& path, const JobLogFilter& filter, std::deque<JobRecord>* out,
               std::vector<std::string>* warnings) {
  auto text = ReadWholeFile(path);
  if (!text.ok()) return text.status().IsNotFound() ? Status::OK() : text.status();
  size_t pos = 0, line_no = 0;
  while (pos < text->size()) {
    size_t end = text->find('\n', pos);
    const bool torn = end == std::string::npos;
    if (torn) end = text->size();
    const std::string_view line(text->data() + pos, end - pos);
    pos = end + 1;
    line_no++;
    if (line.empty()) continue;
    // A last line without its newline that still decodes is a whole record
    // (only the newline was lost); anything else is skipped.
    auto r = DecodeJobRecord(line);
    if (!r.ok()) {
      warnings->push_back(
          path + ":" + std::to_string(line_no) + ": skipped: " +
          (torn ? "incomplete last line (a crash during an append?)" : r.status().message()));
      continue;
    }
    if (!filter.policy.empty() && r->policy != filter.policy) continue;
    if (!filter.agent.empty() && !SameAgent(r->agent, filter.agent)) continue;
    out->push_back(std::move(r).value());
    if (filter.limit && out->size() > filter.limit) out->pop_front();
  }
  return Status::OK();
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
  const std::string path = LogPath(state_dir);
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return Status::FromErrno(errno, "open " + path);
  ASSIGN_OR_RETURN(bool fresh_line, EndsWithNewline(fd.get(), path));
  std::string line = (fresh_line ? "" : "\n") + EncodeJobRecord(r) + "\n";
  RETURN_IF_ERROR(WriteFull(fd.get(), line, "append " + path));
  return Fsync(fd.get(), path);
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
