#include "catalog/change_record.h"

#include <cstdint>
#include <stdexcept>
#include <utility>

namespace dr {
namespace {

constexpr const char* kFormat = "dr-change-signals-1";

// Every count of ChangeSignals by its JSON name: what records and `--json`
// carry, written and read from this one list.
constexpr std::pair<const char*, uint64_t ChangeSignals::*> kSignalFields[] = {
    {"files_before", &ChangeSignals::files_before},
    {"files_after", &ChangeSignals::files_after},
    {"changed", &ChangeSignals::changed},
    {"added", &ChangeSignals::added},
    {"deleted", &ChangeSignals::deleted},
    {"renamed", &ChangeSignals::renamed},
    {"rewritten", &ChangeSignals::rewritten},
    {"weighed", &ChangeSignals::weighed},
    {"became_incompressible", &ChangeSignals::became_incompressible},
};

std::optional<Id> OptionalId(const nlohmann::json& j, const char* member) {
  if (!j.contains(member) || j[member].is_null()) return std::nullopt;
  Id id;
  if (!Id::FromHex(j[member].get<std::string>(), &id)) throw std::invalid_argument(member);
  return id;
}

// A JSON integer within int64 (nlohmann converts a double or a larger
// unsigned number without asking).
int64_t Int64Member(const nlohmann::json& j, const char* member) {
  const nlohmann::json& v = j.at(member);
  if (v.is_number_unsigned() && v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX))
    return static_cast<int64_t>(v.get<uint64_t>());
  if (v.is_number_integer() && !v.is_number_unsigned()) return v.get<int64_t>();
  throw std::invalid_argument(member);
}

}  // namespace

std::string ChangeRecordKey(const Id& snapshot) { return kChangeSignalsPrefix + snapshot.Hex(); }

std::string EncodeChangeRecord(const ChangeRecord& r) {
  nlohmann::json j = {{"format", kFormat},
                      {"snapshot", r.snapshot.Hex()},
                      {"base", r.base ? nlohmann::json(r.base->Hex()) : nlohmann::json()},
                      {"measured_ns", r.measured_ns},
                      {"signals", ChangeSignalsJson(r.signals)},
                      {"suspicious", r.verdict.suspicious},
                      {"reasons", r.verdict.reasons},
                      {"locked", r.locked ? nlohmann::json(r.locked->Hex()) : nlohmann::json()},
                      {"locked_until_ns", r.locked_until_ns}};
  return j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

Result<ChangeRecord> DecodeChangeRecord(std::string_view bytes, const std::string& what) {
  auto j = nlohmann::json::parse(bytes, nullptr, false);
  try {
    if (j.is_discarded() || !j.is_object() || j.value("format", "") != kFormat)
      return Status::Corruption(what + ": not a change-signals record");
    ChangeRecord r;
    if (!Id::FromHex(j.at("snapshot").get<std::string>(), &r.snapshot))
      throw std::invalid_argument("snapshot");
    r.base = OptionalId(j, "base");
    r.locked = OptionalId(j, "locked");
    r.measured_ns = Int64Member(j, "measured_ns");
    r.locked_until_ns = Int64Member(j, "locked_until_ns");
    const auto& s = j.at("signals");
    for (const auto& [name, field] : kSignalFields) {
      if (!s.at(name).is_number_unsigned()) throw std::invalid_argument(name);
      r.signals.*field = s.at(name).get<uint64_t>();
    }
    r.verdict.suspicious = j.at("suspicious").get<bool>();
    r.verdict.reasons = j.at("reasons").get<std::vector<std::string>>();
    return r;
  } catch (const std::exception& e) {
    return Status::Corruption(what + ": a change-signals record with a bad member (" + e.what() +
                              ")");
  }
}

nlohmann::json ChangeSignalsJson(const ChangeSignals& s) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, field] : kSignalFields) j[name] = s.*field;
  return j;
}

std::string DescribeSuspicion(const ChangeRecord& r) {
  std::string reasons;
  for (const auto& why : r.verdict.reasons) reasons += (reasons.empty() ? "" : "; ") + why;
  return "snapshot " + r.snapshot.Hex() + ": " + reasons +
         (r.locked ? "; locked snapshot " + r.locked->Hex() : "");
}

}  // namespace dr
