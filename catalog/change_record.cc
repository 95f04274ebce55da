#include "catalog/change_record.h"

#include <cstdint>
#include <stdexcept>

namespace dr {
namespace {

constexpr const char* kFormat = "dr-change-signals-1";

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
    ChangeSignals& c = r.signals;
    for (auto [name, field] : {std::pair{"files_before", &c.files_before},
                               {"files_after", &c.files_after},
                               {"changed", &c.changed},
                               {"added", &c.added},
                               {"deleted", &c.deleted},
                               {"renamed", &c.renamed},
                               {"rewritten", &c.rewritten},
                               {"weighed", &c.weighed},
                               {"became_incompressible", &c.became_incompressible}}) {
      if (!s.at(name).is_number_unsigned()) throw std::invalid_argument(name);
      *field = s.at(name).get<uint64_t>();
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
  return {{"files_before", s.files_before},
          {"files_after", s.files_after},
          {"changed", s.changed},
          {"added", s.added},
          {"deleted", s.deleted},
          {"renamed", s.renamed},
          {"rewritten", s.rewritten},
          {"weighed", s.weighed},
          {"became_incompressible", s.became_incompressible}};
}

}  // namespace dr
