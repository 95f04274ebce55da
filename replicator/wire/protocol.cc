#include "replicator/wire/protocol.h"

#include <utility>

#include "core/bytes.h"
#include "core/codec.h"

namespace dr::wire {

namespace {

constexpr std::string_view kMagic = "DR";

// One field list per message type: the layout of docs/protocol.md, with its
// limits. codec::Writer applies it to encode (refusing a field over its
// limit), codec::Reader to decode (refusing it too, and anything truncated).
template <class A, codec::Of<Hello> M>
void Fields(A& a, M& m) {
  a.Bytes("agent", m.agent, kMaxTextBytes);
  a.Bytes("namespace", m.nspace, kMaxTextBytes);
  a.Var("resume_session", m.resume_session);
  a.Var("last_acked_seq", m.last_acked_seq);
}
template <class A, codec::Of<Welcome> M>
void Fields(A& a, M& m) {
  a.Var("session", m.session);
  a.Var("credit_bytes", m.credit_bytes);
  a.Var("resume_from_seq", m.resume_from_seq);
  a.U32("chunk_min", m.chunk_min);
  a.U32("chunk_avg", m.chunk_avg);
  a.U32("chunk_max", m.chunk_max);
  a.Bytes("secret", m.secret, kMaxTextBytes);
  a.U8("compression_level", m.compression_level);
  a.Bytes("identity", m.identity, kMaxTextBytes);
  a.Bytes("keyring", m.keyring, kMaxKeyringBytes);
}
template <class A, class M>
requires codec::Of<M, Query> || codec::Of<M, Missing>
void Fields(A& a, M& m) {
  a.Var("seq", m.seq);
  a.Seq("ids", m.ids, kMaxIdsPerBatch, 16, [&](auto& id) { a.IdField("id", id); });
}
template <class A, codec::Of<Blob> M>
void Fields(A& a, M& m) {
  a.Var("seq", m.seq);
  a.Enum("blob type", m.type, 0, 1);
  a.IdField("blob id", m.id);
  a.U32("raw_len", m.raw_len);
  a.Bytes("stored bytes", m.stored, kMaxFrameBytes);
  a.Check(m.stored.size() <= m.raw_len, "blob stored larger than raw");
}
template <class A, codec::Of<Credit> M>
void Fields(A& a, M& m) {
  a.Var("bytes", m.bytes);
  a.Var("acked_seq", m.acked_seq);
}
template <class A, codec::Of<Commit> M>
void Fields(A& a, M& m) {
  a.Var("seq", m.seq);
  a.Bytes("snapshot", m.snapshot, kMaxFrameBytes);
}
template <class A, codec::Of<Committed> M>
void Fields(A& a, M& m) {
  a.Var("seq", m.seq);
  a.IdField("snapshot id", m.snapshot);
}
template <class A, codec::Of<Error> M>
void Fields(A& a, M& m) {
  a.Var("seq", m.seq);
  a.U16("code", m.code);
  a.Bytes("message", m.message, kMaxTextBytes);
}
template <class A, class M>
requires codec::Of<M, Ping> || codec::Of<M, Pong>
void Fields(A& a, M& m) { a.U64("nonce", m.nonce); }
template <class A, codec::Of<Get> M>
void Fields(A& a, M& m) {
  a.Var("seq", m.seq);
  a.Bytes("key", m.key, kMaxTextBytes);
  a.Var("offset", m.offset);
  a.Var("length", m.length, kMaxDataBytes);
}
template <class A, codec::Of<Data> M>
void Fields(A& a, M& m) {
  a.Var("seq", m.seq);
  a.Var("object_size", m.object_size);
  a.Bytes("bytes", m.bytes, kMaxDataBytes);
}
template <class A, codec::Of<List> M>
void Fields(A& a, M& m) {
  a.Var("seq", m.seq);
  a.Bytes("prefix", m.prefix, kMaxTextBytes);
  a.Bytes("start_after", m.start_after, kMaxTextBytes);
}
template <class A, codec::Of<Listing> M>
void Fields(A& a, M& m) {
  a.Var("seq", m.seq);
  a.Seq("entries", m.entries, kMaxListEntries, 2, [&](auto& e) {
    a.Bytes("key", e.key, kMaxTextBytes);
    a.Var("size", e.size);
  });
  a.Bool("more", m.more);
}
template <class A, codec::Of<GetTree> M>
void Fields(A& a, M& m) {
  a.Var("seq", m.seq);
  a.IdField("tree id", m.id);
  a.Var("offset", m.offset);
}
template <class A, codec::Of<Put> M>
void Fields(A& a, M& m) {
  a.Var("seq", m.seq);
  a.Bytes("key", m.key, kMaxTextBytes);
  a.Var("total_size", m.total_size);
  a.Var("offset", m.offset);
  a.Bytes("bytes", m.bytes, kMaxDataBytes);
  a.Check(m.offset <= m.total_size && m.bytes.size() <= m.total_size - m.offset,
          "part runs past the object size");
}
template <class A, codec::Of<Ack> M>
void Fields(A& a, M& m) {
  a.Var("seq", m.seq);
}
template <class A, codec::Of<Bye> M>
void Fields(A&, M&) {}
template <class A, codec::Of<GetPolicies> M>
void Fields(A& a, M& m) {
  a.Var("seq", m.seq);
}
template <class A, codec::Of<Policies> M>
void Fields(A& a, M& m) {
  a.Var("seq", m.seq);
  a.Seq("policies", m.policies, kMaxPolicies, 2, [&](auto& p) {
    a.Bytes("policy name", p.name, kMaxTextBytes);
    a.Bytes("policy text", p.yaml, kMaxPolicyBytes);
  });
}

template <class A, codec::Of<CatalogQuery> M>
void Fields(A& a, M& m) {
  a.Var("seq", m.seq);
  a.Bytes("request", m.request, kMaxCatalogRequest);
}
template <class A, codec::Of<CatalogAnswer> M>
void Fields(A& a, M& m) {
  a.Var("seq", m.seq);
  a.Bytes("answer", m.answer, kMaxDataBytes);
}

std::string Context(Type t) { return std::string(TypeName(t)) + " message"; }

// Decodes the body of the message whose variant index is `index` into `m`.
template <size_t... I>
void DecodeBody(size_t index, codec::Reader& r, Message& m, std::index_sequence<I...>) {
  (void)((index == I ? (Fields(r, m.template emplace<I>()), true) : false) || ...);
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
  static const char* names[] = {
      "?",      "hello",  "welcome",     "query",    "missing",      "blob",
      "credit", "commit", "committed",   "error",    "ping",         "pong",
      "get",    "data",   "list",        "listing",  "gettree",      "put",
      "ack",    "bye",    "getpolicies", "policies", "catalogquery", "cataloganswer"};
  auto i = static_cast<size_t>(t);
  return i < std::size(names) ? names[i] : "?";
}

Result<std::string> EncodeMessage(const Message& m) {
  std::string out;
  ByteWriter header(&out);
  header.Raw(kMagic);
  header.U8(kProtocolVersion);
  header.U8(static_cast<uint8_t>(TypeOf(m)));
  codec::Writer w(&out);
  std::visit([&](const auto& v) { Fields(w, v); }, m);
  RETURN_IF_ERROR(w.status(Context(TypeOf(m))));
  if (out.size() > kMaxFrameBytes) {
    return Status::InvalidArgument(Context(TypeOf(m)) + " of " + std::to_string(out.size()) +
                                   " bytes exceeds the frame limit");
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
  if (type < 1 || type > std::variant_size_v<Message>) {
    return Status::InvalidArgument("unknown message type " + std::to_string(type));
  }
  codec::Reader r(frame.substr(4), Code::kInvalidArgument);
  Message m;
  DecodeBody(type - 1, r, m, std::make_index_sequence<std::variant_size_v<Message>>());
  r.Finish();
  RETURN_IF_ERROR(r.status(Context(static_cast<Type>(type))));
  return m;
}

}  // namespace dr::wire
