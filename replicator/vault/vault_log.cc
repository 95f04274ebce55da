#include "replicator/vault/vault_log.h"

#include <cstdio>
#include <mutex>

#include "core/timefmt.h"

namespace dr {

void LogEvent(const std::string& event, nlohmann::json fields) {
  static std::mutex mu;
  nlohmann::json line = {{"time", FormatRfc3339Utc(NowUnixNs())}, {"event", event}};
  line.update(fields);
  const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::lock_guard l(mu);
  std::fprintf(stderr, "%s\n", text.c_str());
  std::fflush(stderr);
}

}  // namespace dr
