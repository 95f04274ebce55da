#include "replicator/vault/history_log.h"

#include <filesystem>

#include "catalog/history.h"
#include "core/timefmt.h"
#include "replicator/vault/audit_log.h"
#include "replicator/vault/enrolment.h"

namespace dr {

Result<std::unique_ptr<SignedLog>> OpenHistoryLog(const VaultConfig& config,
                                                  const std::string& ns) {
  ASSIGN_OR_RETURN(std::string url, NamespaceRepositoryUrl(config.repository, ns));
  ASSIGN_OR_RETURN(auto store, OpenObjectStore(url));
  ASSIGN_OR_RETURN(SigningKey key, SigningKey::Load(VaultSigningKeyPath(config)));
  const std::string dir = config.state_dir + "/history";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("create " + dir + ": " + ec.message());
  return std::make_unique<SignedLog>(
      std::move(store), HistoryLayout(dir + "/" + ns + ".head", dir + "/" + ns + ".lock"),
      std::move(key));
}

namespace {

Status Seal(SignedLog& log, const std::string& actor, const char* action, const std::string& id_hex,
            const std::string& bytes, nlohmann::json details) {
  LogRecord r;
  r.time_ns = NowUnixNs();
  r.actor = actor;
  r.action = action;
  r.subject = id_hex;
  r.details = std::move(details);
  r.details["blake2b"] = ChainDigest(bytes);
  return log.Append(std::move(r)).status();
}

}  // namespace

Status SealAccepted(SignedLog& log, const std::string& actor, const std::string& id_hex,
                    const std::string& bytes) {
  return Seal(log, actor, kHistoryAccept, id_hex, bytes, nlohmann::json::object());
}

Status SealAgain(SignedLog& log, const std::string& actor, const std::string& id_hex,
                 const std::string& bytes) {
  // Rare (an answer lost), so reading the whole log is fine.
  ASSIGN_OR_RETURN(LogReading r, log.Read());
  for (const auto& e : r.entries)
    if (e.action == kHistoryAccept && e.subject == id_hex) return Status::OK();
  return SealAccepted(log, actor, id_hex, bytes);
}

Status SealForget(SignedLog& log, const std::string& id_hex, const std::string& bytes,
                  nlohmann::json details) {
  return Seal(log, "vault", kHistoryForget, id_hex, bytes, std::move(details));
}

}  // namespace dr
