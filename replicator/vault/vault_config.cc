#include "replicator/vault/vault_config.h"

#include "policies/duration.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <iterator>

#include "replicator/wire/curve_keys.h"

namespace dr {

Result<VaultConfig> LoadVaultConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("vault config " + path + ": cannot be read");
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  return ParseVaultConfig(text, path);
}

namespace {

// The fields of a parsed document. yaml-cpp throws on a conversion or a
// subscript the node's type does not allow; the checks below refuse those
// shapes first, and ParseVaultConfig turns any exception left into an error.
Result<VaultConfig> FromYaml(const YAML::Node& root, const std::string& path,
                             const PublicKeyResolver& public_key_from_arg) {
  if (!root.IsMap()) return Status::InvalidArgument("vault config " + path + ": not a mapping");
  VaultConfig c;
  auto field = [&](const YAML::Node& parent, const char* name, const std::string& where,
                   bool required, std::string* out) -> Status {
    const YAML::Node n = parent[name];
    if (!n) {
      return required ? Status::InvalidArgument("vault config " + path + ": " + where + name +
                                                ": missing")
                      : Status::OK();
    }
    if (!n.IsScalar())
      return Status::InvalidArgument("vault config " + path + ": " + where + name +
                                     ": not a string");
    *out = n.as<std::string>();
    // `repository: ""` (or a bare tag) would put every namespace at /NS.
    if (required && out->empty())
      return Status::InvalidArgument("vault config " + path + ": " + where + name + ": empty");
    return Status::OK();
  };
  static const char* kKnown[] = {"listen",  "state", "repository",  "metrics",    "credit_mib",
                                 "offsite", "site",  "prune_every", "prune_grace"};
  for (const auto& kv : root) {
    if (!kv.first.IsScalar())  // a null, sequence or mapping key ("? [a]: b")
      return Status::InvalidArgument("vault config " + path + ": a field name is not a string");
    std::string key = kv.first.as<std::string>();
    if (std::find(std::begin(kKnown), std::end(kKnown), key) == std::end(kKnown))
      return Status::InvalidArgument("vault config " + path + ": unknown field '" + key + "'");
  }
  RETURN_IF_ERROR(field(root, "listen", "", true, &c.listen));
  RETURN_IF_ERROR(field(root, "state", "", true, &c.state_dir));
  RETURN_IF_ERROR(field(root, "repository", "", true, &c.repository));
  RETURN_IF_ERROR(field(root, "metrics", "", false, &c.metrics));
  std::string site = "same-city";
  RETURN_IF_ERROR(field(root, "site", "", false, &site));
  if (site == "off-site") {
    c.site = VaultSiteKind::kOffsite;
  } else if (site != "same-city") {
    return Status::InvalidArgument("vault config " + path +
                                   ": site: must be same-city or off-site, not '" + site + "'");
  }
  std::string prune_every;
  RETURN_IF_ERROR(field(root, "prune_every", "", false, &prune_every));
  if (prune_every == "off") {
    c.prune_every_s = 0;
  } else if (!prune_every.empty()) {
    auto secs = ParseDuration(prune_every);
    if (!secs.ok() || *secs < 1)
      return Status::InvalidArgument("vault config " + path +
                                     ": prune_every: must be a duration such as 24h or 30m, or "
                                     "off, not '" +
                                     prune_every + "'");
    c.prune_every_s = *secs;
  }
  std::string prune_grace;
  RETURN_IF_ERROR(field(root, "prune_grace", "", false, &prune_grace));
  if (!prune_grace.empty()) {
    auto secs = prune_grace == "0" ? Result<int64_t>(int64_t{0}) : ParseDuration(prune_grace);
    if (!secs.ok() || *secs < 0)
      return Status::InvalidArgument("vault config " + path +
                                     ": prune_grace: must be a duration such as 24h or 0, not '" +
                                     prune_grace + "'");
    c.prune_grace_s = *secs;
  }
  if (root["credit_mib"]) {
    try {
      int mib = root["credit_mib"].as<int>();
      if (mib < 8 || mib > 4096) throw YAML::Exception(YAML::Mark(), "");
      c.credit_bytes = static_cast<uint64_t>(mib) << 20;
    } catch (const YAML::Exception&) {
      return Status::InvalidArgument("vault config " + path +
                                     ": credit_mib: must be a whole number from 8 to 4096");
    }
  }
  if (const YAML::Node o = root["offsite"]) {
    if (!o.IsMap())
      return Status::InvalidArgument("vault config " + path + ": offsite: not a mapping");
    OffsiteConfig off;
    std::string key, interval;
    RETURN_IF_ERROR(field(o, "endpoint", "offsite.", true, &off.endpoint));
    RETURN_IF_ERROR(field(o, "server_key", "offsite.", true, &key));
    RETURN_IF_ERROR(field(o, "interval_s", "offsite.", false, &interval));
    auto pub = public_key_from_arg ? public_key_from_arg(key) : PublicKeyFromArg(key);
    if (!pub.ok()) return pub.status().WithContext("vault config " + path + ": offsite.server_key");
    off.server_key = *pub;
    if (!interval.empty()) {
      try {
        off.interval_s = std::stoi(interval);
      } catch (...) {
        off.interval_s = 0;
      }
      if (off.interval_s < 1)
        return Status::InvalidArgument("vault config " + path +
                                       ": offsite.interval_s: must be a whole number >= 1");
    }
    c.offsite = off;
  }
  for (const std::string* ep : {&c.listen, &c.metrics}) {
    if (!ep->empty() && ep->rfind("tcp://", 0) != 0 && ep->rfind("ipc://", 0) != 0)
      return Status::InvalidArgument("vault config " + path + ": endpoint " + *ep +
                                     " must start with tcp:// or ipc://");
  }
  return c;
}

}  // namespace

Result<VaultConfig> ParseVaultConfig(std::string_view text, const std::string& path,
                                     const PublicKeyResolver& public_key_from_arg) {
  try {
    return FromYaml(YAML::Load(std::string(text)), path, public_key_from_arg);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument("vault config " + path + ": " + e.what());
  }
}

Result<std::string> NamespaceRepositoryUrl(const std::string& base, const std::string& ns) {
  if (base.rfind("rados://", 0) == 0) {
    const size_t q = base.find('?');
    std::string head = base.substr(0, q);
    const std::string query = q == std::string::npos ? "" : base.substr(q);
    const size_t slash = head.find('/', 8);
    if (slash == std::string::npos) return head + "/" + ns + query;
    return head + "." + ns + query;  // rados://POOL/PREFIX -> namespace PREFIX.ns
  }
  std::string path = base.rfind("dir://", 0) == 0 ? base.substr(6) : base;
  if (path.find("://") != std::string::npos)
    return Status::InvalidArgument("vault repository " + base + ": unknown scheme");
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return "dir://" + path + "/" + ns;
}

}  // namespace dr
