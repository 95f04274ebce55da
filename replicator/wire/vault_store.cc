#include "replicator/wire/vault_store.h"

#include <cstring>

namespace dr {

VaultStore::VaultStore(std::shared_ptr<VaultClient> client)
    : client_(std::move(client)),
      url_("vault://" + client_->address().endpoint.substr(6) + "/" + client_->address().nspace) {}

Status VaultStore::Put(const std::string& key, std::string_view) {
  return Status::PermissionDenied(url_ + ": read-only; " + key +
                                  " cannot be written (backups go through the agent protocol)");
}
Status VaultStore::PutIfAbsent(const std::string& key, std::string_view data) {
  // A drill's record is the one object an agent writes itself; the vault
  // stores it only as the next link of the site's drill history.
  if (key.rfind("drills/", 0) != 0) return Put(key, data);
  std::vector<std::future<Result<wire::Message>>> parts;
  uint64_t offset = 0;
  do {
    const size_t n = std::min<size_t>(wire::kMaxDataBytes, data.size() - offset);
    parts.push_back(client_->Request(
        wire::Put{0, key, data.size(), offset, std::string(data.substr(offset, n))}));
    offset += n;
  } while (offset < data.size());
  Status first;
  for (auto& f : parts) {
    Status st = f.get().status();
    if (first.ok()) first = st;
  }
  return first;
}
Status VaultStore::Delete(const std::string& key) {
  return Status::PermissionDenied(url_ + ": nothing may be deleted through a vault (" + key + ")");
}

Result<uint64_t> VaultStore::Size(const std::string& key) {
  ASSIGN_OR_RETURN(wire::Data d, Expect<wire::Data>(client_->Call(wire::Get{0, key, 0, 0})));
  return d.object_size;
}

namespace {
constexpr uint64_t kWindow = wire::kMaxDataBytes;
constexpr size_t kWindowsCached = 12;  // 48 MiB
constexpr size_t kReadAheadKept = 8;
}  // namespace

Result<VaultStore::Window> VaultStore::GetWindow(const std::string& key, uint64_t start) {
  const std::string name = WindowName(key, start);
  std::promise<Result<Window>> mine;
  std::shared_future<Result<Window>> wait;
  std::future<Result<wire::Message>> asked;
  {
    std::lock_guard l(mu_);
    for (auto it = lru_.begin(); it != lru_.end(); ++it) {
      if (it->first != name) continue;
      lru_.splice(lru_.begin(), lru_, it);
      return it->second;
    }
    auto f = fetching_.find(name);
    if (f != fetching_.end()) {
      wait = f->second;
    } else {
      fetching_[name] = mine.get_future().share();
      asked = TakeReadAhead(name);
    }
  }
  if (wait.valid()) return wait.get();
  if (!asked.valid()) asked = client_->Request(wire::Get{0, key, start, kWindow});
  auto d = Expect<wire::Data>(asked.get());
  Result<Window> got =
      d.ok() ? Result<Window>(std::make_shared<const std::string>(std::move(d->bytes)))
             : Result<Window>(d.status());
  std::lock_guard l(mu_);
  if (got.ok()) {
    lru_.emplace_front(name, *got);
    if (lru_.size() > kWindowsCached) lru_.pop_back();
    // Readers mostly go through a pack in order: ask for the next window
    // now, so it travels while this one is decoded.
    if (d->object_size > start + kWindow) ReadAhead(key, start + kWindow);
  }
  fetching_.erase(name);
  mine.set_value(got);
  return got;
}

std::string VaultStore::WindowName(const std::string& key, uint64_t start) {
  return key + "@" + std::to_string(start);
}

void VaultStore::ReadAhead(const std::string& key, uint64_t start) {
  const std::string name = WindowName(key, start);
  if (fetching_.count(name)) return;
  for (const auto& [cached, w] : lru_)
    if (cached == name) return;
  for (const auto& [asked, f] : read_ahead_)
    if (asked == name) return;
  read_ahead_.emplace_back(name, client_->Request(wire::Get{0, key, start, kWindow}));
  // A read-ahead nobody came for is dropped (its answer is discarded).
  if (read_ahead_.size() > kReadAheadKept) read_ahead_.pop_front();
}

std::future<Result<wire::Message>> VaultStore::TakeReadAhead(const std::string& name) {
  for (auto it = read_ahead_.begin(); it != read_ahead_.end(); ++it) {
    if (it->first != name) continue;
    auto f = std::move(it->second);
    read_ahead_.erase(it);
    return f;
  }
  return {};
}

Status VaultStore::ReadRangeInto(const std::string& key, uint64_t offset, uint64_t length,
                                 char* out) {
  const uint64_t start = offset / kWindow * kWindow;
  if (length > 0 && offset + length <= start + kWindow) {
    ASSIGN_OR_RETURN(Window w, GetWindow(key, start));
    if (offset - start + length <= w->size()) {
      std::memcpy(out, w->data() + (offset - start), length);
      return Status::OK();
    }
  }
  ASSIGN_OR_RETURN(std::string data, FetchRange(key, offset, length));
  std::memcpy(out, data.data(), data.size());
  return Status::OK();
}

Result<std::string> VaultStore::GetRange(const std::string& key, uint64_t offset, uint64_t length) {
  std::string out(length, '\0');
  RETURN_IF_ERROR(ReadRangeInto(key, offset, length, out.data()));
  return out;
}

Result<std::string> VaultStore::FetchRange(const std::string& key, uint64_t offset,
                                           uint64_t length) {
  std::vector<std::future<Result<wire::Message>>> parts;
  for (uint64_t pos = offset; pos < offset + length; pos += wire::kMaxDataBytes) {
    const uint64_t n = std::min<uint64_t>(wire::kMaxDataBytes, offset + length - pos);
    parts.push_back(client_->Request(wire::Get{0, key, pos, n}));
  }
  std::string out;
  out.reserve(length);
  Status first;
  for (auto& f : parts) {
    auto d = Expect<wire::Data>(f.get());
    if (!d.ok()) {
      if (first.ok()) first = d.status();
      continue;
    }
    out += d->bytes;
  }
  if (!first.ok()) return first;
  if (out.size() != length)
    return Status::Corruption(url_ + "/" + key + ": range " + std::to_string(offset) + "+" +
                              std::to_string(length) + " runs past the end of the object");
  return out;
}

Result<std::string> VaultStore::Get(const std::string& key) {
  ASSIGN_OR_RETURN(wire::Data first,
                   Expect<wire::Data>(client_->Call(wire::Get{0, key, 0, wire::kMaxDataBytes})));
  if (first.bytes.size() >= first.object_size) return std::move(first.bytes);
  ASSIGN_OR_RETURN(std::string rest,
                   FetchRange(key, first.bytes.size(), first.object_size - first.bytes.size()));
  return first.bytes + rest;
}

Result<std::vector<ObjectInfo>> VaultStore::List(const std::string& prefix) {
  std::vector<ObjectInfo> out;
  std::string after;
  for (;;) {
    ASSIGN_OR_RETURN(wire::Listing page,
                     Expect<wire::Listing>(client_->Call(wire::List{0, prefix, after})));
    for (auto& e : page.entries) out.push_back({std::move(e.key), e.size});
    if (!page.more || page.entries.empty()) break;
    after = out.back().key;
  }
  return out;
}

Result<std::unique_ptr<ObjectStore>> OpenVaultStore(const std::string& url) {
  ASSIGN_OR_RETURN(VaultAddress address, ParseVaultUrl(url));
  ASSIGN_OR_RETURN(auto client, VaultClient::Connect(address));
  return std::unique_ptr<ObjectStore>(new VaultStore(std::move(client)));
}

Result<std::unique_ptr<Repository>> OpenRepositoryAt(const std::string& url,
                                                     const std::string& session_kind,
                                                     KeySource keys) {
  if (!IsVaultUrl(url)) {
    ASSIGN_OR_RETURN(auto store, OpenObjectStore(url));
    return Repository::Open(std::move(store), session_kind, keys);
  }
  ASSIGN_OR_RETURN(VaultAddress address, ParseVaultUrl(url));
  ASSIGN_OR_RETURN(auto client, VaultClient::Connect(address));
  if (!keys.given()) keys.keyring = client->welcome().keyring;
  return Repository::Open(std::unique_ptr<ObjectStore>(new VaultStore(std::move(client))), "",
                          keys);
}

}  // namespace dr
