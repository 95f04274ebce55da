// drctl key: the key slots and data keys of an encrypted repository
// (catalog/repo_keys.h). Every subcommand first opens the master key with
// the key given (DR_PASSPHRASE, --passphrase-file, --key-file), so only a
// holder of a key manages keys.
#include <cstdio>

#include "catalog/format/repo_config.h"
#include "catalog/repo_keys.h"
#include "core/env/file_io.h"
#include "core/timefmt.h"
#include "replicator/wire/vault_client.h"
#include "tools/drctl/cli.h"

namespace dr::cli {

namespace {

struct KeyFlags {
  std::string new_key_file, new_passphrase_file, label, slot, out;
};

struct OpenedKeys {
  std::unique_ptr<ObjectStore> store;
  RepoConfig config;
  UnlockedKeys keys;
};

Result<OpenedKeys> OpenKeys(const GlobalOptions& g) {
  if (g.repo.empty()) {
    return Status::InvalidArgument("no repository given (use -r PATH or set DR_REPOSITORY)");
  }
  if (IsVaultUrl(g.repo)) {
    return Status::InvalidArgument(
        "keys are managed on the repository itself, not through a vault");
  }
  OpenedKeys o;
  ASSIGN_OR_RETURN(o.store, OpenObjectStore(g.repo));
  const std::string what = o.store->Url() + "/config";
  auto raw = o.store->Get("config");
  if (raw.status().IsNotFound()) {
    return Status::NotFound(o.store->Url() + " is not a repository (no config)");
  }
  if (!raw.ok()) return raw.status();
  ASSIGN_OR_RETURN(o.config, RepoConfig::Decode(*raw, what));
  if (!o.config.encrypted()) {
    return Status::InvalidArgument(o.store->Url() +
                                   " is not encrypted: it has no keys (create an encrypted "
                                   "repository with 'drctl init --encrypt')");
  }
  ASSIGN_OR_RETURN(KeySource source, KeySourceFor(g.repo));
  ASSIGN_OR_RETURN(o.keys, UnlockKeys(o.store.get(), o.config.repo_id, source, *raw));
  return o;
}

Result<SlotSpec> NewSlotSpec(const KeyFlags& f) {
  SlotSpec spec;
  spec.label = f.label;
  if (!f.new_key_file.empty()) spec.key_file = f.new_key_file;
  if (!f.new_passphrase_file.empty()) {
    ASSIGN_OR_RETURN(spec.passphrase, ReadFirstLine(f.new_passphrase_file));
  } else {
    spec.passphrase = NewPassphraseFromEnvironment();
  }
  if (spec.passphrase.has_value() == !spec.key_file.empty()) {
    return Status::InvalidArgument(
        "give the new key: --new-passphrase-file FILE (or DR_NEW_PASSPHRASE) or --new-key-file "
        "PATH, one of them");
  }
  return spec;
}

int RunKey(const GlobalOptions& g, const std::string& action, const KeyFlags& f) {
  auto o = OpenKeys(g);
  if (!o.ok()) return Fail(o.status());
  ObjectStore* store = o->store.get();
  const std::string& repo_id = o->config.repo_id;
  if (action == "list") {
    auto slots = ListSlots(store);
    if (!slots.ok()) return Fail(slots.status());
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : *slots) {
      const bool mine = s.id == o->keys.slot;
      if (g.json) {
        out.push_back({{"slot", s.id},
                       {"kind", s.kind},
                       {"label", s.label},
                       {"created", FormatRfc3339Utc(s.created_unix_ns)},
                       {"opened_with", mine}});
      } else if (!g.quiet) {
        std::printf("%s%s  %-10s  %s  %s\n", mine ? "*" : " ", s.id.c_str(), s.kind.c_str(),
                    FormatLocal(s.created_unix_ns).c_str(), Printable(s.label).c_str());
      }
    }
    if (g.json) {
      PrintJson({{"slots", out},
                 {"data_keys", o->keys.keyring.key_count()},
                 {"current_data_key", o->keys.keyring.current()}});
    } else if (!g.quiet) {
      std::printf("data keys: %zu, new data sealed with key %u\n", o->keys.keyring.key_count(),
                  o->keys.keyring.current());
    }
    return kExitOk;
  }
  if (action == "add") {
    auto spec = NewSlotSpec(f);
    if (!spec.ok()) return Fail(spec.status());
    auto id = AddSlot(store, repo_id, o->keys, *spec);
    if (!id.ok()) return Fail(id.status());
    if (g.json) {
      PrintJson({{"slot", *id}});
    } else if (!g.quiet) {
      std::printf("added key slot %s%s\n", id->c_str(),
                  spec->key_file.empty() ? "" : (" (key file " + spec->key_file + ")").c_str());
    }
    return kExitOk;
  }
  if (action == "remove") {
    Status s = RemoveSlot(store, o->keys, f.slot);
    if (!s.ok()) return Fail(s);
    if (!g.quiet && !g.json) std::printf("removed key slot %s\n", f.slot.c_str());
    if (g.json) PrintJson({{"removed", f.slot}});
    return kExitOk;
  }
  if (action == "export") {
    Status s = ExportMasterKey(repo_id, o->keys, f.out);
    if (!s.ok()) return Fail(s);
    if (!g.quiet && !g.json) {
      std::printf(
          "wrote the master key to %s: it opens this repository at any site without a "
          "slot; keep it offline\n",
          f.out.c_str());
    }
    if (g.json) PrintJson({{"exported", f.out}});
    return kExitOk;
  }
  auto n = RotateDataKey(store, repo_id, &o->keys);
  if (!n.ok()) return Fail(n.status());
  if (g.json) {
    PrintJson({{"current_data_key", *n}});
  } else if (!g.quiet) {
    std::printf("new data is sealed with data key %u; older data keeps its keys\n", *n);
  }
  return kExitOk;
}

}  // namespace

void AddKeyCommand(CLI::App& app, GlobalOptions& g, Runner* run) {
  auto* cmd = app.add_subcommand("key", "key slots and data keys of an encrypted repository");
  cmd->require_subcommand(1);
  auto f = std::make_shared<KeyFlags>();
  auto bind = [&g, run, f](CLI::App* sub, std::string action) {
    sub->callback(
        [&g, run, f, action] { *run = [&g, f, action] { return RunKey(g, action, *f); }; });
  };
  bind(cmd->add_subcommand("list", "list the key slots (* marks the one used)"), "list");
  auto* add = cmd->add_subcommand("add", "add a passphrase or key file slot");
  add->add_option("--new-key-file", f->new_key_file, "write a new key file here (mode 0600)");
  add->add_option("--new-passphrase-file", f->new_passphrase_file,
                  "file whose first line is the new passphrase (or DR_NEW_PASSPHRASE)");
  add->add_option("--label", f->label, "a label for the slot");
  bind(add, "add");
  auto* remove = cmd->add_subcommand("remove", "remove a key slot (never the last)");
  remove->add_option("slot", f->slot, "slot id or a unique prefix")->required();
  bind(remove, "remove");
  auto* exp = cmd->add_subcommand("export", "write the master key to a file (the escrow copy)");
  exp->add_option("--out", f->out, "file to create (mode 0600)")->required();
  bind(exp, "export");
  bind(cmd->add_subcommand("rotate", "seal new data with a new data key"), "rotate");
}

}  // namespace dr::cli
