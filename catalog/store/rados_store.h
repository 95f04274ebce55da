// RadosStore: objects in a Ceph RADOS pool (librados), for the same-city site.
//
// URL: rados://POOL[/NAMESPACE]?conf=PATH&id=USER[&keyring=PATH]
// Each repository lives in its own RADOS namespace, so several share a pool.
//
// Contract as in object_store.h, plus:
//  - Put of a write-once key (data/, index/, snapshots/) creates the object
//    exclusively in one atomic operation; an existing object under such a key
//    already holds the same content (keys are content ids), so that is OK.
//    Other keys (config) are replaced whole with write_full, also atomic.
//  - Success is reported only after Ceph acknowledged the write (durable on
//    the pool's replicas). Puts from several threads run concurrently as
//    async operations; the Repository's pack writers bound the bytes in
//    flight (PreferredConcurrency() x pack size).
//  - Every operation is bounded in time (monitor and OSD op timeouts), and
//    errors name pool, namespace and object. Timeouts and a down OSD are
//    Unavailable (retryable; see RetryStore), permission and missing pool are
//    reported at once.
#pragma once

#include <memory>
#include <rados/librados.hpp>
#include <string>

#include "catalog/store/object_store.h"

namespace dr {

struct RadosLocation {
  std::string pool, nspace, conf, id = "admin", keyring;
  int timeout_seconds = 30;
};

// Parses a rados:// URL; InvalidArgument names what is wrong.
Result<RadosLocation> ParseRadosUrl(const std::string& url);

// A connected cluster handle and an I/O context on the pool (no namespace
// set). Connecting is bounded by the timeouts; `what` names the target in
// errors.
struct RadosConnection {
  std::unique_ptr<librados::Rados> cluster;
  librados::IoCtx io;
};
Result<RadosConnection> ConnectRados(const RadosLocation& where, const std::string& what);

// Connects (bounded by the timeouts) and opens the pool.
Result<std::unique_ptr<ObjectStore>> OpenRadosStore(const RadosLocation& where);

}  // namespace dr
