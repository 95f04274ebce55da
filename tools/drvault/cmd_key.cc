// `drvault key list|add|remove|rotate|export NS`: the keys of an encrypted
// namespace, opened with this vault's key for it. Every change is recorded
// in the vault's audit log; a rotation reaches the running vault, which
// reopens the namespace (namespace_keys.h).
#include <cstdio>

#include "catalog/repo_keys.h"
#include "catalog/store/object_store.h"
#include "core/env/file_io.h"
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
  static std::string ns, out, slot, new_key_file, new_passphrase_file, label;

  auto* list = key->add_subcommand("list", "its key slots");
  list->add_option("namespace", ns, "the namespace")->required();
  cli.WithConfig(list, [](const VaultConfig& c) {
    auto store = NamespaceStore(c, ns);
    if (!store.ok()) return Fail(store.status());
    auto slots = ListSlots(store->get());
    if (!slots.ok()) return Fail(slots.status());
    for (const SlotInfo& s : *slots) {
      // A label is whatever the store holds (anyone who can write it can
      // plant a slot): quoted and escaped, never raw terminal bytes.
      const std::string label =
          nlohmann::json(s.label).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      std::printf("%s  %-10s  %s  %s\n", s.id.c_str(), s.kind.c_str(),
                  FormatRfc3339Utc(s.created_unix_ns).c_str(), label.c_str());
    }
    return kExitOk;
  });

  auto* add = key->add_subcommand("add", "add a key slot: a new key file or a passphrase");
  add->add_option("namespace", ns, "the namespace")->required();
  add->add_option("--new-key-file", new_key_file,
                  "write the new slot's key file here (mode 0600; never over an existing file)");
  add->add_option("--new-passphrase-file", new_passphrase_file,
                  "a file whose first line is the new slot's passphrase");
  add->add_option("--label", label, "what the slot is for (shown by key list)");
  cli.WithConfig(add, [](const VaultConfig& c) {
    if (new_key_file.empty() == new_passphrase_file.empty()) {
      return Fail(Status::InvalidArgument(
          "give the new slot's key: --new-key-file PATH or --new-passphrase-file FILE, one of "
          "them"));
    }
    SlotSpec spec;
    spec.label = label;
    spec.key_file = new_key_file;
    if (!new_passphrase_file.empty()) {
      auto passphrase = ReadFirstLine(new_passphrase_file);
      if (!passphrase.ok()) return Fail(passphrase.status());
      spec.passphrase = std::move(passphrase).value();
    }
    auto store = NamespaceStore(c, ns);
    if (!store.ok()) return Fail(store.status());
    auto id = AddNamespaceKeySlot(c, ns, store->get(), spec);
    if (!id.ok()) return Fail(id.status());
    std::printf("added key slot %s to namespace %s\n", id->c_str(), ns.c_str());
    nlohmann::json details = {
        {"slot", *id}, {"kind", spec.passphrase ? "passphrase" : "key-file"}, {"label", label}};
    if (!new_key_file.empty()) details["key_file"] = new_key_file;
    Status a = Audit(c, "key-add", ns, details);
    return a.ok() ? kExitOk : Fail(a);
  });

  auto* remove = key->add_subcommand("remove", "remove a key slot (never this vault's own)");
  remove->add_option("namespace", ns, "the namespace")->required();
  remove->add_option("slot", slot, "the slot id, or a unique prefix of it")->required();
  cli.WithConfig(remove, [](const VaultConfig& c) {
    auto store = NamespaceStore(c, ns);
    if (!store.ok()) return Fail(store.status());
    auto removed = RemoveNamespaceKeySlot(c, ns, store->get(), slot);
    if (!removed.ok()) return Fail(removed.status());
    std::printf("removed key slot %s of namespace %s\n", removed->c_str(), ns.c_str());
    Status a = Audit(c, "key-remove", ns, {{"slot", *removed}});
    return a.ok() ? kExitOk : Fail(a);
  });

  auto* rotate = key->add_subcommand(
      "rotate", "seal new data with a new data key (older data keeps its keys)");
  rotate->add_option("namespace", ns, "the namespace")->required();
  cli.WithConfig(rotate, [](const VaultConfig& c) {
    auto store = NamespaceStore(c, ns);
    if (!store.ok()) return Fail(store.status());
    auto number = RotateNamespaceDataKey(c, ns, store->get());
    if (!number.ok()) return Fail(number.status());
    std::printf(
        "namespace %s: new data is sealed with data key %u (a running vault switches within "
        "seconds; agents at their next session)\n",
        ns.c_str(), *number);
    Status a = Audit(c, "key-rotate", ns, {{"data_key", *number}});
    return a.ok() ? kExitOk : Fail(a);
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
