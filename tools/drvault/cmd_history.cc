// drvault history: a namespace's sealed snapshot history at this vault
// (catalog/history.h), checked with the vault's own key and head, so records
// cut off its end are named too (drctl verify-history, which has neither,
// compares the two sites instead). Read only: it writes nothing, not even
// the state directory's history folder.
#include <cstdio>

#include "catalog/history.h"
#include "catalog/store/object_store.h"
#include "replicator/vault/agent_registry.h"
#include "replicator/vault/audit_log.h"
#include "replicator/vault/enrolment.h"
#include "tools/drvault/commands.h"

namespace dr::drvault {

void AddHistoryCommand(CLI::App& app, Cli& cli) {
  static std::string nspace;
  static bool json = false;
  auto* cmd = app.add_subcommand(
      "history", "check a namespace's snapshots against the history this vault sealed");
  cmd->add_option("namespace", nspace, "the namespace")->required();
  cmd->add_flag("--json", json, "print JSON");
  cli.WithConfig(cmd, [](const VaultConfig& c) {
    if (!IsValidNamespace(nspace))
      return Fail(Status::InvalidArgument("'" + nspace + "' is not a valid namespace name"));
    auto url = NamespaceRepositoryUrl(c.repository, nspace);
    if (!url.ok()) return Fail(url.status());
    auto store = OpenObjectStore(*url);
    if (!store.ok()) return Fail(store.status());
    auto key = SigningKey::Load(VaultSigningKeyPath(c));
    if (!key.ok()) return Fail(key.status());
    auto head = ReadLogHead(c.state_dir + "/history/" + nspace + ".head");
    if (!head.ok()) return Fail(head.status());
    auto h = VerifySiteHistory(**store, key->public_hex(), nspace, nspace, &*head);
    if (!h.ok()) return Fail(h.status());
    const size_t forgotten = h->forgotten();
    if (json) {
      nlohmann::json out = {{"namespace", nspace},
                            {"key", key->public_hex()},
                            {"records", h->log.entries.size()},
                            {"snapshots_present", h->present},
                            {"snapshots_forgotten", forgotten},
                            {"intact", h->problems.empty()},
                            {"problems", h->problems}};
      std::printf("%s\n",
                  out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      return h->problems.empty() ? kExitOk : kExitError;
    }
    for (const auto& p : h->problems) std::fprintf(stderr, "drvault: %s\n", p.c_str());
    if (!h->problems.empty()) return kExitError;
    std::printf("%s: history intact: %zu records, %zu snapshots as sealed, %zu forgotten; key %s\n",
                nspace.c_str(), h->log.entries.size(), h->present, forgotten,
                key->public_hex().c_str());
    return kExitOk;
  });
}

}  // namespace dr::drvault
