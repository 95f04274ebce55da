#include "catalog/history.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "catalog/format/snapshot.h"
#include "core/timefmt.h"

namespace dr {

namespace {

constexpr char kSnapshotPrefix[] = "snapshots/";

std::string Short(const std::string& id) { return id.substr(0, 16); }

}  // namespace

LogLayout HistoryLayout(const std::string& ns, const std::string& head_path,
                        const std::string& lock_path) {
  return {kHistoryPrefix,
          "history-planted/",
          "dr-history-1",
          "history record",
          head_path,
          lock_path,
          ns,
          "drvault history " + ns};
}

namespace {

// The namespace the first record names ("" when there is none to read).
std::string FirstRecordsNamespace(ObjectStore& store) {
  auto bytes = store.Get(std::string(kHistoryPrefix) + "0000000001");
  if (!bytes.ok() || bytes->size() > (64 << 10)) return "";
  auto j = nlohmann::json::parse(*bytes, nullptr, false);
  if (!j.is_object() || !j.contains("details") || !j["details"].is_object()) return "";
  const auto& d = j["details"];
  return d.contains("namespace") && d["namespace"].is_string() ? d["namespace"].get<std::string>()
                                                               : "";
}

Result<SiteHistory> VerifyOnce(ObjectStore& store, const std::string& key, const std::string& site,
                               const std::string& ns, const LogHead* head) {
  SiteHistory h;
  h.site = site;
  h.nspace = ns.empty() ? FirstRecordsNamespace(store) : ns;
  ASSIGN_OR_RETURN(h.log, ReadSignedLog(store, HistoryLayout(h.nspace), key, head));
  for (const auto& p : h.log.problems) h.problems.push_back(site + ": " + p);
  for (const auto& r : h.log.entries) {
    const std::string digest = r.details.contains("blake2b") && r.details["blake2b"].is_string()
                                   ? r.details["blake2b"].get<std::string>()
                                   : std::string();
    if (r.action == kHistoryAccept) {
      auto [it, added] = h.snapshots.try_emplace(r.subject);
      HistorySnapshot& s = it->second;
      if (added) {
        s = {r.subject, digest, r.seq, r.time_ns, 0};
      } else if (s.digest != digest) {
        // A resent commit or copy is sealed again only with the same bytes.
        h.problems.push_back(site + ": history record " + std::to_string(r.seq) +
                             " accepts snapshot " + Short(r.subject) +
                             " again with other content than record " +
                             std::to_string(s.accepted_seq));
      }
      // Accepted again after a forget: a forget a retention lock refused.
      s.forgotten_seq = 0;
    } else if (r.action == kHistoryForget) {
      auto it = h.snapshots.find(r.subject);
      if (it == h.snapshots.end()) {
        // Forgotten by this vault, but older than its history: nothing to
        // compare, and nothing hidden (the record says so).
        h.snapshots[r.subject] = {r.subject, digest, 0, 0, r.seq};
      } else {
        it->second.forgotten_seq = r.seq;
        if (it->second.digest != digest) {
          h.problems.push_back(site + ": snapshot " + Short(r.subject) +
                               " was edited before the vault forgot it (history record " +
                               std::to_string(r.seq) + " names other content than record " +
                               std::to_string(it->second.accepted_seq) + ")");
        }
      }
    } else if (r.action != "planted-record") {
      h.problems.push_back(site + ": history record " + std::to_string(r.seq) +
                           " has an unknown action '" + r.action + "'");
    }
  }
  ASSIGN_OR_RETURN(auto objects, store.List(kSnapshotPrefix));
  std::map<std::string, bool> stored;
  for (const auto& o : objects) {
    Id id;
    if (!SnapshotIdFromKey(o.key, &id)) continue;  // `check` names stray keys
    const std::string hex = id.Hex();
    stored[hex] = true;
    auto it = h.snapshots.find(hex);
    if (it == h.snapshots.end()) {
      h.problems.push_back(site + ": snapshot " + Short(hex) +
                           " is not in the sealed history (inserted behind the vault's back, or "
                           "committed just before the vault crashed and never resent)");
      continue;
    }
    const HistorySnapshot& s = it->second;
    if (s.forgotten_seq != 0) {
      h.problems.push_back(site + ": snapshot " + Short(hex) + " was forgotten (history record " +
                           std::to_string(s.forgotten_seq) + ") yet is stored (put back)");
      continue;
    }
    auto bytes = store.Get(o.key);
    if (bytes.status().IsNotFound()) {
      stored.erase(hex);  // forgotten while we listed
      continue;
    }
    if (!bytes.ok()) return bytes.status();
    if (ChainDigest(*bytes) != s.digest) {
      h.problems.push_back(site + ": snapshot " + Short(hex) +
                           " differs from what the vault accepted (history record " +
                           std::to_string(s.accepted_seq) + "): edited");
      continue;
    }
    h.present++;
  }
  for (const auto& [id, s] : h.snapshots) {
    if (s.forgotten_seq != 0 || stored.count(id)) continue;
    h.problems.push_back(site + ": snapshot " + Short(id) + " (accepted " +
                         FormatRfc3339Utc(s.accepted_ns) + ", history record " +
                         std::to_string(s.accepted_seq) +
                         ") is gone and no forget was recorded: deleted behind the vault's back");
  }
  return h;
}

}  // namespace

Result<SiteHistory> VerifySiteHistory(ObjectStore& store, const std::string& key,
                                      const std::string& site, const std::string& ns,
                                      const LogHead* head,
                                      std::chrono::milliseconds recheck_after) {
  ASSIGN_OR_RETURN(SiteHistory first, VerifyOnce(store, key, site, ns, head));
  if (first.problems.empty()) return first;
  // A commit or forget halfway through is done after a pause; tampering
  // stays. Only what both readings find is reported.
  std::this_thread::sleep_for(recheck_after);
  ASSIGN_OR_RETURN(SiteHistory second, VerifyOnce(store, key, site, first.nspace, head));
  std::vector<std::string> lasting;
  for (const auto& p : second.problems)
    if (std::find(first.problems.begin(), first.problems.end(), p) != first.problems.end())
      lasting.push_back(p);
  second.problems = std::move(lasting);
  return second;
}

size_t SiteHistory::forgotten() const {
  size_t n = 0;
  for (const auto& [id, s] : snapshots) n += s.forgotten_seq != 0;
  return n;
}

HistoryComparison CompareHistories(const SiteHistory& source, const SiteHistory& copy) {
  HistoryComparison c;
  for (const auto& [id, s] : copy.snapshots) {
    if (s.accepted_seq == 0) continue;  // forgotten there, older than its history
    auto it = source.snapshots.find(id);
    if (it == source.snapshots.end() || it->second.accepted_seq == 0) {
      c.divergences.push_back(copy.site + " accepted snapshot " + Short(id) + " (history record " +
                              std::to_string(s.accepted_seq) + "), which " + source.site +
                              "'s history never accepted (inserted at " + copy.site + ", or " +
                              source.site + "'s history was cut short)");
    } else if (it->second.digest != s.digest) {
      c.divergences.push_back("snapshot " + Short(id) + " differs between " + source.site +
                              " (history record " + std::to_string(it->second.accepted_seq) +
                              ") and " + copy.site + " (history record " +
                              std::to_string(s.accepted_seq) + ")");
    }
  }
  std::vector<const HistorySnapshot*> missing;
  for (const auto& [id, s] : source.snapshots) {
    if (s.accepted_seq == 0) continue;
    auto it = copy.snapshots.find(id);
    if (it != copy.snapshots.end() && it->second.accepted_seq != 0) continue;
    // Forgotten at the source before it was copied: never on its way.
    if (s.forgotten_seq != 0) continue;
    missing.push_back(&s);
  }
  std::sort(missing.begin(), missing.end(),
            [](const auto* a, const auto* b) { return a->accepted_seq < b->accepted_seq; });
  for (const auto* s : missing) {
    c.lagging.push_back("snapshot " + Short(s->id) + " (accepted at " + source.site + " " +
                        FormatRfc3339Utc(s->accepted_ns) + ") is not yet at " + copy.site);
  }
  c.diverged = !c.divergences.empty();
  return c;
}

}  // namespace dr
