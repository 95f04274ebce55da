// Vault sites for tests: each VaultSite is a real drvault process (its own
// state directory, config and repository) on loopback ports, which tests
// start, stop, kill -9 and restart; agents are real dragent processes.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "replicator/wire/vault_client.h"
#include "tests/test_util.h"

namespace dr::test {

// Free loopback ports for this test process (spread by pid, so parallel
// test processes do not collide).
int TestPort(int offset);
// Bytes of the packs (data/) in the repository at `url`; 0 if unreadable.
uint64_t StoredPackBytes(const std::string& url);
// The keys under `prefix` in the store at `url`, sorted (empty where nothing
// is stored); a store that cannot be opened or listed fails the test.
std::vector<std::string> StoredKeys(const std::string& url, const std::string& prefix);
// The repository's live session markers, one per line (each marker's
// text, or its key when unreadable); empty if the listing fails.
std::string LiveSessionMarkers(const std::string& url);

struct AgentKey {
  std::string key_file;  // secret
  std::string pub_file;
};
// `drvault keygen` into `dir`.
AgentKey MakeAgentKey(const std::string& dir, const std::string& name);

class VaultSite {
 public:
  struct Options {
    std::string repository;  // dir:///... or rados://...
    int credit_mib = 32;
    // Off-site peer: its endpoint and public key file.
    std::string offsite_endpoint, offsite_server_pub;
    std::string site = "";  // "off-site": apply policies' off-site retention
    // "NAME=VALUE" added to the environment of `drvault serve` (test knobs
    // such as DRVAULT_RPO_INTERVAL_S).
    std::vector<std::string> env = {};
    std::string extra_config = "";  // YAML lines appended to the config
  };
  // Writes the config and runs `drvault init`.
  VaultSite(const std::string& dir, int port, Options options);
  ~VaultSite();

  // `extra`: more `drvault enrol` options (--encrypt ...).
  void Enrol(const std::string& name, const std::string& key_pub, const std::string& nspace,
             const std::string& rights = "backup,restore",
             const std::vector<std::string>& extra = {});
  void Start();  // returns once the vault listens
  void Kill9();
  void Stop();  // SIGTERM, wait
  bool running() { return process_ && process_->running(); }

  std::string endpoint() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  const std::string& config() const { return config_; }
  const std::string& server_pub() const { return server_pub_; }
  std::string OffsiteClientPub() const;  // the key this vault shows its off-site peer
  std::string RepositoryOf(const std::string& nspace) const;
  std::string Log() const;
  // GET /metrics; "" when the vault does not answer.
  std::string Metrics() const;
  // A value from Metrics(), e.g. Metric("drvault_offsite_lag_bytes{namespace=\"hr\"}"); -1 if
  // absent.
  double Metric(const std::string& name) const;

  // A session with this vault in `nspace` as `key`, made by hand (for
  // requests dragent would never send).
  Result<std::unique_ptr<VaultClient>> Connect(const AgentKey& key,
                                               const std::string& nspace) const;
  // Runs dragent against this vault with `args` after the connection options.
  CommandResult Agent(const AgentKey& key, const std::string& nspace,
                      const std::vector<std::string>& args) const;
  // `via`: another endpoint to reach this vault through (a TcpProxy).
  std::vector<std::string> AgentArgv(const AgentKey& key, const std::string& nspace,
                                     const std::vector<std::string>& args,
                                     const std::string& via = "") const;

 private:
  std::string dir_, config_, server_pub_, log_;
  int port_, metrics_port_;
  Options options_;
  std::unique_ptr<Process> process_;
};

// A TCP relay on loopback between agents and a vault, so a test can cut the
// network (close every connection) while both processes keep running.
class TcpProxy {
 public:
  TcpProxy(int listen_port, int upstream_port);
  ~TcpProxy();
  std::string endpoint() const { return "tcp://127.0.0.1:" + std::to_string(listen_port_); }
  void Cut();  // closes every relayed connection now
  uint64_t bytes_relayed() const { return bytes_.load(); }

 private:
  void Loop();
  int listen_port_, upstream_port_, listen_fd_ = -1;
  std::atomic<bool> stop_{false}, cut_{false};
  std::atomic<uint64_t> bytes_{0};
  std::thread thread_;
};

// Waits up to `seconds` for `done()`; returns whether it happened.
bool WaitFor(double seconds, const std::function<bool()>& done);

}  // namespace dr::test
