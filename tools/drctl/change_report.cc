// What drctl says about a local backup's change signals (drctl backup,
// drctl run): the vault says it for backups sent to it.
#include <cstdio>

#include "core/timefmt.h"
#include "policies/change_watch.h"
#include "tools/drctl/cli.h"

namespace dr::cli {

std::optional<ChangeRecord> WatchLocalBackup(Repository& repo, const Snapshot& snapshot) {
  if (snapshot.block) return std::nullopt;
  auto records = WatchSnapshot(repo, snapshot, NowUnixNs());
  if (!records.ok() || records->empty()) {
    std::fprintf(stderr, "warning: the change of snapshot %s was not weighed: %s\n",
                 snapshot.ShortId().c_str(), records.status().message().c_str());
    return std::nullopt;
  }
  // Earlier snapshots weighed first (a run stopped before weighing them)
  // are reported too.
  for (const ChangeRecord& r : *records) {
    if (!r.verdict.suspicious) continue;
    std::fprintf(stderr, "warning: snapshot %s looks like ransomware at work:\n",
                 r.snapshot.Hex().substr(0, 8).c_str());
    for (const auto& why : r.verdict.reasons) std::fprintf(stderr, "  %s\n", why.c_str());
    if (r.locked) {
      std::fprintf(stderr, "  snapshot %s, the last before it, is locked until %s\n",
                   r.locked->Hex().substr(0, 8).c_str(),
                   FormatRfc3339Utc(r.locked_until_ns).c_str());
    }
  }
  return records->back();
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
