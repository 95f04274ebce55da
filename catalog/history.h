// The sealed history of a namespace's snapshots (docs/format/history.md):
// the vault that accepts a snapshot (the same-city vault at a commit, the
// off-site vault when its peer copies one in) appends an "accept" record
// naming the snapshot and the BLAKE2b-256 digest of its stored bytes to a
// signed log (catalog/signed_log.h) in the namespace's repository, and a
// "forget" record before its retention deletes one. Each record names the
// digest of the one before, so each snapshot's seal carries its
// predecessor's. Checking a site's snapshots against its history names
// every snapshot deleted, edited or inserted behind the vault's back;
// comparing two sites' histories tells a lagging off-site from a diverged
// one.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "catalog/signed_log.h"
#include "catalog/store/object_store.h"
#include "core/status.h"

namespace dr {

inline constexpr char kHistoryPrefix[] = "history/";
inline constexpr char kHistoryAccept[] = "accept";
inline constexpr char kHistoryForget[] = "forget";

// The layout of namespace `ns`'s history log (every record names the
// namespace); the head and lock files are the writer's (empty for a reader).
LogLayout HistoryLayout(const std::string& ns, const std::string& head_path = "",
                        const std::string& lock_path = "");

// One snapshot as a site's history knows it.
struct HistorySnapshot {
  std::string id;      // hex
  std::string digest;  // BLAKE2b-256 of the stored snapshot object, as accepted
  uint64_t accepted_seq = 0;
  int64_t accepted_ns = 0;
  uint64_t forgotten_seq = 0;  // 0: not forgotten
};

struct SiteHistory {
  std::string site;    // how problems name the site ("same-city", a URL)
  std::string nspace;  // whose history it is
  LogReading log;      // the records, and the problems of the chain itself
  std::map<std::string, HistorySnapshot> snapshots;  // by id, every one ever accepted
  std::vector<std::string> problems;  // the chain's, then every snapshot not as sealed
  size_t present = 0;                 // snapshots stored that check out
  size_t forgotten() const;           // snapshots the vault forgot
};

// Reads the history log at `store` (signed by `key`; empty: whichever key
// signed the first record) and checks every stored snapshot against it:
// a snapshot the history never accepted (inserted), one whose bytes differ
// from the sealed digest (edited), one accepted and not forgotten yet gone
// (deleted), one forgotten yet present. An error only when the store cannot
// be read. `ns`: the namespace whose history it must be (empty: the one the
// first record names, in `SiteHistory::nspace`). With `head` (the
// writer's, drvault history), records cut off the end are named too.
// Read while its vault works, a check can see a commit or a forget halfway:
// what is found is checked again after a pause, and only what is still
// wrong is reported.
Result<SiteHistory> VerifySiteHistory(
    ObjectStore& store, const std::string& key, const std::string& site, const std::string& ns = "",
    const LogHead* head = nullptr,
    std::chrono::milliseconds recheck_after = std::chrono::seconds(2));

struct HistoryComparison {
  bool diverged = false;
  std::vector<std::string> divergences;  // what one site holds that the other never had
  std::vector<std::string> lagging;      // accepted at the first site, not yet at the second
};

// Compares the history of a site that feeds another (`source`, same-city)
// with the history of the one it feeds (`copy`, off-site): the copy
// diverged when it accepted a snapshot the source never accepted or with
// other bytes; it lags when it lacks snapshots the source holds (or held).
HistoryComparison CompareHistories(const SiteHistory& source, const SiteHistory& copy);

}  // namespace dr
