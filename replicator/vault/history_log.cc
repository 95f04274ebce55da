#include "replicator/vault/history_log.h"

#include <filesystem>

#include "catalog/format/snapshot.h"
#include "catalog/history.h"
#include "core/env/file_io.h"
#include "core/timefmt.h"
#include "replicator/vault/audit_log.h"
#include "replicator/vault/enrolment.h"
#include "replicator/vault/vault_log.h"

namespace dr {

Result<std::unique_ptr<NamespaceHistory>> NamespaceHistory::Open(const VaultConfig& config,
                                                                 const std::string& ns) {
  ASSIGN_OR_RETURN(std::string url, NamespaceRepositoryUrl(config.repository, ns));
  ASSIGN_OR_RETURN(auto store, OpenObjectStore(url));
  ASSIGN_OR_RETURN(SigningKey key, SigningKey::Load(VaultSigningKeyPath(config)));
  const std::string dir = config.state_dir + "/history";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("create " + dir + ": " + ec.message());
  const std::string base = dir + "/" + ns;
  auto log = std::make_unique<SignedLog>(
      std::move(store), HistoryLayout(ns, base + ".head", base + ".lock"), std::move(key));
  return std::unique_ptr<NamespaceHistory>(
      new NamespaceHistory(std::move(log), ns, base + ".pending"));
}

Status NamespaceHistory::Append(const std::string& actor, const char* action,
                                const std::string& id_hex, const std::string& digest,
                                nlohmann::json details) {
  LogRecord r = NewLogRecord(actor, action, id_hex, std::move(details));
  r.details["blake2b"] = digest;
  r.details["namespace"] = ns_;
  return log_->Append(std::move(r))
      .status()
      .WithContext("history of namespace " + ns_ + ", snapshot " + id_hex.substr(0, 16));
}

Status NamespaceHistory::Begin(const std::string& actor, const std::string& id_hex,
                               const std::string& bytes) {
  if (Status earlier = Settle(); !earlier.ok()) {
    return earlier.WithContext("namespace " + ns_ +
                               ": the seal of an earlier snapshot could not be settled, so no "
                               "snapshot is stored until it is");
  }
  const nlohmann::json pending = {
      {"actor", actor}, {"snapshot", id_hex}, {"blake2b", ChainDigest(bytes)}};
  return WriteFileAtomically(pending_path_, pending.dump() + "\n")
      .WithContext("journaling the seal of snapshot " + id_hex.substr(0, 16));
}

Status NamespaceHistory::Settle() {
  auto text = ReadWholeFile(pending_path_);
  if (text.status().IsNotFound()) return Status::OK();
  if (!text.ok()) return text.status();
  auto j = nlohmann::json::parse(*text, nullptr, false);
  auto str = [&](const char* k) {
    return j.is_object() && j.contains(k) && j[k].is_string() ? j[k].get<std::string>()
                                                              : std::string();
  };
  const std::string id_hex = str("snapshot"), digest = str("blake2b"), actor = str("actor");
  Id id;
  if (!SnapshotIdFromKey("snapshots/" + id_hex, &id) || digest.empty() || actor.empty())
    return Status::Corruption(pending_path_ + ": not a pending seal (remove it once looked at)");
  auto stored = log_->store().Get(SnapshotKey(id));
  if (stored.ok() && ChainDigest(*stored) == digest) {
    // A crash after the seal and before the journal's removal seals it
    // twice, with the same digest: verify-history takes that as one.
    RETURN_IF_ERROR(Append(actor, kHistoryAccept, id_hex, digest, nlohmann::json::object()));
  } else if (stored.ok()) {
    LogEvent("seal_refused", {{"namespace", ns_},
                              {"snapshot", id_hex},
                              {"why", "stored with other bytes than the vault wrote"}});
  } else if (!stored.status().IsNotFound()) {
    return stored.status().WithContext("pending seal of snapshot " + id_hex.substr(0, 16));
  }  // not found: never written
  std::error_code ec;
  std::filesystem::remove(pending_path_, ec);
  if (ec) return Status::IOError("remove " + pending_path_ + ": " + ec.message());
  return Status::OK();
}

Status NamespaceHistory::Forget(const std::string& id_hex, const std::string& bytes,
                                nlohmann::json details) {
  return Append("vault", kHistoryForget, id_hex, ChainDigest(bytes), std::move(details));
}

}  // namespace dr
