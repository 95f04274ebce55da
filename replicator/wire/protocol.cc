#include "replicator/wire/protocol.h"

#include "core/bytes.h"

namespace dr::wire {

namespace {

constexpr std::string_view kMagic = "DR";

// Field-by-field writer and a reader that records the first failure, so the
// per-type code reads as the layout in docs/protocol.md.
struct Reader {
  ByteReader r;
  bool ok = true;
  std::string why;

  void Fail(const std::string& w) {
    if (ok) why = w;
    ok = false;
  }
  uint64_t Var(const char* field) {
    uint64_t v = 0;
    if (ok && !r.Var(&v)) Fail(std::string("truncated ") + field);
    return v;
  }
  uint8_t U8(const char* field) {
    uint8_t v = 0;
    if (ok && !r.U8(&v)) Fail(std::string("truncated ") + field);
    return v;
  }
  uint16_t U16(const char* field) {
    uint16_t v = 0;
    if (ok && !r.U16(&v)) Fail(std::string("truncated ") + field);
    return v;
  }
  uint32_t U32(const char* field) {
    uint32_t v = 0;
    if (ok && !r.U32(&v)) Fail(std::string("truncated ") + field);
    return v;
  }
  uint64_t U64(const char* field) {
    uint64_t v = 0;
    if (ok && !r.U64(&v)) Fail(std::string("truncated ") + field);
    return v;
  }
  Id IdField(const char* field) {
    std::string_view b;
    if (ok && !r.Raw(16, &b)) Fail(std::string("truncated ") + field);
    return ok ? Id::FromBytes(b) : Id{};
  }
  std::string Text(const char* field, size_t max) {
    std::string s;
    uint64_t n = Var(field);
    if (!ok) return s;
    if (n > max) {
      Fail(std::string(field) + " longer than " + std::to_string(max) + " bytes");
      return s;
    }
    std::string_view b;
    if (!r.Raw(n, &b))
      Fail(std::string("truncated ") + field);
    else
      s.assign(b);
    return s;
  }
  std::vector<Id> Ids(const char* field) {
    std::vector<Id> ids;
    uint64_t n = Var(field);
    if (!ok) return ids;
    if (n > kMaxIdsPerBatch) {
      Fail(std::string(field) + ": more than " + std::to_string(kMaxIdsPerBatch) + " ids");
      return ids;
    }
    if (n * 16 > r.remaining()) {
      Fail(std::string("truncated ") + field);
      return ids;
    }
    ids.reserve(n);
    for (uint64_t i = 0; i < n && ok; ++i) ids.push_back(IdField(field));
    return ids;
  }
};

void Text(ByteWriter& w, const std::string& s) { w.Bytes(s); }
void Ids(ByteWriter& w, const std::vector<Id>& ids) {
  w.Var(ids.size());
  for (const Id& id : ids) w.Raw(id.Bytes());
}

Status CheckLimits(const Message& m) {
  auto too_long = [](const char* f) {
    return Status::InvalidArgument(std::string("message field ") + f +
                                   " exceeds the protocol limit");
  };
  if (auto* h = std::get_if<Hello>(&m)) {
    if (h->agent.size() > kMaxTextBytes) return too_long("agent");
    if (h->nspace.size() > kMaxTextBytes) return too_long("namespace");
  } else if (auto* q = std::get_if<Query>(&m)) {
    if (q->ids.size() > kMaxIdsPerBatch) return too_long("ids");
  } else if (auto* mi = std::get_if<Missing>(&m)) {
    if (mi->ids.size() > kMaxIdsPerBatch) return too_long("ids");
  } else if (auto* e = std::get_if<Error>(&m)) {
    if (e->message.size() > kMaxTextBytes) return too_long("message");
  } else if (auto* wl = std::get_if<Welcome>(&m)) {
    if (wl->secret.size() > kMaxTextBytes) return too_long("secret");
  } else if (auto* b = std::get_if<Blob>(&m)) {
    if (b->stored.size() > b->raw_len)
      return Status::InvalidArgument("blob stored larger than raw");
  } else if (auto* g = std::get_if<Get>(&m)) {
    if (g->key.size() > kMaxTextBytes) return too_long("key");
    if (g->length > kMaxDataBytes) return too_long("length");
  } else if (auto* d = std::get_if<Data>(&m)) {
    if (d->bytes.size() > kMaxDataBytes) return too_long("bytes");
  } else if (auto* l = std::get_if<List>(&m)) {
    if (l->prefix.size() > kMaxTextBytes) return too_long("prefix");
    if (l->start_after.size() > kMaxTextBytes) return too_long("start_after");
  } else if (auto* li = std::get_if<Listing>(&m)) {
    if (li->entries.size() > kMaxListEntries) return too_long("entries");
    for (const auto& e : li->entries)
      if (e.key.size() > kMaxTextBytes) return too_long("key");
  } else if (auto* p = std::get_if<Put>(&m)) {
    if (p->key.size() > kMaxTextBytes) return too_long("key");
    if (p->bytes.size() > kMaxDataBytes) return too_long("bytes");
    if (p->offset + p->bytes.size() > p->total_size)
      return Status::InvalidArgument("put part runs past the object size");
  }
  return Status::OK();
}

}  // namespace

Type TypeOf(const Message& m) { return static_cast<Type>(m.index() + 1); }

std::optional<uint64_t> SeqOf(const Message& m) {
  return std::visit(
      [](const auto& v) -> std::optional<uint64_t> {
        if constexpr (requires { v.seq; }) return v.seq;
        return std::nullopt;
      },
      m);
}

const char* TypeName(Type t) {
  static const char* names[] = {"?",       "hello",   "welcome", "query",     "missing",
                                "blob",    "credit",  "commit",  "committed", "error",
                                "ping",    "pong",    "get",     "data",      "list",
                                "listing", "gettree", "put",     "ack",       "bye"};
  auto i = static_cast<size_t>(t);
  return i < std::size(names) ? names[i] : "?";
}

Result<std::string> EncodeMessage(const Message& m) {
  RETURN_IF_ERROR(CheckLimits(m));
  std::string out;
  ByteWriter w(&out);
  w.Raw(kMagic);
  w.U8(kProtocolVersion);
  w.U8(static_cast<uint8_t>(TypeOf(m)));
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, Hello>) {
          Text(w, v.agent);
          Text(w, v.nspace);
          w.Var(v.resume_session);
          w.Var(v.last_acked_seq);
        } else if constexpr (std::is_same_v<T, Welcome>) {
          w.Var(v.session);
          w.Var(v.credit_bytes);
          w.Var(v.resume_from_seq);
          w.U32(v.chunk_min);
          w.U32(v.chunk_avg);
          w.U32(v.chunk_max);
          Text(w, v.secret);
          w.U8(static_cast<uint8_t>(v.compression_level));
        } else if constexpr (std::is_same_v<T, Query> || std::is_same_v<T, Missing>) {
          w.Var(v.seq);
          Ids(w, v.ids);
        } else if constexpr (std::is_same_v<T, Blob>) {
          w.Var(v.seq);
          w.U8(static_cast<uint8_t>(v.type));
          w.Raw(v.id.Bytes());
          w.U32(v.raw_len);
          w.Bytes(v.stored);
        } else if constexpr (std::is_same_v<T, Credit>) {
          w.Var(v.bytes);
          w.Var(v.acked_seq);
        } else if constexpr (std::is_same_v<T, Commit>) {
          w.Var(v.seq);
          w.Bytes(v.snapshot);
        } else if constexpr (std::is_same_v<T, Committed>) {
          w.Var(v.seq);
          w.Raw(v.snapshot.Bytes());
        } else if constexpr (std::is_same_v<T, Error>) {
          w.Var(v.seq);
          w.U16(v.code);
          Text(w, v.message);
        } else if constexpr (std::is_same_v<T, Get>) {
          w.Var(v.seq);
          Text(w, v.key);
          w.Var(v.offset);
          w.Var(v.length);
        } else if constexpr (std::is_same_v<T, Data>) {
          w.Var(v.seq);
          w.Var(v.object_size);
          w.Bytes(v.bytes);
        } else if constexpr (std::is_same_v<T, List>) {
          w.Var(v.seq);
          Text(w, v.prefix);
          Text(w, v.start_after);
        } else if constexpr (std::is_same_v<T, Listing>) {
          w.Var(v.seq);
          w.Var(v.entries.size());
          for (const auto& e : v.entries) {
            Text(w, e.key);
            w.Var(e.size);
          }
          w.U8(v.more ? 1 : 0);
        } else if constexpr (std::is_same_v<T, GetTree>) {
          w.Var(v.seq);
          w.Raw(v.id.Bytes());
        } else if constexpr (std::is_same_v<T, Put>) {
          w.Var(v.seq);
          Text(w, v.key);
          w.Var(v.total_size);
          w.Var(v.offset);
          w.Bytes(v.bytes);
        } else if constexpr (std::is_same_v<T, Ack>) {
          w.Var(v.seq);
        } else if constexpr (std::is_same_v<T, Bye>) {
          // no body
        } else {  // Ping, Pong
          w.U64(v.nonce);
        }
      },
      m);
  if (out.size() > kMaxFrameBytes) {
    return Status::InvalidArgument(std::string(TypeName(TypeOf(m))) + " message of " +
                                   std::to_string(out.size()) + " bytes exceeds the frame limit");
  }
  return out;
}

Result<Message> DecodeMessage(std::string_view frame) {
  if (frame.size() > kMaxFrameBytes) {
    return Status::InvalidArgument("frame of " + std::to_string(frame.size()) +
                                   " bytes exceeds the limit of " + std::to_string(kMaxFrameBytes));
  }
  if (frame.size() < 4 || frame.substr(0, 2) != kMagic) {
    return Status::InvalidArgument("not a protocol frame (bad magic or too short)");
  }
  const uint8_t version = static_cast<uint8_t>(frame[2]);
  if (version != kProtocolVersion) {
    return Status::InvalidArgument("protocol version " + std::to_string(version) +
                                   " is not supported (this side speaks " +
                                   std::to_string(kProtocolVersion) + ")");
  }
  const uint8_t type = static_cast<uint8_t>(frame[3]);
  Reader r{ByteReader(frame.substr(4)), true, {}};
  Message m;
  switch (static_cast<Type>(type)) {
    case Type::kHello: {
      Hello h;
      h.agent = r.Text("agent", kMaxTextBytes);
      h.nspace = r.Text("namespace", kMaxTextBytes);
      h.resume_session = r.Var("resume_session");
      h.last_acked_seq = r.Var("last_acked_seq");
      m = std::move(h);
      break;
    }
    case Type::kWelcome: {
      Welcome v;
      v.session = r.Var("session");
      v.credit_bytes = r.Var("credit_bytes");
      v.resume_from_seq = r.Var("resume_from_seq");
      v.chunk_min = r.U32("chunk_min");
      v.chunk_avg = r.U32("chunk_avg");
      v.chunk_max = r.U32("chunk_max");
      v.secret = r.Text("secret", kMaxTextBytes);
      v.compression_level = r.U8("compression_level");
      m = std::move(v);
      break;
    }
    case Type::kQuery: {
      Query q;
      q.seq = r.Var("seq");
      q.ids = r.Ids("ids");
      m = std::move(q);
      break;
    }
    case Type::kMissing: {
      Missing q;
      q.seq = r.Var("seq");
      q.ids = r.Ids("ids");
      m = std::move(q);
      break;
    }
    case Type::kBlob: {
      Blob b;
      b.seq = r.Var("seq");
      uint8_t t = r.U8("blob type");
      if (r.ok && t > 1) r.Fail("unknown blob type " + std::to_string(t));
      b.type = static_cast<BlobType>(t);
      b.id = r.IdField("blob id");
      b.raw_len = r.U32("raw_len");
      b.stored = r.Text("stored bytes", kMaxFrameBytes);
      if (r.ok && b.stored.size() > b.raw_len) r.Fail("blob stored larger than raw");
      m = std::move(b);
      break;
    }
    case Type::kCredit: {
      Credit c;
      c.bytes = r.Var("bytes");
      c.acked_seq = r.Var("acked_seq");
      m = c;
      break;
    }
    case Type::kCommit: {
      Commit c;
      c.seq = r.Var("seq");
      c.snapshot = r.Text("snapshot", kMaxFrameBytes);
      m = std::move(c);
      break;
    }
    case Type::kCommitted: {
      Committed c;
      c.seq = r.Var("seq");
      c.snapshot = r.IdField("snapshot id");
      m = c;
      break;
    }
    case Type::kError: {
      Error e;
      e.seq = r.Var("seq");
      e.code = r.U16("code");
      e.message = r.Text("message", kMaxTextBytes);
      m = std::move(e);
      break;
    }
    case Type::kPing:
      m = Ping{r.U64("nonce")};
      break;
    case Type::kPong:
      m = Pong{r.U64("nonce")};
      break;
    case Type::kGet: {
      Get g;
      g.seq = r.Var("seq");
      g.key = r.Text("key", kMaxTextBytes);
      g.offset = r.Var("offset");
      g.length = r.Var("length");
      if (r.ok && g.length > kMaxDataBytes) r.Fail("length over " + std::to_string(kMaxDataBytes));
      m = std::move(g);
      break;
    }
    case Type::kData: {
      Data d;
      d.seq = r.Var("seq");
      d.object_size = r.Var("object_size");
      d.bytes = r.Text("bytes", kMaxDataBytes);
      m = std::move(d);
      break;
    }
    case Type::kList: {
      List l;
      l.seq = r.Var("seq");
      l.prefix = r.Text("prefix", kMaxTextBytes);
      l.start_after = r.Text("start_after", kMaxTextBytes);
      m = std::move(l);
      break;
    }
    case Type::kListing: {
      Listing l;
      l.seq = r.Var("seq");
      uint64_t n = r.Var("entries");
      if (r.ok && n > kMaxListEntries)
        r.Fail("more than " + std::to_string(kMaxListEntries) + " entries");
      for (uint64_t i = 0; i < n && r.ok; ++i) {
        ListEntry e;
        e.key = r.Text("key", kMaxTextBytes);
        e.size = r.Var("size");
        l.entries.push_back(std::move(e));
      }
      uint8_t more = r.U8("more");
      if (r.ok && more > 1) r.Fail("more flag is not 0 or 1");
      l.more = more == 1;
      m = std::move(l);
      break;
    }
    case Type::kGetTree: {
      GetTree g;
      g.seq = r.Var("seq");
      g.id = r.IdField("tree id");
      m = g;
      break;
    }
    case Type::kPut: {
      Put p;
      p.seq = r.Var("seq");
      p.key = r.Text("key", kMaxTextBytes);
      p.total_size = r.Var("total_size");
      p.offset = r.Var("offset");
      p.bytes = r.Text("bytes", kMaxDataBytes);
      if (r.ok && (p.offset > p.total_size || p.bytes.size() > p.total_size - p.offset))
        r.Fail("part runs past the object size");
      m = std::move(p);
      break;
    }
    case Type::kAck:
      m = Ack{r.Var("seq")};
      break;
    case Type::kBye:
      m = Bye{};
      break;
    default:
      return Status::InvalidArgument("unknown message type " + std::to_string(type));
  }
  const char* name = TypeName(static_cast<Type>(type));
  if (!r.ok) return Status::InvalidArgument(std::string(name) + " message: " + r.why);
  if (!r.r.done()) {
    return Status::InvalidArgument(
        std::string(name) + " message: " + std::to_string(r.r.remaining()) + " trailing bytes");
  }
  return m;
}

}  // namespace dr::wire
