#include "tests/vault_harness.h"

#include <gtest/gtest.h>

#include "catalog/store/object_store.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "replicator/vault/vault_config.h"
#include "replicator/wire/curve_keys.h"

namespace dr::test {

// Below 32768, where Linux takes no ephemeral ports for outgoing connections.
int TestPort(int offset) { return 20000 + static_cast<int>((::getpid() * 8) % 12000) + offset; }

std::vector<std::string> StoredKeys(const std::string& url, const std::string& prefix) {
  std::vector<std::string> keys;
  auto store = OpenObjectStore(url);
  if (!store.ok()) {
    ADD_FAILURE() << "open " << url << ": " << store.status().ToString();
    return keys;
  }
  auto list = (*store)->List(prefix);
  if (!list.ok() && !list.status().IsNotFound())
    ADD_FAILURE() << "list " << url << "/" << prefix << ": " << list.status().ToString();
  if (list.ok())
    for (const auto& o : *list) keys.push_back(o.key);
  std::sort(keys.begin(), keys.end());
  return keys;
}

uint64_t StoredPackBytes(const std::string& url) {
  uint64_t total = 0;
  auto store = OpenObjectStore(url);
  if (!store.ok()) return 0;
  auto list = (*store)->List("data/");
  if (list.ok())
    for (const auto& o : *list) total += o.size;
  return total;
}

std::string LiveSessionMarkers(const std::string& url) {
  std::string out;
  auto store = OpenObjectStore(url);
  if (!store.ok()) return out;
  auto live = (*store)->List("sessions/");
  if (!live.ok()) return out;
  for (const auto& o : *live) {
    auto text = (*store)->Get(o.key);
    std::string line = text.ok() ? *text : o.key;
    while (!line.empty() && line.back() == '\n') line.pop_back();
    out += line + "\n";
  }
  return out;
}

bool WaitFor(double seconds, const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

AgentKey MakeAgentKey(const std::string& dir, const std::string& name) {
  AgentKey k{dir + "/" + name + ".key", dir + "/" + name + ".key.pub"};
  auto r = RunProgram({DRVAULT_PATH, "keygen", "--out", k.key_file, "--comment", name});
  if (r.exit_code != 0) throw std::runtime_error("keygen: " + r.err);
  return k;
}

VaultSite::VaultSite(const std::string& dir, int port, Options options)
    : dir_(dir),
      config_(dir + "/vault.yaml"),
      server_pub_(dir + "/server.pub"),
      log_(dir + "/vault.log"),
      port_(port),
      metrics_port_(port + 1),
      options_(std::move(options)) {
  std::ostringstream c;
  c << "listen: tcp://127.0.0.1:" << port_ << "\n"
    << "state: " << dir_ << "/state\n"
    << "repository: " << options_.repository << "\n"
    << "metrics: tcp://127.0.0.1:" << metrics_port_ << "\n"
    << "credit_mib: " << options_.credit_mib << "\n";
  if (!options_.site.empty()) c << "site: " << options_.site << "\n";
  if (!options_.offsite_endpoint.empty()) {
    c << "offsite:\n  endpoint: " << options_.offsite_endpoint
      << "\n  server_key: " << options_.offsite_server_pub << "\n  interval_s: 1\n";
  }
  c << options_.extra_config;
  WriteFile(config_, c.str());
  auto r = RunProgram({DRVAULT_PATH, "-c", config_, "init"});
  if (r.exit_code != 0) throw std::runtime_error("drvault init: " + r.err);
  r = RunProgram({DRVAULT_PATH, "-c", config_, "server-key", "--out", server_pub_});
  if (r.exit_code != 0) throw std::runtime_error("drvault server-key: " + r.err);
}

VaultSite::~VaultSite() { process_.reset(); }

void VaultSite::Enrol(const std::string& name, const std::string& key_pub,
                      const std::string& nspace, const std::string& rights,
                      const std::vector<std::string>& extra) {
  std::vector<std::string> argv{DRVAULT_PATH, "-c",    config_,       "enrol", "--name",   name,
                                "--key",      key_pub, "--namespace", nspace,  "--rights", rights};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto r = RunProgram(argv);
  if (r.exit_code != 0) throw std::runtime_error("drvault enrol: " + r.err);
}

void VaultSite::Start() {
  std::vector<std::string> argv;
  if (!options_.env.empty()) {
    // env(1) execs drvault in place: the pid signalled is the vault's.
    argv.push_back("/usr/bin/env");
    argv.insert(argv.end(), options_.env.begin(), options_.env.end());
  }
  argv.insert(argv.end(), {DRVAULT_PATH, "-c", config_, "serve"});
  process_ = std::make_unique<Process>(argv, log_);
  if (!WaitFor(20, [&] { return !Metrics().empty() || !process_->running(); }) ||
      !process_->running())
    throw std::runtime_error("vault did not start: " + Log());
}

void VaultSite::Kill9() {
  process_->Signal(SIGKILL);
  process_->Wait();
}

void VaultSite::Stop() {
  process_->Signal(SIGTERM);
  process_->Wait();
}

std::string VaultSite::OffsiteClientPub() const {
  auto r = RunProgram({DRVAULT_PATH, "-c", config_, "offsite-key"});
  std::string key = r.out.substr(0, r.out.find('\n'));
  std::string path = dir_ + "/offsite-client.pub";
  WriteFile(path, "public-key = \"" + key + "\"\n");
  return path;
}

std::string VaultSite::RepositoryOf(const std::string& nspace) const {
  return *NamespaceRepositoryUrl(options_.repository, nspace);
}

std::string VaultSite::Log() const { return ReadFile(log_); }

std::string VaultSite::Metrics() const {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(metrics_port_));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
    if (::write(fd, req, sizeof req - 1) == sizeof req - 1) {
      char buf[65536];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  auto body = out.find("\r\n\r\n");
  return body == std::string::npos ? "" : out.substr(body + 4);
}

double VaultSite::Metric(const std::string& name) const {
  std::istringstream in(Metrics());
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return -1;
}

std::vector<std::string> VaultSite::AgentArgv(const AgentKey& key, const std::string& nspace,
                                              const std::vector<std::string>& args,
                                              const std::string& via) const {
  std::vector<std::string> argv{DRAGENT_PATH,  "--vault",      via.empty() ? endpoint() : via,
                                "--namespace", nspace,         "--key",
                                key.key_file,  "--server-key", server_pub_};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

Result<std::unique_ptr<VaultClient>> VaultSite::Connect(const AgentKey& key,
                                                        const std::string& nspace) const {
  ASSIGN_OR_RETURN(CurveKeyPair keys, ReadKeyFile(key.key_file));
  ASSIGN_OR_RETURN(std::string server, PublicKeyFromArg(server_pub_));
  return VaultClient::Connect(VaultAddress{endpoint(), nspace, server, keys, "hand-made"});
}

CommandResult VaultSite::Agent(const AgentKey& key, const std::string& nspace,
                               const std::vector<std::string>& args) const {
  return RunProgram(AgentArgv(key, nspace, args));
}

TcpProxy::TcpProxy(int listen_port, int upstream_port)
    : listen_port_(listen_port), upstream_port_(upstream_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(listen_port_));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(listen_fd_, 16) != 0)
    throw std::runtime_error("proxy cannot listen on " + std::to_string(listen_port_));
  thread_ = std::thread([this] { Loop(); });
}

TcpProxy::~TcpProxy() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
}

void TcpProxy::Cut() { cut_ = true; }

void TcpProxy::Loop() {
  std::vector<std::pair<int, int>> pairs;  // (client, upstream)
  char buf[1 << 16];
  while (!stop_) {
    if (cut_.exchange(false)) {
      for (auto [c, u] : pairs) {
        ::close(c);
        ::close(u);
      }
      pairs.clear();
    }
    std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
    for (auto [c, u] : pairs) {
      fds.push_back({c, POLLIN, 0});
      fds.push_back({u, POLLIN, 0});
    }
    if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
    const size_t polled = pairs.size();  // a pair accepted below has no pollfd yet
    if (fds[0].revents & POLLIN) {
      int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      int u = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(upstream_port_));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (c >= 0 && ::connect(u, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
        pairs.push_back({c, u});
      } else {
        if (c >= 0) ::close(c);
        ::close(u);
      }
    }
    std::vector<size_t> dead;
    for (size_t i = 0; i < polled; ++i) {
      for (int side = 0; side < 2; ++side) {
        const pollfd& p = fds[1 + 2 * i + side];
        if (!(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
        int from = side ? pairs[i].second : pairs[i].first;
        int to = side ? pairs[i].first : pairs[i].second;
        ssize_t n = ::read(from, buf, sizeof buf);
        bool ok = n > 0;
        for (ssize_t off = 0; ok && off < n;) {
          ssize_t w = ::write(to, buf + off, static_cast<size_t>(n - off));
          if (w <= 0)
            ok = false;
          else
            off += w;
        }
        if (ok) bytes_ += static_cast<uint64_t>(n);
        if (!ok && (dead.empty() || dead.back() != i)) dead.push_back(i);
      }
    }
    for (auto it = dead.rbegin(); it != dead.rend(); ++it) {
      ::close(pairs[*it].first);
      ::close(pairs[*it].second);
      pairs.erase(pairs.begin() + static_cast<long>(*it));
    }
  }
  for (auto [c, u] : pairs) {
    ::close(c);
    ::close(u);
  }
}

}  // namespace dr::test
