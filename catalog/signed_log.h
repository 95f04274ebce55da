// A signed, hash-chained log in an object store: write-once records
// "<prefix><10-digit number>", each naming the BLAKE2b-256 digest of the one
// before it and carrying its writer's Ed25519 signature, so whoever runs the
// storage can neither edit nor forge one. The writer also keeps the newest
// record's number and digest in a file of its own (the head), so a log cut
// short at the store is caught too. Two logs use it: a vault's audit log
// (docs/format/audit-log.md) and the sealed history of each namespace's
// snapshots (docs/format/history.md).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "catalog/signing.h"
#include "catalog/store/object_store.h"
#include "core/status.h"

namespace dr {

struct LogRecord {
  uint64_t seq = 0;
  int64_t time_ns = 0;
  std::string actor;    // "admin USER" (a drvault command), "vault", or "agent NAME"
  std::string action;   // "enrol", "forget", "accept", ...
  std::string subject;  // what it was done to: an agent, a policy, a snapshot id
  nlohmann::json details = nlohmann::json::object();
  std::string digest;  // hex BLAKE2b-256 of the stored record (filled when read or appended)
  std::string key;     // hex public key that signed it (filled when read)
};

// A record of `action` by `actor` on `subject`, timed now.
LogRecord NewLogRecord(std::string actor, std::string action, std::string subject,
                       nlohmann::json details = nlohmann::json::object());

// Where one log lives and what its records are called.
struct LogLayout {
  std::string prefix;          // "audit/"
  std::string planted_prefix;  // "audit-planted/": records set aside (below)
  std::string format;          // the records' "format" member
  std::string noun;            // "audit record": how problems name a record
  std::string head_path;       // the writer's file: {"seq","digest"} of its newest record
  std::string lock_path;       // flock'd around each append
  // When set, every record's details must carry "namespace": scope, so a
  // record copied from another namespace's log (same key) is not this one's.
  std::string scope;
  std::string verify_hint;  // the command that checks this log, for errors
};

struct LogHead {
  uint64_t seq = 0;
  std::string digest = kNoPredecessor;
};
Result<LogHead> ReadLogHead(const std::string& path);  // no file: the empty log

struct LogReading {
  std::vector<LogRecord> entries;     // by number; those at or after `since_ns`
  std::vector<std::string> problems;  // empty: every record checks out
  std::string key;                    // the key the records were checked against
};

// Reads and checks a whole log: names from 1 without gaps, each record's
// format, number, predecessor digest and signature by `key` (empty: the
// first record's key, so a log signed by one unknown key reads, and any
// record signed by another is named), and, with `head`, that nothing past
// it was cut off. An error only when the store cannot be read.
Result<LogReading> ReadSignedLog(ObjectStore& store, const LogLayout& layout,
                                 const std::string& key, const LogHead* head, int64_t since_ns = 0);

class SignedLog {
 public:
  SignedLog(std::unique_ptr<ObjectStore> store, LogLayout layout, SigningKey key);
  virtual ~SignedLog();  // appends what was posted first

  // Appends `entry` as the next record (its seq and digest are filled in).
  // Safe from several threads and from several processes on the writer's
  // host (the lock file orders them). A record past the head that checks
  // out is one whose writer died before it moved the head: adopted. One
  // that does not (someone without the key put it there) is set aside under
  // the planted prefix and recorded, so a planted record never silences the
  // log. One this key signed for that place but after another head means
  // the head file and the log disagree: an error, and nothing is moved.
  Result<LogRecord> Append(LogRecord entry);
  // Appends `entry` soon, in posting order, on a thread of its own, for
  // threads that must not wait on the store or on another process holding
  // the lock. A failure goes to `on_failure`.
  void Post(LogRecord entry);
  void set_on_failure(std::function<void(const LogRecord&, const Status&)> f) {
    on_failure_ = std::move(f);
  }

  // ReadSignedLog with this log's key and head.
  Result<LogReading> Read(int64_t since_ns = 0);

  const std::string& public_key() const { return key_.public_hex(); }
  ObjectStore& store() { return *store_; }

 private:
  std::unique_ptr<ObjectStore> store_;
  const LogLayout layout_;
  SigningKey key_;
  std::mutex mu_;  // one Append at a time in this process
  std::function<void(const LogRecord&, const Status&)> on_failure_;

  void WriterLoop();
  std::mutex posted_mu_;
  std::condition_variable posted_cv_;
  std::deque<LogRecord> posted_;  // GUARDED_BY(posted_mu_)
  bool stopping_ = false;         // GUARDED_BY(posted_mu_)
  std::thread writer_;            // started by the first Post
};

}  // namespace dr
