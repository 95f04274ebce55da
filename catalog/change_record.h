// The record of what a file snapshot changed, "change-signals/<snapshot id>"
// (docs/format/change-signals.md): advice for the operator and the next
// judgement (change_signals.h), written once and never replicated.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "catalog/change_signals.h"
#include "core/hash.h"
#include "core/status.h"

namespace dr {

inline constexpr char kChangeSignalsPrefix[] = "change-signals/";

struct ChangeRecord {
  Id snapshot;
  std::optional<Id> base;  // nullopt: the first of its group (nothing measured)
  ChangeSignals signals;
  ChangeVerdict verdict;
  std::optional<Id> locked;  // the clean snapshot locked because of this one
  int64_t locked_until_ns = 0;
  int64_t measured_ns = 0;
};

std::string ChangeRecordKey(const Id& snapshot);
std::string EncodeChangeRecord(const ChangeRecord& record);
// Corruption naming `what` for bytes that are not a record.
Result<ChangeRecord> DecodeChangeRecord(std::string_view bytes, const std::string& what);

// The signals as a JSON object, as records and `--json` output carry them.
nlohmann::json ChangeSignalsJson(const ChangeSignals& s);
// "snapshot ID: reason; reason; locked snapshot ID": what an alert command
// is told (DR_ERROR) about a flagged snapshot.
std::string DescribeSuspicion(const ChangeRecord& record);

}  // namespace dr
