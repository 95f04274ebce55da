// The registry's text and the rights list, apart from the file handling of
// agent_registry.cc: what the fuzzer (fuzz/agent_registry_fuzz.cc) links.
#include <nlohmann/json.hpp>
#include <sstream>

#include "replicator/vault/agent_registry.h"

namespace dr {

namespace {
constexpr struct {
  unsigned bit;
  const char* name;
} kRightNames[] = {
    {kRightBackup, "backup"}, {kRightRestore, "restore"}, {kRightReplicate, "replicate"}};
}  // namespace

Result<unsigned> ParseRights(const std::string& list) {
  unsigned rights = 0;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    bool known = false;
    for (const auto& r : kRightNames) {
      if (item == r.name) {
        rights |= r.bit;
        known = true;
      }
    }
    if (!known)
      return Status::InvalidArgument("unknown right '" + item +
                                     "' (known: backup, restore, replicate)");
  }
  if (rights == 0) return Status::InvalidArgument("no rights given");
  return rights;
}

std::string RightsToString(unsigned rights) {
  std::string s;
  for (const auto& r : kRightNames) {
    if (rights & r.bit) s += (s.empty() ? "" : ",") + std::string(r.name);
  }
  return s;
}

Result<std::vector<AgentEntry>> ParseAgentRegistry(std::string_view text, const std::string& name) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.contains("agents") || !j["agents"].is_array())
    return Status::Corruption("agent registry " + name + " is not valid JSON with an agents list");
  std::vector<AgentEntry> entries;
  try {
    for (const auto& a : j["agents"]) {
      AgentEntry e;
      e.name = a.at("name").get<std::string>();
      e.public_key = a.at("public_key").get<std::string>();
      e.nspace = a.at("namespace").get<std::string>();
      auto rights = ParseRights(a.at("rights").get<std::string>());
      if (!rights.ok()) return rights.status().WithContext("agent registry " + name);
      e.rights = *rights;
      e.revoked = a.value("revoked", false);
      e.enrolled_at = a.value("enrolled_at", "");
      e.revoked_at = a.value("revoked_at", "");
      entries.push_back(std::move(e));
    }
  } catch (const nlohmann::json::exception& ex) {
    return Status::Corruption("agent registry " + name + ": " + ex.what());
  }
  return entries;
}

std::string AgentRegistryText(const std::vector<AgentEntry>& entries) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& e : entries) {
    nlohmann::json a = {{"name", e.name},        {"public_key", e.public_key},
                        {"namespace", e.nspace}, {"rights", RightsToString(e.rights)},
                        {"revoked", e.revoked},  {"enrolled_at", e.enrolled_at}};
    if (e.revoked) a["revoked_at"] = e.revoked_at;
    list.push_back(std::move(a));
  }
  return nlohmann::json{{"agents", list}}.dump(2) + "\n";
}

}  // namespace dr
