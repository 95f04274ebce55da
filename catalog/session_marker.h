// SessionMarker: tells a concurrent prune that a process is using the
// repository, so it waits for this session to end before deleting what the
// session may have relied on (docs/design.md, "Prune while backups run").
//
// A marker is a small object "sessions/<16 hex>" (or, for the one prune
// allowed at a time, "locks/prune") holding who and since when. A thread
// rewrites it every kMarkerRefresh; prune treats a marker not rewritten for
// kMarkerStale as the remains of a dead process and removes it, and the
// owner then sees it gone (StillValid) and must not commit what it wrote.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "catalog/store/object_store.h"
#include "core/status.h"

namespace dr {

inline constexpr std::chrono::minutes kMarkerRefresh{5};
inline constexpr std::chrono::minutes kMarkerStale{30};

struct MarkerInfo {
  std::string key;
  std::string kind;  // "backup", "restore", "check", "prune", "vault"
  std::string host;
  int64_t pid = 0;
  int64_t started_ns = 0, refreshed_ns = 0;
  std::string Describe() const;  // "backup on host h (pid 12) since 2026-..."
};

class SessionMarker {
 public:
  // Writes "sessions/<random>" and starts refreshing it.
  static Result<std::unique_ptr<SessionMarker>> Begin(ObjectStore* store, const std::string& kind);
  // Creates `key` only if absent (an exclusive lock). When it exists and is
  // stale, or was left by a dead process of this host, it is taken over;
  // otherwise AlreadyExists naming its holder.
  static Result<std::unique_ptr<SessionMarker>> Lock(ObjectStore* store, const std::string& key,
                                                     const std::string& kind);
  // Stops refreshing and removes the marker.
  ~SessionMarker();

  const std::string& key() const { return info_.key; }
  // OK while the marker is still in the store (no prune declared it dead).
  Status StillValid();

 private:
  SessionMarker(ObjectStore* store, MarkerInfo info);
  Status Write();
  void RefreshLoop();

  ObjectStore* store_;
  MarkerInfo info_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool lost_ = false;  // a prune removed the marker
  std::chrono::steady_clock::time_point last_written_;
  std::thread refresher_;
};

std::string EncodeMarker(const MarkerInfo& info);
Result<MarkerInfo> DecodeMarker(std::string_view bytes, const std::string& key);
// Whether `m` belongs to a process that is gone: not refreshed for
// kMarkerStale, or of this host with a pid that no longer exists.
bool MarkerIsDead(const MarkerInfo& m, int64_t now_ns);
// Every "sessions/" marker. One that cannot be decoded (never written by
// this code: Put is atomic) is returned with kind "unreadable" and the
// current time as refreshed_ns, so it counts as live: prune waits and names
// it rather than guessing.
Result<std::vector<MarkerInfo>> ListSessionMarkers(ObjectStore* store, int64_t now_ns);

}  // namespace dr
