// ParseAgentRegistry: the vault's STATE/agents.json (what AgentRegistry
// re-reads whenever the file changes). Whatever the text, it must return
// entries or an error, never throw or crash; entries it returns must be
// written by AgentRegistryText to a text that parses back to them.
#include "fuzz/fuzz_util.h"
#include "replicator/vault/agent_registry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto entries = dr::ParseAgentRegistry(dr::fuzz::AsView(data, size), "agents.json");
  if (!entries.ok()) return 0;
  auto again = dr::ParseAgentRegistry(dr::AgentRegistryText(*entries), "agents.json");
  if (!again.ok()) {
    std::fprintf(stderr, "%s\n", again.status().ToString().c_str());
    FUZZ_CHECK(again.ok());
  }
  FUZZ_CHECK(again->size() == entries->size());
  for (size_t i = 0; i < entries->size(); ++i) {
    const auto &a = (*entries)[i], &b = (*again)[i];
    FUZZ_CHECK(a.rights != 0 && a.rights == b.rights);
    FUZZ_CHECK(a.name == b.name && a.public_key == b.public_key && a.nspace == b.nspace);
    FUZZ_CHECK(a.revoked == b.revoked && a.enrolled_at == b.enrolled_at);
    // revoked_at is written only for a revoked entry.
    FUZZ_CHECK(a.revoked ? a.revoked_at == b.revoked_at : b.revoked_at.empty());
    FUZZ_CHECK(dr::ParseRights(dr::RightsToString(a.rights)).ok());
  }
  return 0;
}
