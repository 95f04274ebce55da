// The agent <-> vault wire protocol (issue 4 builds the transport on it):
// message types, their fields, and a strict codec. One message is one
// ZeroMQ frame. Byte layout and the conversation: docs/protocol.md.
//
// DecodeMessage never trusts its input: every length is checked against the
// frame and against the limits below, unknown types and versions are
// rejected, and a frame with trailing bytes is refused. Hostile input yields
// InvalidArgument/Corruption, never a crash or an over-read (fuzz-tested).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "catalog/format/blob.h"
#include "core/hash.h"
#include "core/status.h"

namespace dr::wire {

inline constexpr uint8_t kProtocolVersion = 3;
inline constexpr size_t kMaxFrameBytes = 8u << 20;    // a 4 MiB chunk plus headroom
inline constexpr size_t kMaxIdsPerBatch = 4096;       // dedup queries
inline constexpr size_t kMaxTextBytes = 4096;         // names, messages, object keys
inline constexpr size_t kMaxKeyringBytes = 1u << 20;  // a welcome's keyring: ~10,000 data keys
inline constexpr size_t kMaxDataBytes = 4u << 20;     // one get answer or put part
inline constexpr size_t kMaxListEntries = 4096;       // one listing page
inline constexpr size_t kMaxPolicies = 256;           // policies one agent is given
inline constexpr size_t kMaxPolicyBytes = 1u << 20;   // one policy's YAML

enum class Type : uint8_t {
  kHello = 1,      // agent -> vault: open or resume a session
  kWelcome = 2,    // vault -> agent: session accepted, repository parameters, first credit
  kQuery = 3,      // agent -> vault: which of these chunk ids are missing?
  kMissing = 4,    // vault -> agent: the subset that is missing
  kBlob = 5,       // agent -> vault: one encoded blob (spends credit)
  kCredit = 6,     // vault -> agent: more bytes may be sent
  kCommit = 7,     // agent -> vault: snapshot (after all its blobs)
  kCommitted = 8,  // vault -> agent: snapshot durable at this site
  kError = 9,      // either way: request refused
  kPing = 10,      // heartbeat
  kPong = 11,
  kGet = 12,            // client -> vault: read a range of an object of the namespace
  kData = 13,           // vault -> client: the bytes asked for
  kList = 14,           // client -> vault: object keys under a prefix, one page
  kListing = 15,        // vault -> client: that page
  kGetTree = 16,        // agent -> vault: a tree blob of the namespace, decoded (parent snapshot)
  kPut = 17,            // replicating vault -> off-site vault: part of a write-once object
  kAck = 18,            // vault -> client: a put part (the last one: the object) is durable
  kBye = 19,            // client -> vault: the session is over, forget it
  kGetPolicies = 20,    // agent -> vault: the policies applied to this agent
  kPolicies = 21,       // vault -> agent: their texts
  kCatalogQuery = 22,   // agent -> vault: a question to the namespace's catalog
  kCatalogAnswer = 23,  // vault -> agent: its answer
};

struct Hello {
  std::string agent;            // agent name, for logs
  std::string nspace;           // the namespace (department) it backs up into
  uint64_t resume_session = 0;  // 0: new session
  uint64_t last_acked_seq = 0;  // resume: highest sequence the agent saw acknowledged
  bool operator==(const Hello&) const = default;
};
struct Welcome {
  uint64_t session = 0;
  uint64_t credit_bytes = 0;
  uint64_t resume_from_seq = 0;  // blobs after this sequence must be sent again
  uint32_t chunk_min = 0, chunk_avg = 0, chunk_max = 0;
  std::string secret;  // the namespace's repository secret (ids and gear table)
  int32_t compression_level = 0;
  // The enrolled name the vault knows this client by: what it stamps on the
  // snapshots the client commits.
  std::string identity = "";
  // An encrypted namespace's keyring (Keyring::Encode), for the namespace's
  // own backup and restore agents; "" otherwise.
  std::string keyring = "";
  bool operator==(const Welcome&) const = default;
};
struct Query {
  uint64_t seq = 0;
  std::vector<Id> ids;
  bool operator==(const Query&) const = default;
};
struct Missing {
  uint64_t seq = 0;  // the Query's seq
  std::vector<Id> ids;
  bool operator==(const Missing&) const = default;
};
struct Blob {
  uint64_t seq = 0;
  BlobType type = BlobType::kData;
  Id id;
  uint32_t raw_len = 0;
  std::string stored;  // EncodeBlob output
  bool operator==(const Blob&) const = default;
};
struct Credit {
  uint64_t bytes = 0;
  uint64_t acked_seq = 0;  // every blob up to this seq is durable at the vault
  bool operator==(const Credit&) const = default;
};
struct Commit {
  uint64_t seq = 0;
  std::string snapshot;  // encoded snapshot object (catalog/format/snapshot.h)
  bool operator==(const Commit&) const = default;
};
struct Committed {
  uint64_t seq = 0;
  Id snapshot;
  bool operator==(const Committed&) const = default;
};
struct Error {
  uint64_t seq = 0;
  uint16_t code = 0;  // dr::Code
  std::string message;
  bool operator==(const Error&) const = default;
};
struct Ping {
  uint64_t nonce = 0;
  bool operator==(const Ping&) const = default;
};
struct Pong {
  uint64_t nonce = 0;
  bool operator==(const Pong&) const = default;
};

struct Get {
  uint64_t seq = 0;
  std::string key;
  uint64_t offset = 0;
  uint64_t length = 0;  // at most kMaxDataBytes
  bool operator==(const Get&) const = default;
};
struct Data {
  uint64_t seq = 0;
  uint64_t object_size = 0;  // the whole object's size, so readers know when to stop
  std::string bytes;
  bool operator==(const Data&) const = default;
};
struct List {
  uint64_t seq = 0;
  std::string prefix;
  std::string start_after;  // "" for the first page
  bool operator==(const List&) const = default;
};
struct ListEntry {
  std::string key;
  uint64_t size = 0;
  bool operator==(const ListEntry&) const = default;
};
struct Listing {
  uint64_t seq = 0;
  std::vector<ListEntry> entries;  // sorted by key
  bool more = false;               // ask again with start_after = last key
  bool operator==(const Listing&) const = default;
};
struct GetTree {
  uint64_t seq = 0;
  Id id;
  // Where the answer starts in the decoded tree: a tree larger than one
  // `data` frame is fetched in pages (Data::object_size says when to stop).
  uint64_t offset = 0;
  bool operator==(const GetTree&) const = default;
};
struct Put {
  uint64_t seq = 0;
  std::string key;
  uint64_t total_size = 0;
  uint64_t offset = 0;  // parts arrive in order: 0, then each part's end
  std::string bytes;
  bool operator==(const Put&) const = default;
};
struct Ack {
  uint64_t seq = 0;
  bool operator==(const Ack&) const = default;
};
struct Bye {
  bool operator==(const Bye&) const = default;
};
struct GetPolicies {
  uint64_t seq = 0;
  bool operator==(const GetPolicies&) const = default;
};
struct PolicyText {
  std::string name;
  std::string yaml;  // exactly as applied at the vault
  bool operator==(const PolicyText&) const = default;
};
struct Policies {
  uint64_t seq = 0;
  std::vector<PolicyText> policies;  // sorted by name
  bool operator==(const Policies&) const = default;
};

// Questions to the catalog the vault keeps of the namespace, and answers:
// JSON text (catalog/index/catalog_query.h).
inline constexpr size_t kMaxCatalogRequest = 64u << 10;
struct CatalogQuery {
  uint64_t seq = 0;
  std::string request;
  bool operator==(const CatalogQuery&) const = default;
};
struct CatalogAnswer {
  uint64_t seq = 0;
  std::string answer;  // at most kMaxDataBytes
  bool operator==(const CatalogAnswer&) const = default;
};

using Message = std::variant<Hello, Welcome, Query, Missing, Blob, Credit, Commit, Committed, Error,
                             Ping, Pong, Get, Data, List, Listing, GetTree, Put, Ack, Bye,
                             GetPolicies, Policies, CatalogQuery, CatalogAnswer>;

Type TypeOf(const Message& m);
// The seq of a request or of the answer to one; nullopt for types without.
std::optional<uint64_t> SeqOf(const Message& m);
const char* TypeName(Type t);

// Encodes one frame. InvalidArgument when a field exceeds the limits above
// (the sender must never produce a frame the receiver would refuse).
Result<std::string> EncodeMessage(const Message& m);
Result<Message> DecodeMessage(std::string_view frame);

}  // namespace dr::wire
