#include "catalog/drill_record.h"

#include <algorithm>
#include <charconv>

#include "catalog/signing.h"

namespace dr {
namespace {

constexpr const char* kPrefix = "drills/";
constexpr const char* kFormat = "dr-drill-record-1";
constexpr int kSeqDigits = 10;

std::string KeyOf(uint64_t seq) {
  std::string n = std::to_string(seq);
  return kPrefix + std::string(kSeqDigits - std::min<size_t>(kSeqDigits, n.size()), '0') + n;
}

bool SeqOf(const std::string& key, uint64_t* seq) {
  if (key.rfind(kPrefix, 0) != 0) return false;
  const std::string digits = key.substr(std::string(kPrefix).size());
  if (digits.size() != kSeqDigits) return false;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), *seq);
  return ec == std::errc() && end == digits.data() + digits.size() && *seq > 0;
}

Result<std::vector<uint64_t>> ListSeqs(ObjectStore* store, std::vector<std::string>* bad) {
  ASSIGN_OR_RETURN(auto objects, store->List(kPrefix));
  std::vector<uint64_t> seqs;
  for (const ObjectInfo& o : objects) {
    uint64_t seq = 0;
    if (SeqOf(o.key, &seq)) {
      seqs.push_back(seq);
    } else if (bad != nullptr) {
      bad->push_back(o.key + ": not a drill record name");
    }
  }
  std::sort(seqs.begin(), seqs.end());
  return seqs;
}

}  // namespace

Result<DrillRecord> AppendDrillRecord(ObjectStore* store, const nlohmann::json& report) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    ASSIGN_OR_RETURN(std::vector<uint64_t> seqs, ListSeqs(store, nullptr));
    DrillRecord rec;
    rec.seq = seqs.empty() ? 1 : seqs.back() + 1;
    rec.prev = kNoPredecessor;
    if (!seqs.empty()) {
      ASSIGN_OR_RETURN(std::string last, store->Get(KeyOf(seqs.back())));
      rec.prev = ChainDigest(last);
    }
    const nlohmann::json body = {
        {"format", kFormat}, {"seq", rec.seq}, {"prev", rec.prev}, {"report", report}};
    const std::string bytes =
        body.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    Status put = store->PutIfAbsent(KeyOf(rec.seq), bytes);
    if (put.code() == Code::kAlreadyExists) continue;  // another drill took the number
    if (!put.ok()) return put.WithContext("store drill record " + KeyOf(rec.seq));
    rec.digest = ChainDigest(bytes);
    rec.report = report;
    return rec;
  }
  return Status::Unavailable("store drill record: 20 other drills took the next number first");
}

Status CheckNextDrillRecord(ObjectStore* store, const std::string& key, std::string_view bytes) {
  uint64_t seq = 0;
  if (!SeqOf(key, &seq)) return Status::InvalidArgument(key + ": not a drill record name");
  if (bytes.size() > kMaxDrillRecordBytes) {
    return Status::InvalidArgument(key + ": a drill record of " + std::to_string(bytes.size()) +
                                   " bytes is over the limit of " +
                                   std::to_string(kMaxDrillRecordBytes));
  }
  auto body = nlohmann::json::parse(bytes, nullptr, false);
  // Exactly the four members a record has, of the right types: nothing else
  // rides along in the history.
  const bool well_formed = !body.is_discarded() && body.is_object() && body.size() == 4 &&
                           body.contains("format") && body["format"].is_string() &&
                           body["format"].get<std::string>() == kFormat && body.contains("seq") &&
                           body["seq"].is_number_unsigned() && body["seq"].get<uint64_t>() == seq &&
                           body.contains("prev") && body["prev"].is_string() &&
                           body.contains("report") && body["report"].is_object();
  if (!well_formed) {
    return Status::InvalidArgument(key + ": not a well-formed drill record numbered " +
                                   std::to_string(seq));
  }
  ASSIGN_OR_RETURN(std::vector<uint64_t> seqs, ListSeqs(store, nullptr));
  const uint64_t next = seqs.empty() ? 1 : seqs.back() + 1;
  if (seq < next) return Status::AlreadyExists(key + " is taken");
  if (seq > next) {
    return Status::InvalidArgument(key + ": the next drill record here is number " +
                                   std::to_string(next));
  }
  std::string want = kNoPredecessor;
  if (!seqs.empty()) {
    ASSIGN_OR_RETURN(std::string last, store->Get(KeyOf(seqs.back())));
    want = ChainDigest(last);
  }
  if (body["prev"].get<std::string>() != want) {
    return Status::InvalidArgument(key + ": does not name record " + std::to_string(seq - 1) +
                                   " as its predecessor");
  }
  return Status::OK();
}

Result<DrillHistory> ReadDrillHistory(ObjectStore* store) {
  DrillHistory h;
  ASSIGN_OR_RETURN(std::vector<uint64_t> seqs, ListSeqs(store, &h.problems));
  uint64_t expected = 1;
  std::string prev_digest = kNoPredecessor;
  for (uint64_t seq : seqs) {
    if (seq != expected) {
      h.problems.push_back(seq > expected + 1
                               ? "records " + std::to_string(expected) + " to " +
                                     std::to_string(seq - 1) + " are missing"
                               : "record " + std::to_string(expected) + " is missing");
      prev_digest.clear();  // unknown: the next record's prev cannot be checked
    }
    expected = seq + 1;
    DrillRecord rec;
    rec.seq = seq;
    auto bytes = store->Get(KeyOf(seq));
    if (!bytes.ok()) {
      h.problems.push_back("record " + std::to_string(seq) + ": " + bytes.status().message());
      h.records.push_back(std::move(rec));
      prev_digest.clear();
      continue;
    }
    rec.digest = ChainDigest(*bytes);
    try {
      auto body = nlohmann::json::parse(*bytes, nullptr, false);
      if (body.is_discarded() || !body.is_object() || body.value("format", "") != kFormat ||
          !body.contains("seq") || !body["seq"].is_number_unsigned() || !body.contains("prev") ||
          !body["prev"].is_string() || !body.contains("report")) {
        h.problems.push_back("record " + std::to_string(seq) + ": not a drill record (damaged?)");
      } else {
        rec.prev = body["prev"].get<std::string>();
        rec.report = body["report"];
        if (body["seq"].get<uint64_t>() != seq) {
          h.problems.push_back("record " + std::to_string(seq) + ": says it is record " +
                               std::to_string(body["seq"].get<uint64_t>()) + " (moved?)");
        }
        if (!prev_digest.empty() && rec.prev != prev_digest) {
          h.problems.push_back("record " + std::to_string(seq) + ": does not follow record " +
                               std::to_string(seq - 1) +
                               " (the earlier record was edited or replaced)");
        }
      }
    } catch (const nlohmann::json::exception&) {
      h.problems.push_back("record " + std::to_string(seq) + ": not a drill record (damaged?)");
    }
    prev_digest = rec.digest;
    h.records.push_back(std::move(rec));
  }
  return h;
}

}  // namespace dr
