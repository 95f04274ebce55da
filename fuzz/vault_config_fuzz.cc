// ParseVaultConfig: the vault's YAML configuration (what LoadVaultConfig
// reads from vault.yaml). Whatever the text, it must return a config or an
// error, never throw or crash. offsite.server_key is resolved without
// touching a file (only a Z85 key itself is accepted).
#include "fuzz/fuzz_util.h"
#include "replicator/vault/vault_config.h"
#include "replicator/wire/curve_keys.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto key_only = [](const std::string& arg) -> dr::Result<std::string> {
    if (dr::IsCurveKey(arg)) return arg;
    return dr::Status::InvalidArgument("not a key (the fuzzer reads no key file)");
  };
  auto c = dr::ParseVaultConfig(dr::fuzz::AsView(data, size), "vault.yaml", key_only);
  if (!c.ok()) return 0;
  FUZZ_CHECK(!c->listen.empty() && !c->state_dir.empty() && !c->repository.empty());
  FUZZ_CHECK(c->credit_bytes >= (8ull << 20) && c->credit_bytes <= (4096ull << 20));
  if (c->offsite) FUZZ_CHECK(c->offsite->interval_s >= 1 && dr::IsCurveKey(c->offsite->server_key));
  (void)dr::NamespaceRepositoryUrl(c->repository, "finance");
  return 0;
}
