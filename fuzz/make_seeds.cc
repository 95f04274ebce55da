// Writes the seed corpus of every fuzz target (fuzz/corpus/TARGET/) from the
// project's own encoders, and from the golden repository of
// tests/data/golden-v1 when given: real objects, a few of each kind.
//
//   make_seeds OUT_DIR [GOLDEN_REPO_DIR]
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include "catalog/change_record.h"
#include "catalog/format/blob.h"
#include "catalog/format/block_map.h"
#include "catalog/format/index.h"
#include "catalog/format/pack.h"
#include "catalog/format/repo_config.h"
#include "catalog/format/snapshot.h"
#include "catalog/format/tree.h"
#include "catalog/history.h"
#include "catalog/signed_log.h"
#include "catalog/signing.h"
#include "catalog/snapshot_summary.h"
#include "catalog/store/testing/mem_store.h"
#include "fuzz/fuzz_util.h"
#include "replicator/vault/agent_registry.h"
#include "replicator/wire/protocol.h"

namespace fs = std::filesystem;
using namespace dr;

namespace {

fs::path g_out;
constexpr std::string_view kPartSeparator = "\xff\xfeSEG";

void Write(const std::string& target, const std::string& name, std::string_view bytes) {
  fs::create_directories(g_out / target);
  std::ofstream(g_out / target / name, std::ios::binary).write(bytes.data(), bytes.size());
}

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

Id SomeId(int i) { return fuzz::FuzzHasher().Hash("id " + std::to_string(i)); }

std::string Text(size_t n, int seed) {
  std::string s;
  while (s.size() < n) s += "line " + std::to_string(seed * 7919 + s.size()) + " of some text\n";
  s.resize(n);
  return s;
}

std::string Le(uint64_t v, int bytes) {
  std::string s(bytes, '\0');
  std::memcpy(s.data(), &v, bytes);
  return s;
}

Tree SampleTree() {
  Tree t;
  auto node = [](std::string name, NodeType type) {
    Node n;
    n.name = std::move(name);
    n.type = type;
    n.mode = 0644;
    n.user = "root";
    n.group = "root";
    n.mtime_ns = 1700000000123456789;
    n.ctime_ns = -86400250000000;
    n.device = 2049;
    n.inode = 1234;
    return n;
  };
  Node dir = node("dir", NodeType::kDir);
  dir.mode = 02775;
  dir.subtree = SomeId(1);
  dir.xattrs = {{"system.posix_acl_default", std::string("\x02\0\0\0\x01\0\x07\0", 8)}};
  Node file = node("file.txt", NodeType::kFile);
  file.size = 300000;
  file.content = {{false, 100000, SomeId(2)}, {true, 150000, {}}, {false, 50000, SomeId(3)}};
  file.digest = SomeId(4);
  file.nlink = 2;
  file.hardlink_group = 1;
  file.xattrs = {{"user.a", "1"}, {"user.b", std::string("\0\xff", 2)}};
  Node fifo = node("fifo", NodeType::kFifo);
  Node link = node("link", NodeType::kSymlink);
  link.link_target = "../does/not/exist";
  Node chr = node("null", NodeType::kCharDev);
  chr.rdev = 0x103;
  Node blk = node("sda", NodeType::kBlockDev);
  blk.rdev = 0x800;
  Node gbk = node("\xd6\xd0\xce\xc4", NodeType::kFile);
  gbk.digest = SomeId(5);
  Node sock = node("sock", NodeType::kSocket);
  t.nodes = {dir, fifo, file, link, chr, sock, blk, gbk};
  std::sort(t.nodes.begin(), t.nodes.end(),
            [](const Node& a, const Node& b) { return a.name < b.name; });
  return t;
}

void TreeSeeds() {
  Write("tree", "empty", EncodeTree({}));
  const std::string t = EncodeTree(SampleTree());
  Write("tree", "all-types", t);
  Write("metadata_refs", "tree-all-types", t);
  Tree one;
  one.nodes = {SampleTree().nodes[0]};
  Write("tree", "one", EncodeTree(one));
}

BlockMap SampleMap(uint64_t blocks, uint32_t block_size, uint64_t chunk_every) {
  BlockMap m{block_size, blocks * block_size - 100, {}};
  for (uint64_t i = 0; i < blocks; ++i) {
    BlockRef b;
    if (i % chunk_every == 0) b = {false, SomeId(static_cast<int>(i))};
    m.blocks.push_back(b);
  }
  return m;
}

void BlockMapSeeds() {
  int n = 0;
  // Two segments, mostly zero blocks (one byte each), to keep the seed small.
  for (const BlockMap& m :
       {SampleMap(3, kMinBlockSize, 2), SampleMap(kBlocksPerSegment + 2, 1 << 20, 1000)}) {
    const EncodedBlockMap e = EncodeBlockMap(m, fuzz::FuzzHasher());
    std::string all = e.head;
    for (const auto& [id, seg] : e.segments) all += std::string(kPartSeparator) + seg;
    Write("block_map", "map-" + std::to_string(n), all);
    Write("metadata_refs", "head-" + std::to_string(n), e.head);
    Write("metadata_refs", "segment-" + std::to_string(n), e.segments.back().second);
    ++n;
  }
}

void PackSeeds() {
  PackBuilder b;
  const std::string text = Text(5000, 1), tree = EncodeTree(SampleTree());
  const std::string ctext = EncodeBlob(text, 3), ctree = EncodeBlob(tree, 3);
  b.Add(BlobType::kData, fuzz::FuzzHasher().Hash(text), ctext, text.size());
  b.Add(BlobType::kTree, fuzz::FuzzHasher().Hash(tree), ctree, tree.size());
  b.Add(BlobType::kData, SomeId(9), "tiny", 4);
  const auto entries = b.entries();
  const std::string pack = b.Finish();
  Write("pack", "three-blobs", pack);
  Write("pack_trailer", "three-blobs",
        Le(pack.size(), 8) + pack.substr(pack.size() - kPackTrailerSize));
  PackBuilder empty;
  const std::string e = empty.Finish();
  Write("pack", "empty", e);
  Write("pack_trailer", "empty", Le(e.size(), 8) + e);

  IndexPack ip{SomeId(100), entries};
  Write("index_segment", "one-pack", EncodeIndexSegment({ip}));
  Write("index_segment", "two-packs", EncodeIndexSegment({ip, {SomeId(101), {}}}));
  Write("index_segment", "empty", EncodeIndexSegment({}));

  auto blob = [](const std::string& name, std::string_view raw, int level) {
    const std::string stored = EncodeBlob(raw, level);
    Write("blob", name,
          Le(raw.size(), 4) + std::string(fuzz::FuzzHasher().Hash(raw).Bytes()) + stored);
  };
  blob("text-zstd", text, 3);
  blob("text-raw", text.substr(0, 300), 0);
  blob("tree-zstd", tree, 19);
  blob("empty", "", 3);
}

Snapshot SampleSnapshot() {
  Snapshot s;
  s.time_ns = 1764470000123456789;
  s.host = "records-01";
  s.username = "root";
  s.paths = {"/home", std::string("/srv/\xd6\xd0\xce\xc4")};
  s.tags = {"nightly", "finance"};
  s.parent = SomeId(20);
  s.tree = SomeId(21);
  s.consistency = "btrfs-snapshot";
  s.partial = true;
  s.warnings = {"cannot read /home/x: Permission denied"};
  s.stats = {1, 2, 3, 4, 5, 600, 700, 80, 9, 1, 12.5};
  s.program_version = "0.1.0";
  s.identity = "records-01";
  s.agent_time_ns = 1764470000000000000;
  return s;
}

void SnapshotSeeds() {
  Snapshot s = SampleSnapshot();
  Write("snapshot", "files", EncodeSnapshot(s));
  s.block = BlockInfo{"device", 1 << 20, 10ull << 30, 10240, 5000, 100, 9000, "extent-compare"};
  s.parent.reset();
  s.agent_time_ns.reset();
  Write("snapshot", "block", EncodeSnapshot(s));
  Write("snapshot", "minimal", EncodeSnapshot(Snapshot{}));

  RepoConfig c;
  c.repo_id = "0123456789abcdef0123456789abcdef";
  c.secret = fuzz::FuzzSecret();
  c.created_unix_ns = 1764470000123456789;
  Write("repo_config", "default", c.Encode());
  c.chunker = {16 << 10, 64 << 10, 256 << 10};
  c.pack_size = 1 << 20;
  c.compression_level = 0;
  Write("repo_config", "small-chunks", c.Encode());
}

void WireSeeds() {
  using namespace wire;
  const std::vector<Message> all = {
      Hello{"records-01", "finance", 42, 17},
      Welcome{42, 64 << 20, 17, 256 << 10, 1 << 20, 4 << 20, fuzz::FuzzSecret(), 3, "records-01"},
      Query{7, {SomeId(1), SomeId(2), SomeId(3)}},
      Missing{7, {SomeId(2)}},
      Blob{9, BlobType::kData, SomeId(4), 5000, EncodeBlob(Text(5000, 2), 3)},
      Credit{16 << 20, 9},
      Commit{10, EncodeSnapshot(SampleSnapshot())},
      Committed{10, SomeId(5)},
      Error{3, 6, "agent records-01 may not write namespace hr"},
      Ping{123456789},
      Pong{123456789},
      Get{11, "data/ab/abcdef", 4096, 1 << 20},
      Data{11, 16 << 20, Text(300, 3)},
      List{12, "index/", "index/00ff"},
      Listing{12, {{"index/0100", 4000}, {"index/0200", 12}}, true},
      GetTree{13, SomeId(6)},
      Put{14, "data/ab/abcdef", 10000, 5000, Text(200, 4)},
      Ack{14},
      Bye{},
      GetPolicies{15},
      Policies{15, {{"web", "name: web\nnamespace: records\n"}}},
      CatalogQuery{16, R"({"query":"find","pattern":"2a","changed":false,"limit":0})"},
      CatalogAnswer{16, R"({"versions":[]})"}};
  for (const Message& m : all) {
    auto f = EncodeMessage(m);
    if (!f.ok()) {
      std::fprintf(stderr, "make_seeds: %s\n", f.status().ToString().c_str());
      std::exit(1);
    }
    Write("wire_message", TypeName(TypeOf(m)), *f);
  }
}

void VaultSeeds() {
  Write("vault_config", "minimal",
        "listen: tcp://0.0.0.0:7400\nstate: /var/lib/drvault\nrepository: dir:///srv/vault\n");
  Write("vault_config", "full",
        "# same-city vault\n"
        "listen: tcp://0.0.0.0:7400\n"
        "state: /var/lib/drvault\n"
        "repository: rados://backups?conf=/etc/ceph/ceph.conf&id=drvault\n"
        "metrics: tcp://127.0.0.1:9400\n"
        "credit_mib: 64\n"
        "offsite:\n"
        "  endpoint: tcp://dr-offsite:7400\n"
        "  server_key: \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"\n"
        "  interval_s: 5\n");
  Write("vault_config", "flow",
        "{listen: 'ipc:///run/drvault.sock', state: /s, repository: /r, credit_mib: 8,"
        " offsite: {endpoint: 'tcp://x:1', server_key: /etc/drvault/offsite.pub}}\n");

  // Shapes that once threw out of the parser (vault_config_test.cc).
  const std::string base = "listen: tcp://a:1\nstate: /s\nrepository: /r\n";
  Write("vault_config", "offsite-scalar", base + "offsite: tcp://x:1\n");
  Write("vault_config", "sequence-key", base + "[a]: b\n");
  Write("vault_config", "null-key", base + "? \n: x\n");
  // ... and one that was accepted with an empty repository.
  Write("vault_config", "empty-repository",
        "listen: tcp://a:1\nstate: /s\nrepository: !r//repos///\n");

  std::vector<AgentEntry> agents = {
      {"records-01", "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID", "finance", kRightBackup, false,
       "2026-11-30T03:56:09Z", ""},
      {"restore-01", "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7", "finance",
       kRightBackup | kRightRestore, true, "2026-11-30T03:56:09Z", "2026-11-30T04:00:00Z"},
      {"offsite", "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6", "*", kRightReplicate, false,
       "2026-11-30T03:56:09Z", ""}};
  Write("agent_registry", "three", AgentRegistryText(agents));
  Write("agent_registry", "empty", AgentRegistryText({}));
  Write("agent_registry", "old-fields",
        R"({"agents":[{"name":"a","public_key":"k","namespace":"hr","rights":"restore,backup"}]})");
}

// Real objects of the golden repository (format version 1).
void GoldenSeeds(const fs::path& repo) {
  auto config = RepoConfig::Decode(Read(repo / "config"), "golden config");
  if (!config.ok()) {
    std::fprintf(stderr, "make_seeds: %s\n", config.status().ToString().c_str());
    std::exit(1);
  }
  Write("repo_config", "golden", Read(repo / "config"));
  const KeyedHasher hasher(config->secret);
  for (const auto& e : fs::directory_iterator(repo / "snapshots"))
    Write("snapshot", "golden-" + e.path().filename().string(), Read(e.path()));
  for (const auto& e : fs::directory_iterator(repo / "index"))
    Write("index_segment", "golden-" + e.path().filename().string(), Read(e.path()));
  std::map<Id, std::string> metadata;  // decoded tree and block map blobs
  for (const auto& e : fs::recursive_directory_iterator(repo / "data")) {
    if (!e.is_regular_file()) continue;
    const std::string pack = Read(e.path());
    const std::string name = "golden-" + e.path().filename().string().substr(0, 8);
    auto entries = ParsePack(pack, name);
    if (!entries.ok()) continue;
    Write("pack_trailer", name, Le(pack.size(), 8) + pack.substr(pack.size() - kPackTrailerSize));
    if (pack.size() < 100000) Write("pack", name, pack);
    for (const auto& b : *entries) {
      if (b.type != BlobType::kTree) continue;
      auto raw = DecodeBlob(std::string_view(pack).substr(b.offset, b.stored_len), b.raw_len, b.id,
                            hasher, name);
      if (raw.ok()) metadata[b.id] = *raw;
    }
  }
  int i = 0;
  for (const auto& [id, raw] : metadata) {
    const std::string kind = IsBlockMapHead(raw)      ? "head"
                             : IsBlockMapSegment(raw) ? "segment"
                                                      : "tree";
    Write("metadata_refs", "golden-" + kind + "-" + std::to_string(i), raw);
    if (kind == "tree" && raw.size() < 20000) Write("tree", "golden-" + std::to_string(i), raw);
    if (kind == "head") {
      std::string all = raw;
      auto refs = BlockMapReferences(raw, "golden head");
      for (const Id& seg : refs.ok() ? *refs : std::vector<Id>{})
        all += std::string(kPartSeparator) + metadata[seg];
      Write("block_map", "golden-" + std::to_string(i), all);
    }
    ++i;
  }
}

}  // namespace

// Signed log records (the audit log's and a history's format), signed with
// a key made from a fixed seed, so the seeds are the same every time.
void SignedLogSeeds() {
  auto key = dr::SigningKey::FromSeed(std::string(32, 's'));
  if (!key.ok()) return;
  auto mem = std::make_unique<dr::MemStore>();
  dr::MemStore* store = mem.get();
  const fs::path dir = fs::temp_directory_path() / "dr-make-seeds-log";
  fs::create_directories(dir);
  dr::SignedLog log(std::move(mem),
                    dr::HistoryLayout("hr", (dir / "head").string(), (dir / "lock").string()),
                    std::move(key).value());
  std::string chain;
  const char* actions[] = {"accept", "accept", "forget"};
  for (int i = 0; i < 3; ++i) {
    dr::LogRecord r;
    r.time_ns = 1'764'547'200'000'000'000LL + i;
    r.actor = i < 2 ? "agent clerk-01" : "vault";
    r.action = actions[i];
    r.subject = std::string(32, i == 2 ? 'a' : static_cast<char>('a' + i));
    r.details = {{"blake2b", dr::ChainDigest(i == 1 ? "another" : "a snapshot")},
                 {"namespace", "hr"}};
    if (!log.Append(std::move(r)).ok()) return;
    char k[32];
    std::snprintf(k, sizeof k, "history/%010d", i + 1);
    auto bytes = store->Get(k);
    if (!bytes.ok()) return;
    Write("signed_log", "record-" + std::to_string(i + 1), *bytes);
    chain += (i ? "\xff\xfeREC" : "") + *bytes;
  }
  Write("signed_log", "chain", chain);
  fs::remove_all(dir);
}

// The ransomware watch's records: a first of its group, an ordinary one and
// a flagged one with its lock.
void ChangeRecordSeeds() {
  dr::ChangeRecord first;
  first.snapshot.b.fill(1);
  first.signals.files_after = 1339;
  first.measured_ns = 1'764'547'200'000'000'000LL;
  Write("change_record", "first", dr::EncodeChangeRecord(first));
  dr::ChangeRecord churn = first;
  churn.snapshot.b.fill(2);
  churn.base = first.snapshot;
  churn.signals = {1339, 1339, 8, 1, 1, 1, 8, 5, 1};
  Write("change_record", "churn", dr::EncodeChangeRecord(churn));
  dr::ChangeRecord attack = churn;
  attack.snapshot.b.fill(3);
  attack.base = churn.snapshot;
  attack.signals = {1339, 1339, 0, 0, 0, 267, 267, 177, 177};
  attack.verdict.suspicious = true;
  attack.verdict.reasons = {"267 of 1339 files (19.9 %) renamed to another extension"};
  attack.locked = churn.snapshot;
  attack.locked_until_ns = attack.measured_ns + 30 * 86400'000'000'000LL;
  Write("change_record", "attack", dr::EncodeChangeRecord(attack));
}

// Key slots as `drctl init --encrypt` and `key add` write them.
void KeySlotSeeds() {
  const std::string salt(32, 'a'), wrapped(2 * (24 + 32 + 16), 'b');
  Write("key_slot", "passphrase",
        "{\"format\": 1, \"kind\": \"passphrase\", \"label\": \"admin\", "
        "\"created_unix_ns\": 1764547200000000000, \"wrapped_master\": \"" +
            wrapped + "\", \"kdf\": {\"algorithm\": \"argon2id13\", \"salt\": \"" + salt +
            "\", \"ops\": 3, \"mem\": 67108864}}");
  Write("key_slot", "key-file",
        "{\"format\": 1, \"kind\": \"key-file\", \"label\": \"\", \"created_unix_ns\": "
        "1764547200000000000, \"wrapped_master\": \"" +
            wrapped + "\"}");
  dr::Snapshot s;
  s.id = dr::Id::FromBytes(std::string(16, '\x11'));
  s.time_ns = 1764547200000000000;
  s.policy = "ledger";
  s.identity = "ledger-01";
  s.host = "db1";
  s.paths = {"/srv/ledger"};
  s.tags = {"nightly"};
  Write("key_slot", "snapshot-summary",
        dr::EncodeSnapshotSummary(s, dr::KeyedHasher(std::string(192, 'k')),
                                  {dr::Id::FromBytes(std::string(16, '\x21')),
                                   dr::Id::FromBytes(std::string(16, '\x22'))}));
}

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: make_seeds OUT_DIR [GOLDEN_REPO_DIR]\n");
    return 2;
  }
  g_out = argv[1];
  TreeSeeds();
  BlockMapSeeds();
  PackSeeds();
  SnapshotSeeds();
  WireSeeds();
  VaultSeeds();
  ChangeRecordSeeds();
  KeySlotSeeds();
  SignedLogSeeds();
  if (argc == 3) GoldenSeeds(argv[2]);
  return 0;
}
