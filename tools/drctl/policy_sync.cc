#include "tools/drctl/policy_sync.h"

#include <chrono>
#include <filesystem>
#include <map>

#include "core/env/file_io.h"
#include "policies/policy.h"

namespace dr::cli {

VaultClientOptions ServiceCallOptions() {
  VaultClientOptions options;
  options.first_connect = std::chrono::seconds(10);
  options.give_up_after = std::chrono::seconds(20);
  return options;
}

Result<PolicySync> SyncPoliciesFromVault(const std::string& vault_url, const std::string& dir) {
  ASSIGN_OR_RETURN(VaultAddress address, ParseVaultUrl(vault_url));
  ASSIGN_OR_RETURN(auto client, VaultClient::Connect(address, ServiceCallOptions()));
  ASSIGN_OR_RETURN(wire::Policies got, Expect<wire::Policies>(client->Call(wire::GetPolicies{})));
  // Every text is checked before anything is written: the directory holds
  // one consistent set, old or new.
  std::map<std::string, std::string> wanted;
  for (const auto& p : got.policies) {
    auto parsed = ParsePolicy(p.yaml, "policy " + p.name + " from the vault");
    if (!parsed.ok()) return parsed.status();
    if (parsed->name != p.name || !wanted.emplace(p.name + ".yaml", p.yaml).second)
      return Status::Corruption("the vault sent policy '" + p.name + "' under another name");
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("create " + dir + ": " + ec.message());
  PolicySync out{wanted.size(), false};
  for (const auto& [file, yaml] : wanted) {
    auto have = ReadWholeFile(dir + "/" + file);
    if (have.ok() && *have == yaml) continue;
    RETURN_IF_ERROR(WriteFileAtomically(dir + "/" + file, yaml));
    out.changed = true;
  }
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename();
    const bool policy_file = name.ends_with(".yaml") || name.ends_with(".yml");
    if (policy_file && !wanted.count(name)) {
      std::filesystem::remove(e.path(), ec);
      if (ec) return Status::IOError("remove " + e.path().string() + ": " + ec.message());
      out.changed = true;
    }
  }
  if (ec) return Status::IOError("list " + dir + ": " + ec.message());
  return out;
}

}  // namespace dr::cli
