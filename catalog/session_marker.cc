#include "catalog/session_marker.h"

#include <signal.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <random>

#include "core/timefmt.h"

namespace dr {

namespace {

std::string ThisHost() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "unknown";
  return name;
}

std::string RandomHex16() {
  std::random_device rd;
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) out += kHex[rd() & 15];
  return out;
}

}  // namespace

std::string MarkerInfo::Describe() const {
  return kind + " on host " + host + " (pid " + std::to_string(pid) + ") since " +
         FormatRfc3339Utc(started_ns);
}

std::string EncodeMarker(const MarkerInfo& info) {
  nlohmann::json j = {{"kind", info.kind},
                      {"host", info.host},
                      {"pid", info.pid},
                      {"started_ns", info.started_ns},
                      {"refreshed_ns", info.refreshed_ns}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<MarkerInfo> DecodeMarker(std::string_view bytes, const std::string& key) {
  auto j = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  auto bad = [&] { return Status::Corruption(key + ": not a session marker"); };
  if (!j.is_object()) return bad();
  MarkerInfo m;
  m.key = key;
  try {
    m.kind = j.at("kind").get<std::string>();
    m.host = j.at("host").get<std::string>();
    m.pid = j.at("pid").get<int64_t>();
    m.started_ns = j.at("started_ns").get<int64_t>();
    m.refreshed_ns = j.at("refreshed_ns").get<int64_t>();
  } catch (const std::exception&) {
    return bad();
  }
  return m;
}

bool MarkerIsDead(const MarkerInfo& m, int64_t now_ns) {
  const int64_t stale_ns = std::chrono::nanoseconds(kMarkerStale).count();
  if (now_ns - m.refreshed_ns > stale_ns) return true;
  if (m.host == ThisHost() && m.pid > 0 && m.pid != ::getpid()) {
    return ::kill(static_cast<pid_t>(m.pid), 0) != 0 && errno == ESRCH;
  }
  return false;
}

Result<std::vector<MarkerInfo>> ListSessionMarkers(ObjectStore* store, int64_t now_ns) {
  ASSIGN_OR_RETURN(auto objects, store->List("sessions/"));
  std::vector<MarkerInfo> out;
  for (const auto& o : objects) {
    auto raw = store->Get(o.key);
    if (!raw.ok()) {
      if (raw.status().IsNotFound()) continue;  // ended while we listed
      return raw.status();
    }
    auto m = DecodeMarker(*raw, o.key);
    if (m.ok()) {
      out.push_back(std::move(m).value());
    } else {
      MarkerInfo unknown;
      unknown.key = o.key;
      unknown.kind = "unreadable";
      unknown.refreshed_ns = now_ns;
      out.push_back(unknown);
    }
  }
  return out;
}

SessionMarker::SessionMarker(ObjectStore* store, MarkerInfo info)
    : store_(store), info_(std::move(info)) {}

Status SessionMarker::Write() {
  const auto now = std::chrono::steady_clock::now();
  info_.refreshed_ns = NowUnixNs();
  RETURN_IF_ERROR(store_->Put(info_.key, EncodeMarker(info_)));
  std::lock_guard l(mu_);
  last_written_ = now;
  return Status::OK();
}

Result<std::unique_ptr<SessionMarker>> SessionMarker::Begin(ObjectStore* store,
                                                            const std::string& kind) {
  MarkerInfo info{"sessions/" + RandomHex16(), kind, ThisHost(), ::getpid(), NowUnixNs(), 0};
  std::unique_ptr<SessionMarker> m(new SessionMarker(store, std::move(info)));
  RETURN_IF_ERROR(m->Write());
  m->refresher_ = std::thread([p = m.get()] { p->RefreshLoop(); });
  return m;
}

Result<std::unique_ptr<SessionMarker>> SessionMarker::Lock(ObjectStore* store,
                                                           const std::string& key,
                                                           const std::string& kind) {
  MarkerInfo info{key, kind, ThisHost(), ::getpid(), NowUnixNs(), NowUnixNs()};
  for (int attempt = 0; attempt < 2; ++attempt) {
    Status s = store->PutIfAbsent(key, EncodeMarker(info));
    if (s.ok()) {
      std::unique_ptr<SessionMarker> m(new SessionMarker(store, info));
      m->last_written_ = std::chrono::steady_clock::now();
      m->refresher_ = std::thread([p = m.get()] { p->RefreshLoop(); });
      return m;
    }
    if (s.code() != Code::kAlreadyExists) return s;
    auto raw = store->Get(key);
    if (!raw.ok() && !raw.status().IsNotFound()) return raw.status();
    if (raw.ok()) {
      auto holder = DecodeMarker(*raw, key);
      if (holder.ok() && !MarkerIsDead(*holder, NowUnixNs())) {
        return Status::AlreadyExists(store->Url() + "/" + key + " is held by " +
                                     holder->Describe());
      }
      if (!holder.ok()) {
        return Status::AlreadyExists(store->Url() + "/" + key +
                                     " exists and is unreadable; remove it if no " + kind +
                                     " is running");
      }
      RETURN_IF_ERROR(store->Delete(key));  // its holder is gone
    }
  }
  return Status::AlreadyExists(store->Url() + "/" + key + " was taken by another " + kind);
}

void SessionMarker::RefreshLoop() {
  std::unique_lock l(mu_);
  while (!cv_.wait_for(l, kMarkerRefresh, [this] { return stopping_; })) {
    if (lost_) return;
    l.unlock();
    // Never write a marker back once a prune removed it: the prune may
    // already rely on this session having ended. A failed refresh is retried
    // next time; if they keep failing, StillValid reports the expiry.
    auto present = store_->Get(info_.key);
    if (present.status().IsNotFound()) {
      l.lock();
      lost_ = true;
      return;
    }
    (void)Write();
    l.lock();
  }
}

Status SessionMarker::StillValid() {
  {
    // A prune declares a marker dead kMarkerStale after its last refresh
    // (by the prune host's clock). Give up well before that, so a process
    // that was stopped or cut off cannot commit after a prune counted on it
    // having ended.
    std::lock_guard l(mu_);
    if (lost_ || std::chrono::steady_clock::now() - last_written_ > kMarkerStale - kMarkerRefresh) {
      return Status::Unavailable("this session's marker " + info_.key +
                                 " was not refreshed in time; a prune may have taken the "
                                 "session for dead; nothing is committed: run it again");
    }
  }
  auto raw = store_->Get(info_.key);
  if (raw.ok()) return Status::OK();
  if (raw.status().IsNotFound()) {
    return Status::Unavailable(
        "this session's marker " + info_.key + " was removed by a prune that took the session " +
        "for dead (not refreshed for " + std::to_string(kMarkerStale.count()) +
        " minutes); nothing is committed: run it again");
  }
  return raw.status();
}

SessionMarker::~SessionMarker() {
  {
    std::lock_guard l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (refresher_.joinable()) refresher_.join();
  (void)store_->Delete(info_.key);
}

}  // namespace dr
