// `drvault key list|export NS`: the key slots of an encrypted namespace, and
// another escrow copy of its master key, opened with this vault's key for it.
#include <cstdio>

#include "catalog/repo_keys.h"
#include "catalog/store/object_store.h"
#include "core/timefmt.h"
#include "replicator/vault/agent_registry.h"
#include "replicator/vault/namespace_keys.h"
#include "tools/drvault/commands.h"

namespace dr::drvault {

namespace {

Result<std::unique_ptr<ObjectStore>> NamespaceStore(const VaultConfig& c, const std::string& ns) {
  if (!IsValidNamespace(ns)) return Status::InvalidArgument("'" + ns + "' is not a namespace name");
  ASSIGN_OR_RETURN(std::string url, NamespaceRepositoryUrl(c.repository, ns));
  ASSIGN_OR_RETURN(auto store, OpenObjectStore(url));
  if (!NamespaceKeySource(c, ns).given()) {
    return Status::NotFound("this vault holds no key for namespace " + ns +
                            " (not encrypted, or encrypted elsewhere)");
  }
  return store;
}

}  // namespace

void AddKeyCommands(CLI::App& app, Cli& cli) {
  auto* key = app.add_subcommand("key", "the keys of an encrypted namespace");
  key->require_subcommand(1);
  static std::string ns, out;

  auto* list = key->add_subcommand("list", "its key slots");
  list->add_option("namespace", ns, "the namespace")->required();
  cli.WithConfig(list, [](const VaultConfig& c) {
    auto store = NamespaceStore(c, ns);
    if (!store.ok()) return Fail(store.status());
    auto slots = ListSlots(store->get());
    if (!slots.ok()) return Fail(slots.status());
    for (const SlotInfo& s : *slots) {
      std::printf("%s  %-10s  %s  %s\n", s.id.c_str(), s.kind.c_str(),
                  FormatRfc3339Utc(s.created_unix_ns).c_str(), s.label.c_str());
    }
    return kExitOk;
  });

  auto* exp = key->add_subcommand("export", "write its master key to a new file (an escrow copy)");
  exp->add_option("namespace", ns, "the namespace")->required();
  exp->add_option("--out", out, "the new key file (mode 0600; never over an existing file)")
      ->required();
  cli.WithConfig(exp, [](const VaultConfig& c) {
    auto store = NamespaceStore(c, ns);
    if (!store.ok()) return Fail(store.status());
    Status s = ExportNamespaceMasterKey(c, ns, store->get(), out);
    if (!s.ok()) return Fail(s);
    std::printf("master key of namespace %s written to %s: keep it offline\n", ns.c_str(),
                out.c_str());
    Status a = Audit(c, "key-export", ns, {{"out", out}});
    return a.ok() ? kExitOk : Fail(a);
  });
}

}  // namespace dr::drvault
