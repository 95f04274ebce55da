#include "replicator/vault/audit_log.h"

#include <unistd.h>
#include <algorithm>
#include <charconv>
#include <cstdio>

#include "core/env/file_io.h"
#include "core/timefmt.h"
#include "replicator/vault/enrolment.h"
#include "replicator/vault/vault_log.h"

namespace dr {

namespace {

constexpr char kPrefix[] = "audit/";
// Where a record someone without the vault's key put in the log's way is
// kept: "audit-planted/<10-digit number>-<Unix ns when moved>".
constexpr char kPlantedPrefix[] = "audit-planted/";
constexpr char kFormat[] = "dr-audit-1";
constexpr int kSeqDigits = 10;
constexpr size_t kMaxRecordBytes = 64 << 10;

std::string KeyOf(uint64_t seq) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%0*llu", kPrefix, kSeqDigits,
                static_cast<unsigned long long>(seq));
  return buf;
}

bool SeqOfKey(std::string_view key, uint64_t* seq) {
  if (key.rfind(kPrefix, 0) != 0) return false;
  std::string_view digits = key.substr(sizeof kPrefix - 1);
  if (digits.size() != kSeqDigits) return false;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), *seq);
  return ec == std::errc() && end == digits.data() + digits.size() && *seq > 0;
}

// How a record is serialised, signed and stored: compact, members sorted,
// and bytes that are not UTF-8 (a path, a name an admin typed) replaced
// rather than thrown on, the same way every time.
std::string Canonical(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The record without its signature: what the signature covers.
nlohmann::json Unsigned(const AuditEntry& e, const std::string& prev, const std::string& key) {
  return {{"format", kFormat},    {"seq", e.seq},
          {"prev", prev},         {"time", FormatRfc3339Utc(e.time_ns)},
          {"time_ns", e.time_ns}, {"actor", e.actor},
          {"action", e.action},   {"subject", e.subject},
          {"details", e.details}, {"key", key}};
}

// What STATE/audit.head remembers: the newest record this vault wrote.
struct Head {
  uint64_t seq = 0;
  std::string digest = kNoPredecessor;
};

std::string HeadPath(const std::string& state_dir) { return state_dir + "/audit.head"; }

Result<Head> ReadHead(const std::string& state_dir) {
  auto text = ReadWholeFile(HeadPath(state_dir));
  if (text.status().IsNotFound()) return Head{};
  if (!text.ok()) return text.status();
  auto j = nlohmann::json::parse(*text, nullptr, false);
  Head h;
  if (!j.is_object() || !j.contains("seq") || !j["seq"].is_number_unsigned() ||
      !j.contains("digest") || !j["digest"].is_string())
    return Status::Corruption(HeadPath(state_dir) + ": not an audit log head");
  h.seq = j["seq"].get<uint64_t>();
  h.digest = j["digest"].get<std::string>();
  return h;
}

Status WriteHead(const std::string& state_dir, const Head& h) {
  return WriteFileAtomically(HeadPath(state_dir),
                             nlohmann::json{{"seq", h.seq}, {"digest", h.digest}}.dump() + "\n");
}

// Parses and checks one stored record against its key's number, the digest
// its predecessor has, and the vault's key. Problems are appended to
// `problems`, each naming the record.
std::optional<AuditEntry> CheckRecord(uint64_t seq, const std::string& bytes,
                                      const std::string& prev_digest, const std::string& key,
                                      std::vector<std::string>* problems) {
  const std::string what = "audit record " + std::to_string(seq);
  auto j = nlohmann::json::parse(bytes, nullptr, false);
  auto str = [&](const char* k) {
    return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string();
  };
  // Exactly the members a record has, so nothing unsigned rides along.
  constexpr size_t kMembers = 11;
  if (!j.is_object() || j.size() != kMembers || str("format") != kFormat || !j.contains("seq") ||
      !j["seq"].is_number_unsigned() || !j.contains("time_ns") ||
      !j["time_ns"].is_number_integer() || !j.contains("details") || !j["details"].is_object() ||
      str("time") != FormatRfc3339Utc(j["time_ns"].get<int64_t>())) {
    problems->push_back(what + " is not an audit record (damaged or replaced)");
    return std::nullopt;
  }
  AuditEntry e;
  e.seq = j["seq"].get<uint64_t>();
  e.time_ns = j["time_ns"].get<int64_t>();
  e.actor = str("actor");
  e.action = str("action");
  e.subject = str("subject");
  e.details = j["details"];
  e.digest = ChainDigest(bytes);
  if (e.seq != seq) {
    problems->push_back(what + " says it is record " + std::to_string(e.seq) +
                        " (moved from another place in the log)");
  }
  if (str("key") != key) {
    problems->push_back(what + " is signed by key " + str("key") + ", not this vault's audit key " +
                        key + " (forged)");
  } else if (!VerifySignature(key, Canonical(Unsigned(e, str("prev"), key)), str("sig"))) {
    problems->push_back(what + " does not match its signature (edited)");
  }
  if (str("prev") != prev_digest) {
    problems->push_back(what + " does not follow record " + std::to_string(seq - 1) +
                        " (that record was edited or replaced)");
  }
  return e;
}

// Whether `bytes` are this vault's record number `seq`: well formed, carrying
// that number and signed by `key`, whatever record it says it follows. An
// old record copied to a new place carries its old number, so it is not.
bool SignedAt(uint64_t seq, const std::string& bytes, const std::string& key) {
  auto j = nlohmann::json::parse(bytes, nullptr, false);
  if (!j.is_object() || !j.contains("prev") || !j["prev"].is_string()) return false;
  std::vector<std::string> problems;
  auto e = CheckRecord(seq, bytes, j["prev"].get<std::string>(), key, &problems);
  return e.has_value() && problems.empty();
}

// A stored record, read only when it is no bigger than any record this
// code writes: a planted giant is never loaded whole.
Result<std::string> GetRecord(ObjectStore& store, uint64_t seq) {
  ASSIGN_OR_RETURN(uint64_t size, store.Size(KeyOf(seq)));
  if (size > kMaxRecordBytes) {
    return Status::Corruption("audit record " + std::to_string(seq) + " is " +
                              std::to_string(size) + " bytes, more than any record (planted)");
  }
  return store.Get(KeyOf(seq));
}

// Writes `entry` as the record after `head`, signed with `key`, and moves
// the head to it.
Status WriteNext(ObjectStore& store, const std::string& state_dir, const SigningKey& key,
                 Head* head, AuditEntry* entry) {
  entry->seq = head->seq + 1;
  const nlohmann::json body = Unsigned(*entry, head->digest, key.public_hex());
  nlohmann::json record = body;
  record["sig"] = key.Sign(Canonical(body));
  const std::string bytes = Canonical(record) + "\n";
  if (bytes.size() > kMaxRecordBytes) {
    return Status::InvalidArgument("audit record of " + std::to_string(bytes.size()) +
                                   " bytes is over the limit of " +
                                   std::to_string(kMaxRecordBytes));
  }
  RETURN_IF_ERROR(store.PutIfAbsent(KeyOf(entry->seq), bytes));
  entry->digest = ChainDigest(bytes);
  *head = {entry->seq, entry->digest};
  return WriteHead(state_dir, *head);
}

}  // namespace

Result<std::string> AuditLogUrl(const VaultConfig& config) {
  return NamespaceRepositoryUrl(config.repository, "_audit");
}

Result<std::unique_ptr<AuditLog>> AuditLog::Open(const VaultConfig& config) {
  ASSIGN_OR_RETURN(std::string url, AuditLogUrl(config));
  RETURN_IF_ERROR(CreateRepositoryDirectory(url));
  ASSIGN_OR_RETURN(auto store, OpenObjectStore(url));
  const std::string key_path = config.state_dir + "/audit.key";
  if (::access(key_path.c_str(), F_OK) != 0) {
    // A new key would call every record so far forged.
    ASSIGN_OR_RETURN(auto records, store->List(kPrefix));
    if (!records.empty()) {
      return Status::NotFound(key_path + " is missing but " + url + " holds " +
                              std::to_string(records.size()) +
                              " audit records: restore the key from the state directory's "
                              "backup (a new key would make them all look forged)");
    }
  }
  ASSIGN_OR_RETURN(SigningKey key, SigningKey::LoadOrCreate(key_path));
  return std::make_unique<AuditLog>(std::move(store), config.state_dir, std::move(key));
}

AuditLog::AuditLog(std::unique_ptr<ObjectStore> store, std::string state_dir, SigningKey key)
    : store_(std::move(store)), state_dir_(std::move(state_dir)), key_(std::move(key)) {}

AuditLog::~AuditLog() {
  {
    std::lock_guard l(posted_mu_);
    stopping_ = true;
  }
  posted_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

void AuditLog::Post(AuditEntry entry) {
  {
    std::lock_guard l(posted_mu_);
    posted_.push_back(std::move(entry));
    if (!writer_.joinable()) writer_ = std::thread([this] { WriterLoop(); });
  }
  posted_cv_.notify_all();
}

void AuditLog::WriterLoop() {
  std::unique_lock l(posted_mu_);
  for (;;) {
    posted_cv_.wait(l, [this] { return stopping_ || !posted_.empty(); });
    if (posted_.empty()) return;  // stopping, and everything posted is written
    AuditEntry e = std::move(posted_.front());
    posted_.pop_front();
    l.unlock();
    const std::string action = e.action, subject = e.subject;
    auto done = Append(std::move(e));
    if (!done.ok()) {
      LogEvent("audit_failed",
               {{"action", action}, {"subject", subject}, {"error", done.status().message()}});
    }
    l.lock();
  }
}

Result<AuditEntry> AuditLog::Append(AuditEntry entry) {
  std::lock_guard l(mu_);
  ASSIGN_OR_RETURN(UniqueFd lock, LockFile(state_dir_ + "/audit.lock"));
  ASSIGN_OR_RETURN(Head head, ReadHead(state_dir_));
  std::vector<AuditEntry> notes;  // records put where ours go by someone without the key
  for (;;) {
    // A record past the head is one whose writer died before it moved the
    // head: ours if it checks out, and then the head moves past it.
    const uint64_t seq = head.seq + 1;
    auto next = GetRecord(*store_, seq);
    if (next.status().IsNotFound()) break;
    if (!next.ok() && !next.status().IsCorruption()) return next.status();
    std::vector<std::string> problems;
    std::optional<AuditEntry> e;
    if (next.ok()) e = CheckRecord(seq, *next, head.digest, key_.public_hex(), &problems);
    if (next.ok() && problems.empty()) {
      head = {e->seq, e->digest};
      RETURN_IF_ERROR(WriteHead(state_dir_, head));
      continue;
    }
    // Signed by this vault but not after its head: the state directory and
    // the log disagree (a head from another copy of the state). Moving the
    // vault's own record aside would hide it; an admin must look.
    if (next.ok() && SignedAt(seq, *next, key_.public_hex())) {
      return Status::Corruption("audit record " + std::to_string(seq) +
                                " is signed by this vault but does not follow " +
                                HeadPath(state_dir_) + "; run drvault audit --verify");
    }
    // Not this vault's: kept beside the log as evidence, out of the way, so
    // the log goes on (a planted record must not silence it), and recorded.
    const std::string aside = std::string(kPlantedPrefix) + KeyOf(seq).substr(sizeof kPrefix - 1) +
                              "-" + std::to_string(NowUnixNs());
    const std::string why = next.ok() ? problems.front() : next.status().message();
    RETURN_IF_ERROR(store_->PutIfAbsent(aside, next.ok() ? *next : why + "\n"));
    RETURN_IF_ERROR(store_->Delete(KeyOf(seq)));
    AuditEntry note;
    note.time_ns = NowUnixNs();
    note.actor = "vault";
    note.action = "planted-record";
    note.subject = KeyOf(seq);
    note.details = {{"moved_to", aside},
                    {"why", why},
                    {"blake2b", next.ok() ? ChainDigest(*next) : std::string()}};
    notes.push_back(std::move(note));
  }
  for (auto& note : notes) RETURN_IF_ERROR(WriteNext(*store_, state_dir_, key_, &head, &note));
  RETURN_IF_ERROR(WriteNext(*store_, state_dir_, key_, &head, &entry));
  return entry;
}

Result<AuditLog::Reading> AuditLog::Read(int64_t since_ns) {
  Reading out;
  // The head first: records are stored before it moves, so every record up
  // to it is in the listing that follows, even while the vault appends.
  ASSIGN_OR_RETURN(Head head, ReadHead(state_dir_));
  ASSIGN_OR_RETURN(auto objects, store_->List(kPrefix));
  std::vector<uint64_t> seqs;
  for (const auto& o : objects) {
    uint64_t seq = 0;
    if (SeqOfKey(o.key, &seq)) {
      seqs.push_back(seq);
    } else {
      out.problems.push_back(o.key + " is not an audit record name (planted)");
    }
  }
  std::sort(seqs.begin(), seqs.end());
  ASSIGN_OR_RETURN(auto planted, store_->List(kPlantedPrefix));
  for (const auto& o : planted) {
    out.problems.push_back(
        "someone without this vault's key put a record where the next one "
        "goes; the vault kept it as " +
        o.key +
        " and went on (inspect it, "
        "then remove it)");
  }
  if (head.seq == 0 && !seqs.empty()) {
    out.problems.push_back(HeadPath(state_dir_) +
                           " is missing although the log has records: "
                           "records cut off its end cannot be told");
  }
  uint64_t expect = 1;
  std::string prev = kNoPredecessor;
  for (uint64_t seq : seqs) {
    if (seq != expect) {
      out.problems.push_back("audit records " + std::to_string(expect) + " to " +
                             std::to_string(seq - 1) + " are missing (removed)");
      prev = "";  // the next record's predecessor is gone: its link cannot be checked
    }
    auto bytes = GetRecord(*store_, seq);
    if (bytes.status().IsCorruption()) {
      out.problems.push_back(bytes.status().message());
      prev = "";
      expect = seq + 1;
      continue;
    }
    if (!bytes.ok()) return bytes.status();
    std::vector<std::string> problems;
    auto e = CheckRecord(seq, *bytes, prev, key_.public_hex(), &problems);
    for (auto& p : problems) {
      // A gap was reported already; "does not follow" would say it twice.
      if (prev.empty() && p.find("does not follow") != std::string::npos) continue;
      out.problems.push_back(std::move(p));
    }
    prev = e ? e->digest : ChainDigest(*bytes);
    if (seq == head.seq && prev != head.digest) {
      out.problems.push_back("audit record " + std::to_string(seq) +
                             " is not the one this vault wrote (replaced)");
    }
    if (e && e->time_ns >= since_ns) out.entries.push_back(std::move(*e));
    expect = seq + 1;
  }
  if (head.seq >= expect) {
    out.problems.push_back("audit records " + std::to_string(expect) + " to " +
                           std::to_string(head.seq) +
                           " are missing: this vault wrote up to record " +
                           std::to_string(head.seq) + " (the log was cut short)");
  }
  return out;
}

void AuditOrLog(AuditLog* log, const std::string& actor, const std::string& action,
                const std::string& subject, nlohmann::json details) {
  if (!log) return;
  AuditEntry e;
  e.time_ns = NowUnixNs();
  e.actor = actor;
  e.action = action;
  e.subject = subject;
  e.details = std::move(details);
  log->Post(std::move(e));
}

}  // namespace dr
