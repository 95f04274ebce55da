// The drill history kept in the repository: one write-once object per drill,
// "drills/<10-digit sequence number>", each carrying the BLAKE2b-256 digest
// of the one before it. Editing, replacing or removing a record breaks the
// chain at the next record; the newest record, which has no successor, is
// anchored by the digest a catalog remembered when it recorded it.
// Format: docs/format/drill-record.md.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "catalog/store/object_store.h"
#include "core/status.h"

namespace dr {

struct DrillRecord {
  uint64_t seq = 0;
  std::string digest;     // hex BLAKE2b-256 of the stored bytes
  std::string prev;       // hex digest the record names as its predecessor's
  nlohmann::json report;  // DrillReportJson; null when the record did not parse
};

// Stores `report` as the next record (PutIfAbsent: two drills finishing at
// once get consecutive numbers; nothing is ever overwritten).
Result<DrillRecord> AppendDrillRecord(ObjectStore* store, const nlohmann::json& report);

struct DrillHistory {
  std::vector<DrillRecord> records;   // by sequence number
  std::vector<std::string> problems;  // empty: the chain is intact
};

// Reads every record and checks the chain: numbers from 1 without gaps, each
// record's `prev` equal to the digest of the record before it, each record's
// own number and format. An error only when the store cannot be listed.
Result<DrillHistory> ReadDrillHistory(ObjectStore* store);

// Whether `bytes` may be stored as `key` after the records already in
// `store`: a well-formed record, numbered as its key says, the next after
// the newest, naming the newest's digest as its predecessor. A vault checks
// this before storing a record an agent sends, so an agent can extend a
// site's chain but never fork, rewrite or cut it. AlreadyExists when the
// number is taken (the agent then tries the next one).
Status CheckNextDrillRecord(ObjectStore* store, const std::string& key, std::string_view bytes);
inline constexpr size_t kMaxDrillRecordBytes = 1 << 20;

}  // namespace dr
