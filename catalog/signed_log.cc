#include "catalog/signed_log.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "core/env/file_io.h"
#include "core/timefmt.h"

namespace dr {

namespace {

constexpr int kSeqDigits = 10;
constexpr size_t kMaxRecordBytes = 64 << 10;

std::string KeyOf(const LogLayout& l, uint64_t seq) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0*llu", kSeqDigits, static_cast<unsigned long long>(seq));
  return l.prefix + buf;
}

bool SeqOfKey(const LogLayout& l, std::string_view key, uint64_t* seq) {
  if (key.rfind(l.prefix, 0) != 0) return false;
  std::string_view digits = key.substr(l.prefix.size());
  if (digits.size() != kSeqDigits) return false;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), *seq);
  return ec == std::errc() && end == digits.data() + digits.size() && *seq > 0;
}

std::string Named(const LogLayout& l, uint64_t seq) { return l.noun + " " + std::to_string(seq); }

// "audit record 3 is" or "audit records 3 to 5 are".
std::string Span(const LogLayout& l, uint64_t first, uint64_t last) {
  if (first == last) return Named(l, first) + " is";
  return l.noun + "s " + std::to_string(first) + " to " + std::to_string(last) + " are";
}

// How a record is serialised, signed and stored: compact, members sorted,
// and bytes that are not UTF-8 (a path, a name an admin typed) replaced
// rather than thrown on, the same way every time.
std::string Canonical(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The record without its signature: what the signature covers.
nlohmann::json Unsigned(const LogLayout& l, const LogRecord& e, const std::string& prev,
                        const std::string& key) {
  return {{"format", l.format},   {"seq", e.seq},
          {"prev", prev},         {"time", FormatRfc3339Utc(e.time_ns)},
          {"time_ns", e.time_ns}, {"actor", e.actor},
          {"action", e.action},   {"subject", e.subject},
          {"details", e.details}, {"key", key}};
}

Status WriteLogHead(const std::string& path, const LogHead& h) {
  return WriteFileAtomically(path,
                             nlohmann::json{{"seq", h.seq}, {"digest", h.digest}}.dump() + "\n");
}

// Parses and checks one stored record against its key's number, the digest
// its predecessor has, and the expected signing key. Problems are appended
// to `problems`, each naming the record.
std::optional<LogRecord> CheckRecord(const LogLayout& l, uint64_t seq, const std::string& bytes,
                                     const std::string& prev_digest, const std::string& key,
                                     std::vector<std::string>* problems) {
  const std::string what = Named(l, seq);
  auto j = nlohmann::json::parse(bytes, nullptr, false);
  auto str = [&](const char* k) {
    return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string();
  };
  // Exactly the members a record has, so nothing unsigned rides along.
  constexpr size_t kMembers = 11;
  if (!j.is_object() || j.size() != kMembers || str("format") != l.format || !j.contains("seq") ||
      !j["seq"].is_number_unsigned() || !j.contains("time_ns") ||
      !j["time_ns"].is_number_integer() || !j.contains("details") || !j["details"].is_object() ||
      str("time") != FormatRfc3339Utc(j["time_ns"].get<int64_t>())) {
    problems->push_back(what + " is not a record of this log (damaged or replaced)");
    return std::nullopt;
  }
  LogRecord e;
  e.seq = j["seq"].get<uint64_t>();
  e.time_ns = j["time_ns"].get<int64_t>();
  e.actor = str("actor");
  e.action = str("action");
  e.subject = str("subject");
  e.details = j["details"];
  e.digest = ChainDigest(bytes);
  e.key = str("key");
  if (!l.scope.empty() && (!e.details.contains("namespace") || e.details["namespace"] != l.scope)) {
    problems->push_back(what + " belongs to another namespace's log (copied here)");
  }
  if (e.seq != seq) {
    problems->push_back(what + " says it is record " + std::to_string(e.seq) +
                        " (moved from another place in the log)");
  }
  if (e.key != key) {
    problems->push_back(what + " is signed by key " + (e.key.empty() ? "(none)" : e.key) +
                        ", not the expected key " + key + " (forged)");
  } else if (!VerifySignature(key, Canonical(Unsigned(l, e, str("prev"), key)), str("sig"))) {
    problems->push_back(what + " does not match its signature (edited)");
  }
  if (str("prev") != prev_digest) {
    problems->push_back(what + " does not follow record " + std::to_string(seq - 1) +
                        " (that record was edited or replaced)");
  }
  return e;
}

// Whether `bytes` are `key`'s record number `seq`: well formed, carrying
// that number and signed by `key`, whatever record it says it follows. An
// old record copied to a new place carries its old number, so it is not.
bool SignedAt(const LogLayout& l, uint64_t seq, const std::string& bytes, const std::string& key) {
  auto j = nlohmann::json::parse(bytes, nullptr, false);
  if (!j.is_object() || !j.contains("prev") || !j["prev"].is_string()) return false;
  std::vector<std::string> problems;
  auto e = CheckRecord(l, seq, bytes, j["prev"].get<std::string>(), key, &problems);
  return e.has_value() && problems.empty();
}

// A stored record, read only when it is no bigger than any record this
// code writes: a planted giant is never loaded whole.
Result<std::string> GetRecord(ObjectStore& store, const LogLayout& l, uint64_t seq) {
  ASSIGN_OR_RETURN(uint64_t size, store.Size(KeyOf(l, seq)));
  if (size > kMaxRecordBytes) {
    return Status::Corruption(Named(l, seq) + " is " + std::to_string(size) +
                              " bytes, more than any record (planted)");
  }
  return store.Get(KeyOf(l, seq));
}

// Writes `entry` as the record after `head`, signed with `key`, and moves
// the head to it.
Status WriteNext(ObjectStore& store, const LogLayout& l, const SigningKey& key, LogHead* head,
                 LogRecord* entry) {
  entry->seq = head->seq + 1;
  const nlohmann::json body = Unsigned(l, *entry, head->digest, key.public_hex());
  nlohmann::json record = body;
  record["sig"] = key.Sign(Canonical(body));
  const std::string bytes = Canonical(record) + "\n";
  if (bytes.size() > kMaxRecordBytes) {
    return Status::InvalidArgument(l.noun + " about " + entry->subject + " of " +
                                   std::to_string(bytes.size()) + " bytes is over the limit of " +
                                   std::to_string(kMaxRecordBytes));
  }
  RETURN_IF_ERROR(store.PutIfAbsent(KeyOf(l, entry->seq), bytes));
  entry->digest = ChainDigest(bytes);
  entry->key = key.public_hex();
  *head = {entry->seq, entry->digest};
  return WriteLogHead(l.head_path, *head);
}

}  // namespace

LogRecord NewLogRecord(std::string actor, std::string action, std::string subject,
                       nlohmann::json details) {
  LogRecord r;
  r.time_ns = NowUnixNs();
  r.actor = std::move(actor);
  r.action = std::move(action);
  r.subject = std::move(subject);
  r.details = std::move(details);
  return r;
}

Result<LogHead> ReadLogHead(const std::string& path) {
  auto text = ReadWholeFile(path);
  if (text.status().IsNotFound()) return LogHead{};
  if (!text.ok()) return text.status();
  auto j = nlohmann::json::parse(*text, nullptr, false);
  LogHead h;
  if (!j.is_object() || !j.contains("seq") || !j["seq"].is_number_unsigned() ||
      !j.contains("digest") || !j["digest"].is_string())
    return Status::Corruption(path + ": not a log head");
  h.seq = j["seq"].get<uint64_t>();
  h.digest = j["digest"].get<std::string>();
  return h;
}

Result<LogReading> ReadSignedLog(ObjectStore& store, const LogLayout& layout,
                                 const std::string& key, const LogHead* head, int64_t since_ns) {
  LogReading out;
  out.key = key;
  ASSIGN_OR_RETURN(auto objects, store.List(layout.prefix));
  std::vector<uint64_t> seqs;
  for (const auto& o : objects) {
    uint64_t seq = 0;
    if (SeqOfKey(layout, o.key, &seq)) {
      seqs.push_back(seq);
    } else {
      out.problems.push_back(o.key + " is not a record name of this log (planted)");
    }
  }
  std::sort(seqs.begin(), seqs.end());
  ASSIGN_OR_RETURN(auto planted, store.List(layout.planted_prefix));
  for (const auto& o : planted) {
    out.problems.push_back(
        "someone without the writer's key put a record where the next one "
        "goes; the writer kept it as " +
        o.key + " and went on (inspect it, then remove it)");
  }
  if (head && head->seq == 0 && !seqs.empty()) {
    out.problems.push_back(layout.head_path +
                           " is missing although the log has records: "
                           "records cut off its end cannot be told");
  }
  // Unpinned: the first record that names a key names the one every record
  // must have, the earlier ones included.
  for (size_t i = 0; out.key.empty() && i < seqs.size(); ++i) {
    auto bytes = GetRecord(store, layout, seqs[i]);
    if (!bytes.ok()) continue;
    auto j = nlohmann::json::parse(*bytes, nullptr, false);
    if (j.is_object() && j.contains("key") && j["key"].is_string())
      out.key = j["key"].get<std::string>();
  }
  uint64_t expect = 1;
  std::string prev = kNoPredecessor;
  for (uint64_t seq : seqs) {
    if (seq != expect) {
      out.problems.push_back(Span(layout, expect, seq - 1) + " missing (removed)");
      prev = "";  // the next record's predecessor is gone: its link cannot be checked
    }
    auto bytes = GetRecord(store, layout, seq);
    if (bytes.status().IsCorruption()) {
      out.problems.push_back(bytes.status().message());
      prev = "";
      expect = seq + 1;
      continue;
    }
    if (!bytes.ok()) return bytes.status();
    std::vector<std::string> problems;
    auto e = CheckRecord(layout, seq, *bytes, prev, out.key, &problems);
    for (auto& p : problems) {
      // A gap was reported already; "does not follow" would say it twice.
      if (prev.empty() && p.find("does not follow") != std::string::npos) continue;
      out.problems.push_back(std::move(p));
    }
    prev = e ? e->digest : ChainDigest(*bytes);
    if (head && seq == head->seq && prev != head->digest) {
      out.problems.push_back(Named(layout, seq) + " is not the one its writer wrote (replaced)");
    }
    if (e && e->time_ns >= since_ns) out.entries.push_back(std::move(*e));
    expect = seq + 1;
  }
  if (head && head->seq >= expect) {
    out.problems.push_back(Span(layout, expect, head->seq) + " missing: its writer wrote up to " +
                           Named(layout, head->seq) + " (the log was cut short)");
  }
  return out;
}

SignedLog::SignedLog(std::unique_ptr<ObjectStore> store, LogLayout layout, SigningKey key)
    : store_(std::move(store)), layout_(std::move(layout)), key_(std::move(key)) {}

SignedLog::~SignedLog() {
  {
    std::lock_guard l(posted_mu_);
    stopping_ = true;
  }
  posted_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

void SignedLog::Post(LogRecord entry) {
  {
    std::lock_guard l(posted_mu_);
    posted_.push_back(std::move(entry));
    if (!writer_.joinable()) writer_ = std::thread([this] { WriterLoop(); });
  }
  posted_cv_.notify_all();
}

void SignedLog::WriterLoop() {
  std::unique_lock l(posted_mu_);
  for (;;) {
    posted_cv_.wait(l, [this] { return stopping_ || !posted_.empty(); });
    if (posted_.empty()) return;  // stopping, and everything posted is written
    LogRecord e = std::move(posted_.front());
    posted_.pop_front();
    l.unlock();
    auto done = Append(e);
    if (!done.ok() && on_failure_) on_failure_(e, done.status());
    l.lock();
  }
}

Result<LogRecord> SignedLog::Append(LogRecord entry) {
  std::lock_guard l(mu_);
  ASSIGN_OR_RETURN(UniqueFd lock, LockFile(layout_.lock_path));
  ASSIGN_OR_RETURN(LogHead head, ReadLogHead(layout_.head_path));
  std::vector<LogRecord> notes;  // records put where ours go by someone without the key
  for (;;) {
    // A record past the head is one whose writer died before it moved the
    // head: ours if it checks out, and then the head moves past it.
    const uint64_t seq = head.seq + 1;
    auto next = GetRecord(*store_, layout_, seq);
    if (next.status().IsNotFound()) break;
    if (!next.ok() && !next.status().IsCorruption()) return next.status();
    std::vector<std::string> problems;
    std::optional<LogRecord> e;
    if (next.ok()) e = CheckRecord(layout_, seq, *next, head.digest, key_.public_hex(), &problems);
    if (next.ok() && problems.empty()) {
      head = {e->seq, e->digest};
      RETURN_IF_ERROR(WriteLogHead(layout_.head_path, head));
      continue;
    }
    // Signed by this key but not after its head: the head file and the log
    // disagree (a head from another copy of the state). Moving the writer's
    // own record aside would hide it; an admin must look.
    if (next.ok() && SignedAt(layout_, seq, *next, key_.public_hex())) {
      return Status::Corruption(Named(layout_, seq) +
                                " is signed by this key but does not follow " + layout_.head_path +
                                "; run " + layout_.verify_hint);
    }
    // Not ours: kept beside the log as evidence, out of the way, so the log
    // goes on (a planted record must not silence it), and recorded.
    const std::string aside = layout_.planted_prefix +
                              KeyOf(layout_, seq).substr(layout_.prefix.size()) + "-" +
                              std::to_string(NowUnixNs());
    const std::string why = next.ok() ? problems.front() : next.status().message();
    RETURN_IF_ERROR(store_->PutIfAbsent(aside, next.ok() ? *next : why + "\n"));
    RETURN_IF_ERROR(store_->Delete(KeyOf(layout_, seq)));
    LogRecord note = NewLogRecord("vault", "planted-record", KeyOf(layout_, seq),
                                  {{"moved_to", aside},
                                   {"why", why},
                                   {"blake2b", next.ok() ? ChainDigest(*next) : std::string()}});
    if (!layout_.scope.empty()) note.details["namespace"] = layout_.scope;
    notes.push_back(std::move(note));
  }
  for (auto& note : notes) RETURN_IF_ERROR(WriteNext(*store_, layout_, key_, &head, &note));
  RETURN_IF_ERROR(WriteNext(*store_, layout_, key_, &head, &entry));
  return entry;
}

Result<LogReading> SignedLog::Read(int64_t since_ns) {
  // The head first: records are stored before it moves, so every record up
  // to it is in the listing that follows, even while the writer appends.
  ASSIGN_OR_RETURN(LogHead head, ReadLogHead(layout_.head_path));
  return ReadSignedLog(*store_, layout_, key_.public_hex(), &head, since_ns);
}

}  // namespace dr
