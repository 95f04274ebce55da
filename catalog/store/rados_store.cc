#include "catalog/store/rados_store.h"

#include <rados/librados.hpp>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>

namespace dr {

namespace {

bool IsWriteOnce(const std::string& key) {
  return key.rfind("data/", 0) == 0 || key.rfind("index/", 0) == 0 ||
         key.rfind("snapshots/", 0) == 0;
}

std::string UrlDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(std::strtol(s.substr(i + 1, 2).c_str(), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

class RadosStore : public ObjectStore {
 public:
  RadosStore(RadosLocation where, std::unique_ptr<librados::Rados> cluster, librados::IoCtx io)
      : where_(std::move(where)), cluster_(std::move(cluster)), io_(std::move(io)) {}
  ~RadosStore() override {
    io_.close();
    cluster_->shutdown();
  }

  std::string Url() const override {
    return "rados://" + where_.pool + (where_.nspace.empty() ? "" : "/" + where_.nspace);
  }
  int PreferredConcurrency() const override { return 4; }
  // The client's view of osd_max_write_size (MB) and osd_max_object_size
  // (bytes): the cluster's defaults are 90 MB and 128 MiB.
  uint64_t MaxObjectBytes() const override {
    auto conf = [&](const char* name, uint64_t fallback) {
      std::string v;
      if (cluster_->conf_get(name, v) != 0) return fallback;
      try {
        return static_cast<uint64_t>(std::stoull(v));
      } catch (const std::exception&) {
        return fallback;
      }
    };
    return std::min(conf("osd_max_write_size", 90) << 20, conf("osd_max_object_size", 128u << 20));
  }

  Status Put(const std::string& key, std::string_view data) override {
    return Write(key, data, IsWriteOnce(key) ? kSameContentOk : kReplace);
  }
  Status PutIfAbsent(const std::string& key, std::string_view data) override {
    return Write(key, data, kMustNotExist);
  }

  enum WriteMode { kReplace, kSameContentOk, kMustNotExist };
  Status Write(const std::string& key, std::string_view data, WriteMode mode) {
    librados::bufferlist bl;
    bl.append(data.data(), static_cast<unsigned>(data.size()));
    librados::ObjectWriteOperation op;
    const bool once = mode == kSameContentOk;
    if (mode != kReplace) op.create(true);
    op.write_full(bl);
    librados::AioCompletion* c = librados::Rados::aio_create_completion();
    int r = io_.aio_operate(key, c, &op);
    if (r == 0) {
      c->wait_for_complete();
      r = c->get_return_value();
    }
    // When submission fails synchronously the completion never fires; it is
    // released here either way.
    c->release();
    if (r == -EEXIST && once) return Status::OK();  // same key, same content
    if (r == -EEXIST) return Status::AlreadyExists(Url() + "/" + key + ": exists");
    return Check(r, "write", key);
  }

  Result<std::string> Get(const std::string& key) override {
    ASSIGN_OR_RETURN(uint64_t size, Size(key));
    return GetRange(key, 0, size);
  }

  Result<std::string> GetRange(const std::string& key, uint64_t offset, uint64_t length) override {
    librados::bufferlist bl;
    int r = io_.read(key, bl, length, offset);
    if (r < 0) return Check(r, "read", key);
    if (bl.length() != length) {
      return Status::Corruption(Url() + "/" + key + ": object is shorter than expected (wanted " +
                                std::to_string(length) + " bytes at " + std::to_string(offset) +
                                ", got " + std::to_string(bl.length()) + ")");
    }
    std::string out(length, '\0');
    bl.begin().copy(static_cast<unsigned>(length), out.data());
    return out;
  }

  Result<std::vector<ObjectInfo>> List(const std::string& prefix) override {
    std::vector<std::string> keys;
    try {
      for (auto it = io_.nobjects_begin(); it != io_.nobjects_end(); ++it) {
        if (it->get_oid().rfind(prefix, 0) == 0) keys.push_back(it->get_oid());
      }
    } catch (const std::exception& e) {
      return Status::Unavailable(Url() + ": listing objects failed: " + e.what());
    }
    // Sizes by batches of asynchronous stats, not one round trip at a time.
    std::vector<ObjectInfo> out(keys.size());
    constexpr size_t kBatch = 64;
    for (size_t start = 0; start < keys.size(); start += kBatch) {
      size_t end = std::min(keys.size(), start + kBatch);
      std::vector<librados::AioCompletion*> cs(end - start);
      std::vector<uint64_t> sizes(end - start);
      std::vector<time_t> mtimes(end - start);
      for (size_t i = start; i < end; ++i) {
        cs[i - start] = librados::Rados::aio_create_completion();
        int r = io_.aio_stat(keys[i], cs[i - start], &sizes[i - start], &mtimes[i - start]);
        if (r < 0) {
          cs[i - start]->release();
          cs[i - start] = nullptr;
        }
      }
      Status first;
      for (size_t i = start; i < end; ++i) {
        librados::AioCompletion* c = cs[i - start];
        int r = -EIO;
        if (c) {
          c->wait_for_complete();
          r = c->get_return_value();
          c->release();
        }
        if (r == -ENOENT) continue;  // deleted meanwhile
        if (r < 0 && first.ok()) first = Check(r, "stat", keys[i]);
        out[i] = {keys[i], sizes[i - start]};
      }
      if (!first.ok()) return first;
    }
    std::erase_if(out, [](const ObjectInfo& o) { return o.key.empty(); });
    return out;
  }

  Status Delete(const std::string& key) override {
    int r = io_.remove(key);
    if (r == -ENOENT) return Status::OK();
    return Check(r, "delete", key);
  }

  Result<uint64_t> Size(const std::string& key) override {
    uint64_t size = 0;
    time_t mtime;
    int r = io_.stat(key, &size, &mtime);
    if (r < 0) return Check(r, "stat", key);
    return size;
  }

 private:
  Status Check(int r, const char* op, const std::string& key) const {
    if (r >= 0) return Status::OK();
    return Status::FromErrno(-r, Url() + "/" + key + ": " + op);
  }

  RadosLocation where_;
  std::unique_ptr<librados::Rados> cluster_;
  librados::IoCtx io_;
};

}  // namespace

Result<RadosLocation> ParseRadosUrl(const std::string& url) {
  RadosLocation loc;
  if (url.rfind("rados://", 0) != 0) return Status::InvalidArgument(url + ": not a rados:// URL");
  std::string rest = url.substr(8);
  std::string query;
  if (size_t q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  size_t slash = rest.find('/');
  loc.pool = rest.substr(0, slash);
  if (slash != std::string::npos) loc.nspace = rest.substr(slash + 1);
  if (loc.pool.empty())
    return Status::InvalidArgument(url + ": no pool (rados://POOL[/NAMESPACE])");
  if (loc.nspace.find('/') != std::string::npos) {
    return Status::InvalidArgument(url + ": a namespace cannot contain '/'");
  }
  if (const char* c = std::getenv("CEPH_CONF")) loc.conf = c;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string kv = query.substr(0, amp);
    query = amp == std::string::npos ? "" : query.substr(amp + 1);
    size_t eq = kv.find('=');
    std::string k = kv.substr(0, eq),
                v = eq == std::string::npos ? "" : UrlDecode(kv.substr(eq + 1));
    if (k == "conf")
      loc.conf = v;
    else if (k == "id")
      loc.id = v;
    else if (k == "keyring")
      loc.keyring = v;
    else if (k == "timeout")
      loc.timeout_seconds = std::atoi(v.c_str());
    else
      return Status::InvalidArgument(url + ": unknown parameter '" + k +
                                     "' (conf, id, keyring, timeout)");
  }
  if (loc.conf.empty()) loc.conf = "/etc/ceph/ceph.conf";
  if (loc.timeout_seconds <= 0) return Status::InvalidArgument(url + ": timeout must be positive");
  return loc;
}

Result<RadosConnection> ConnectRados(const RadosLocation& where, const std::string& what) {
  auto cluster = std::make_unique<librados::Rados>();
  int r = cluster->init2(("client." + where.id).c_str(), "ceph", 0);
  if (r < 0) return Status::FromErrno(-r, what + ": initialising librados for client." + where.id);
  r = cluster->conf_read_file(where.conf.c_str());
  if (r < 0) return Status::FromErrno(-r, what + ": reading Ceph config " + where.conf);
  if (!where.keyring.empty()) cluster->conf_set("keyring", where.keyring.c_str());
  // Bound every wait: a monitor that does not answer, an OSD that is gone.
  const std::string t = std::to_string(where.timeout_seconds);
  cluster->conf_set("client_mount_timeout", t.c_str());
  cluster->conf_set("rados_mon_op_timeout", t.c_str());
  cluster->conf_set("rados_osd_op_timeout", t.c_str());
  cluster->conf_set("log_to_stderr", "false");
  cluster->conf_set("err_to_stderr", "false");
  r = cluster->connect();
  if (r < 0) {
    std::string why =
        (r == -ETIMEDOUT || r == -ENOTCONN)
            ? "cannot reach the Ceph monitors named in " + where.conf + " within " + t + " s"
        : (r == -EACCES || r == -EPERM)
            ? "Ceph refused client." + where.id + " (wrong key in the keyring?)"
        : (r == -ENOENT) ? "no keyring with a key for client." + where.id +
                               " (give keyring=PATH or set it in " + where.conf + ")"
                         : "connecting to Ceph";
    return Status::FromErrno(-r, what + ": " + why);
  }
  librados::IoCtx io;
  r = cluster->ioctx_create(where.pool.c_str(), io);
  if (r == -ENOENT) return Status::NotFound(what + ": pool '" + where.pool + "' does not exist");
  if (r < 0) return Status::FromErrno(-r, what + ": opening pool " + where.pool);
  return RadosConnection{std::move(cluster), std::move(io)};
}

Result<std::unique_ptr<ObjectStore>> OpenRadosStore(const RadosLocation& where) {
  const std::string what =
      "rados://" + where.pool + (where.nspace.empty() ? "" : "/" + where.nspace);
  ASSIGN_OR_RETURN(RadosConnection c, ConnectRados(where, what));
  c.io.set_namespace(where.nspace);
  return std::unique_ptr<ObjectStore>(new RadosStore(where, std::move(c.cluster), std::move(c.io)));
}

}  // namespace dr
