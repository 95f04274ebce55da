// Condemnation records: prune's first phase, kept in the repository as
// "gc/<20-digit unix ns>-<8 hex>" (JSON), so every writer can see which packs
// are about to go and stop relying on them (ChunkIndex::ExcludePacks).
//
// A record is written in two steps: first the packs alone (from then on
// every new session excludes them), then, after listing the session
// markers, again with `sessions` set: the sessions that may have started
// before the record was visible. It is "armed" only then. A later prune may
// delete its packs once every one of those sessions has ended, and only the
// packs that are, by a fresh look at every snapshot, still unreferenced.
// docs/design.md gives the argument.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "catalog/store/object_store.h"
#include "core/hash.h"
#include "core/status.h"

namespace dr {

struct GcRecord {
  std::string key;
  int64_t time_ns = 0;
  std::vector<Id> packs;
  bool armed = false;
  std::vector<std::string> sessions;  // marker keys alive when armed
};

std::string NewGcRecordKey(int64_t now_ns);
std::string EncodeGcRecord(const GcRecord& r);
Result<GcRecord> DecodeGcRecord(std::string_view bytes, const std::string& key);
// Every record, oldest first. An unreadable record is an error: its packs
// cannot be told apart, so nobody may write as if they were safe.
Result<std::vector<GcRecord>> ListGcRecords(ObjectStore* store);
// The packs of all records.
std::vector<Id> CondemnedPacks(const std::vector<GcRecord>& records);

}  // namespace dr
