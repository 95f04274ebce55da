// What drctl says about a local backup's change signals (drctl backup,
// drctl run): the vault says it for backups sent to it.
#include <cstdio>

#include "core/timefmt.h"
#include "policies/change_watch.h"
#include "tools/drctl/cli.h"

namespace dr::cli {

std::optional<ChangeRecord> WatchLocalBackup(Repository& repo, const Snapshot& snapshot) {
  if (snapshot.block) return std::nullopt;
  auto record = WatchSnapshot(repo, snapshot, NowUnixNs());
  if (!record.ok()) {
    std::fprintf(stderr, "warning: the change of snapshot %s was not weighed: %s\n",
                 snapshot.ShortId().c_str(), record.status().message().c_str());
    return std::nullopt;
  }
  if (record->verdict.suspicious) {
    std::fprintf(stderr, "warning: snapshot %s looks like ransomware at work:\n",
                 snapshot.ShortId().c_str());
    for (const auto& r : record->verdict.reasons) std::fprintf(stderr, "  %s\n", r.c_str());
    if (record->locked) {
      std::fprintf(stderr, "  snapshot %s, the last before it, is locked until %s\n",
                   record->locked->Hex().substr(0, 8).c_str(),
                   FormatRfc3339Utc(record->locked_until_ns).c_str());
    }
  }
  return *record;
}

nlohmann::json ChangeRecordJson(const ChangeRecord& r) {
  nlohmann::json j = ChangeSignalsJson(r.signals);
  j["base"] = r.base ? nlohmann::json(r.base->Hex()) : nlohmann::json();
  j["suspicious"] = r.verdict.suspicious;
  j["reasons"] = r.verdict.reasons;
  if (r.locked) {
    j["locked"] = r.locked->Hex();
    j["locked_until"] = FormatRfc3339Utc(r.locked_until_ns);
  }
  return j;
}

}  // namespace dr::cli
