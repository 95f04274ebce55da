#include <unistd.h>

#include <cstdio>

#include "tools/drctl/cli.h"

namespace dr::cli {

void AddInitCommand(CLI::App& app, GlobalOptions& g, Runner* run) {
  auto* cmd = app.add_subcommand("init", "create a new repository");
  auto opts = std::make_shared<InitOptions>();
  auto pack_mib = std::make_shared<uint32_t>(16);
  cmd->add_option("--chunk-min", opts->chunker.min_size, "content-defined chunk minimum, bytes")
      ->capture_default_str();
  cmd->add_option("--chunk-avg", opts->chunker.avg_size, "chunk average (power of two), bytes")
      ->capture_default_str();
  cmd->add_option("--chunk-max", opts->chunker.max_size, "chunk maximum, bytes")
      ->capture_default_str();
  cmd->add_option("--pack-size", *pack_mib, "pack size in MiB")->capture_default_str();
  cmd->add_option("--compression", opts->compression_level, "zstd level, 0 = off")
      ->capture_default_str();
  auto encrypt = std::make_shared<bool>(false);
  auto label = std::make_shared<std::string>();
  cmd->add_flag("--encrypt", *encrypt,
                "encrypt everything stored; the first key is the passphrase (DR_PASSPHRASE or "
                "--passphrase-file) or a new key file written at --key-file PATH");
  cmd->add_option("--label", *label, "label of the first key slot (with --encrypt)");
  cmd->callback([&g, run, opts, pack_mib, encrypt, label] {
    *run = [&g, opts, pack_mib, encrypt, label] {
      if (g.repo.empty()) {
        return Fail(
            Status::InvalidArgument("no repository given (use -r PATH or set DR_REPOSITORY)"));
      }
      if (g.repo.rfind("vault://", 0) == 0) {
        return Fail(Status::InvalidArgument(
            "a vault namespace is created by 'drvault enrol' at the vault, not by init"));
      }
      auto store = OpenObjectStore(g.repo);
      if (!store.ok()) return Fail(store.status());
      if (*pack_mib < 1 || *pack_mib > 1024) {
        return Fail(Status::InvalidArgument("--pack-size must be 1 to 1024 (MiB), got " +
                                            std::to_string(*pack_mib)));
      }
      opts->pack_size = *pack_mib << 20;
      if (*encrypt) {
        auto keys = KeySourceFromEnvironment();
        if (!keys.ok()) return Fail(keys.status());
        if (!keys->given() && ::isatty(STDIN_FILENO)) {
          auto first = AskPassphrase("passphrase for the new repository: ");
          if (!first.ok()) return Fail(first.status());
          auto again = AskPassphrase("the same passphrase again: ");
          if (!again.ok()) return Fail(again.status());
          if (*first != *again) {
            return Fail(Status::InvalidArgument("the two passphrases differ; nothing created"));
          }
          keys->passphrase = *first;
        }
        if (keys->given() == (keys->passphrase.has_value() && !keys->key_file.empty())) {
          return Fail(Status::InvalidArgument(
              "init --encrypt needs one first key: a passphrase (DR_PASSPHRASE or "
              "--passphrase-file) or a new key file (--key-file PATH), not both"));
        }
        opts->encrypt = SlotSpec{keys->passphrase, keys->key_file, *label};
      }
      Status s = Repository::Init(store->get(), *opts);
      if (!s.ok()) return Fail(s);
      if (g.json) {
        PrintJson({{"repository", (*store)->Url()}, {"created", true}, {"encrypted", *encrypt}});
      } else if (!g.quiet) {
        std::printf("created %srepository at %s\n", *encrypt ? "encrypted " : "",
                    (*store)->Url().c_str());
        if (*encrypt) {
          std::printf(
              "keep its key safe: without a passphrase or key file nothing in it can be read.\n"
              "export an escrow copy with 'drctl key export --out PATH'\n");
        }
      }
      return kExitOk;
    };
  });
}

}  // namespace dr::cli
