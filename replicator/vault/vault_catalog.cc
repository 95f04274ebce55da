#include "replicator/vault/vault_catalog.h"

#include <chrono>
#include <filesystem>

#include "catalog/index/catalog.h"
#include "catalog/index/catalog_query.h"
#include "catalog/repository.h"
#include "catalog/store/object_store.h"
#include "replicator/vault/agent_registry.h"
#include "replicator/vault/namespace_keys.h"
#include "replicator/vault/vault_log.h"

namespace dr {

VaultCatalog::VaultCatalog(VaultConfig config)
    : config_(std::move(config)), thread_([this] { Loop(); }) {}

VaultCatalog::~VaultCatalog() {
  {
    std::lock_guard l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void VaultCatalog::Nudge(const std::string& ns) {
  {
    std::lock_guard l(mu_);
    pending_.insert(ns);
  }
  cv_.notify_all();
}

std::string VaultCatalog::FileOf(const std::string& ns) const {
  return config_.state_dir + "/catalog/" + ns + ".db";
}

const char* VaultCatalog::Site() const {
  return config_.site == VaultSiteKind::kOffsite ? "off-site" : "same-city";
}

Result<std::string> VaultCatalog::Answer(const std::string& ns, const std::string& request) {
  if (!IsValidNamespace(ns)) return Status::InvalidArgument("no namespace " + ns);
  if (!std::filesystem::exists(FileOf(ns))) {
    ASSIGN_OR_RETURN(std::string url, NamespaceRepositoryUrl(config_.repository, ns));
    ASSIGN_OR_RETURN(auto store, OpenObjectStore(url));
    if (!store->Size("config").ok())
      return Status::NotFound("namespace " + ns + " has no snapshots at this vault yet");
    Nudge(ns);
    return Status::Unavailable("the catalog of namespace " + ns +
                               " is being built; ask again in a moment");
  }
  ASSIGN_OR_RETURN(auto catalog, Catalog::Open(FileOf(ns)));
  return AnswerCatalogRequest(*catalog, request);
}

void VaultCatalog::Loop() {
  std::unique_lock l(mu_);
  while (true) {
    cv_.wait(l, [this] { return stop_ || !pending_.empty(); });
    if (stop_) return;
    const std::string ns = *pending_.begin();
    pending_.erase(pending_.begin());
    l.unlock();
    Status st = [&]() -> Status {
      {
        ASSIGN_OR_RETURN(std::string url, NamespaceRepositoryUrl(config_.repository, ns));
        ASSIGN_OR_RETURN(auto store, OpenObjectStore(url));
        ASSIGN_OR_RETURN(bool keyless, HeldWithoutKey(config_, ns, store.get()));
        if (keyless) {  // its trees are sealed: a key holder's catalog only
          LogEvent("catalog_skipped",
                   {{"namespace", ns}, {"why", "encrypted, and no key is held here"}});
          return Status::OK();
        }
      }
      // No session marker: a sync must never hold back this site's prune.
      // A snapshot forgotten and pruned while it is read fails its sync
      // (rolled back whole), and the retry below finds it gone.
      ASSIGN_OR_RETURN(auto repo, OpenNamespaceRepository(config_, ns));
      std::error_code ec;
      std::filesystem::create_directories(config_.state_dir + "/catalog", ec);
      if (ec) return Status::IOError("create " + config_.state_dir + "/catalog: " + ec.message());
      ASSIGN_OR_RETURN(auto catalog, Catalog::Open(FileOf(ns)));
      ASSIGN_OR_RETURN(auto report, catalog->Sync(*repo, Site(), "vault namespace " + ns));
      if (report.snapshots_added || report.snapshots_removed) {
        LogEvent("catalog_synced", {{"namespace", ns},
                                    {"snapshots_added", report.snapshots_added},
                                    {"snapshots_removed", report.snapshots_removed},
                                    {"versions_added", report.versions_added},
                                    {"seconds", report.seconds}});
      }
      return Status::OK();
    }();
    l.lock();
    // A namespace nobody has backed up into yet has no repository: nothing
    // to index until its first commit nudges it.
    if (!st.ok() && !st.IsNotFound()) {
      LogEvent("catalog_sync_failed", {{"namespace", ns}, {"error", st.message()}});
      // Again in a while, even if no snapshot arrives to nudge it.
      if (cv_.wait_for(l, std::chrono::seconds(10), [this] { return stop_; })) return;
      pending_.insert(ns);
    }
  }
}

}  // namespace dr
