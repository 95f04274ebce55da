// The golden vectors' manifest (tests/data/golden-v1/expected.txt) and the
// independent readers golden_test.cc compares a restore with: SHA-256 and a
// walk of the restored tree with plain system calls, so no check depends on
// the code under test; and the fixture both golden test files share.
#pragma once

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <fstream>
#include <memory>

#include "catalog/checker.h"
#include "catalog/format/tree.h"
#include "catalog/repository.h"
#include "core/envelope.h"
#include "tests/test_util.h"

namespace dr::golden {

namespace fs = std::filesystem;

// ---- SHA-256 (FIPS 180-4), written here so the content check does not
// depend on the code under test.
class Sha256 {
 public:
  void Update(std::string_view data) {
    bytes_ += data.size();
    while (!data.empty()) {
      const size_t n = std::min(data.size(), 64 - fill_);
      std::memcpy(block_.data() + fill_, data.data(), n);
      fill_ += n;
      data.remove_prefix(n);
      if (fill_ == 64) Compress();
    }
  }
  std::string HexDigest() {
    const uint64_t bits = bytes_ * 8;
    block_[fill_++] = 0x80;
    if (fill_ > 56) {
      while (fill_ < 64) block_[fill_++] = 0;
      Compress();
    }
    while (fill_ < 56) block_[fill_++] = 0;
    for (int i = 7; i >= 0; --i) block_[fill_++] = static_cast<uint8_t>(bits >> (8 * i));
    Compress();
    char out[65];
    for (int i = 0; i < 8; ++i) std::snprintf(out + 8 * i, 9, "%08x", h_[i]);
    return std::string(out, 64);
  }

 private:
  static uint32_t Rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
  void Compress() {
    static constexpr uint32_t k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2};
    uint32_t w[64];
    for (int i = 0; i < 16; ++i) {
      w[i] = uint32_t{block_[4 * i]} << 24 | uint32_t{block_[4 * i + 1]} << 16 |
             uint32_t{block_[4 * i + 2]} << 8 | uint32_t{block_[4 * i + 3]};
    }
    for (int i = 16; i < 64; ++i) {
      uint32_t s0 = Rotr(w[i - 15], 7) ^ Rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      uint32_t s1 = Rotr(w[i - 2], 17) ^ Rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4], f = h_[5], g = h_[6], h = h_[7];
    for (int i = 0; i < 64; ++i) {
      uint32_t t1 =
          h + (Rotr(e, 6) ^ Rotr(e, 11) ^ Rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
      uint32_t t2 = (Rotr(a, 2) ^ Rotr(a, 13) ^ Rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    h_[0] += a, h_[1] += b, h_[2] += c, h_[3] += d, h_[4] += e, h_[5] += f, h_[6] += g, h_[7] += h;
    fill_ = 0;
  }
  uint32_t h_[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::array<uint8_t, 64> block_{};
  size_t fill_ = 0;
  uint64_t bytes_ = 0;
};

inline std::string Sha256Hex(std::string_view data) {
  Sha256 s;
  s.Update(data);
  return s.HexDigest();
}

// ---- expected.txt (its format is described at the top of tools/make-golden)

inline std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

inline std::string HexDecode(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

inline std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      out.emplace_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

using Fields = std::map<std::string, std::string>;

struct Expected {
  std::string path;  // relative to the snapshot's source; "." is the source itself
  Fields f;
  std::string type() const { return f.at("type"); }
  uint32_t mode() const { return static_cast<uint32_t>(std::stoul(f.at("mode"), nullptr, 8)); }
  uint32_t uid() const { return static_cast<uint32_t>(std::stoul(f.at("uid"))); }
  uint32_t gid() const { return static_cast<uint32_t>(std::stoul(f.at("gid"))); }
  uint64_t size() const { return std::stoull(f.at("size")); }
  int64_t mtime_ns() const { return std::stoll(f.at("mtime_ns")); }
  std::string target() const { return f.at("target") == "-" ? "" : PercentDecode(f.at("target")); }
  std::string hardlink() const {
    return f.at("hardlink") == "-" ? "" : PercentDecode(f.at("hardlink"));
  }
  // "MAJ:MIN" as a dev_t.
  dev_t rdev() const {
    auto parts = Split(f.at("rdev"), ':');
    return makedev(std::stoul(parts[0]), std::stoul(parts[1]));
  }
  std::map<std::string, std::string> xattrs() const {
    std::map<std::string, std::string> out;
    if (f.at("xattrs") == "-") return out;
    for (const auto& kv : Split(f.at("xattrs"), ',')) {
      size_t eq = kv.find('=');
      out[PercentDecode(kv.substr(0, eq))] = HexDecode(kv.substr(eq + 1));
    }
    return out;
  }
};

struct ExpectedSnapshot {
  std::string label;
  Fields f;
  std::vector<Expected> entries;
  std::string id() const { return f.at("id"); }
  bool block() const { return f.at("kind") == "block"; }
  std::string path() const { return PercentDecode(f.at("path")); }
  std::vector<std::string> tags() const {
    std::vector<std::string> out;
    if (f.at("tags") != "-") {
      for (const auto& t : Split(f.at("tags"), ',')) out.push_back(PercentDecode(t));
    }
    return out;
  }
};

struct Manifest {
  int format = 0;
  Fields repo;
  std::vector<ExpectedSnapshot> snapshots;  // in the order they were taken
  const ExpectedSnapshot* Find(const std::string& label) const {
    for (const auto& s : snapshots)
      if (s.label == label) return &s;
    return nullptr;
  }
};

inline Fields ParseFields(const std::vector<std::string>& tokens, size_t from) {
  Fields f;
  for (size_t i = from; i < tokens.size(); ++i) {
    size_t eq = tokens[i].find('=');
    if (eq == std::string::npos) throw std::runtime_error("no '=' in " + tokens[i]);
    f[tokens[i].substr(0, eq)] = tokens[i].substr(eq + 1);
  }
  return f;
}

// Returns an empty string or the problem with expected.txt.
inline std::string ParseManifest(const std::string& text, Manifest* m) {
  std::map<std::string, std::vector<Expected>> entries;
  std::istringstream in(text);
  std::string line;
  int n = 0, format = 0;
  try {
    while (std::getline(in, line)) {
      ++n;
      if (line.empty() || line[0] == '#') continue;
      auto t = Split(line, ' ');
      if (t[0] == "format") {
        format = std::stoi(t.at(1));
      } else if (t[0] == "repo") {
        m->repo = ParseFields(t, 1);
      } else if (t[0] == "snapshot") {
        m->snapshots.push_back({t.at(1), ParseFields(t, 2), {}});
      } else if (t[0] == "entry") {
        entries[t.at(1)].push_back({PercentDecode(t.at(2)), ParseFields(t, 3)});
      } else {
        return "line " + std::to_string(n) + ": unknown record " + t[0];
      }
    }
  } catch (const std::exception& e) {
    return "line " + std::to_string(n) + ": " + e.what();
  }
  if (format != 1 && format != 2) return "format is not 1 or 2";
  m->format = format;
  for (auto& s : m->snapshots) s.entries = std::move(entries[s.label]);
  return "";
}

// ---- the restored tree, read with plain system calls

struct Live {
  struct stat st {};
  std::string content_sha256;  // regular files
  std::string target;          // symlinks
  std::map<std::string, std::string> xattrs;
};

inline std::map<std::string, std::string> ReadXattrsOf(const std::string& path) {
  std::map<std::string, std::string> out;
  std::vector<char> names(65536);
  ssize_t n = ::llistxattr(path.c_str(), names.data(), names.size());
  for (ssize_t i = 0; i < n;) {
    std::string name = names.data() + i;
    i += static_cast<ssize_t>(name.size()) + 1;
    std::vector<char> value(65536);
    ssize_t m = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    out[name] = std::string(value.data(), m > 0 ? static_cast<size_t>(m) : 0);
  }
  return out;
}

// Every entry below `root` (and `root` itself, as "."), by relative path.
inline void WalkLive(const std::string& root, const std::string& rel,
                     std::map<std::string, Live>* out) {
  const std::string path = rel == "." ? root : root + "/" + rel;
  Live l;
  if (::lstat(path.c_str(), &l.st) != 0) return;
  l.xattrs = ReadXattrsOf(path);
  if (S_ISREG(l.st.st_mode)) l.content_sha256 = Sha256Hex(test::ReadFile(path));
  if (S_ISLNK(l.st.st_mode)) {
    std::vector<char> buf(4096);
    ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
    l.target.assign(buf.data(), n > 0 ? static_cast<size_t>(n) : 0);
  }
  (*out)[rel] = l;
  if (S_ISDIR(l.st.st_mode)) {
    for (const auto& e : fs::directory_iterator(path)) {
      std::string name = e.path().filename().string();
      WalkLive(root, rel == "." ? name : rel + "/" + name, out);
    }
  }
}

inline std::string TypeOf(mode_t m) {
  if (S_ISREG(m)) return "file";
  if (S_ISDIR(m)) return "dir";
  if (S_ISLNK(m)) return "symlink";
  if (S_ISFIFO(m)) return "fifo";
  if (S_ISCHR(m)) return "chardev";
  if (S_ISBLK(m)) return "blockdev";
  return "other";
}

inline bool IsAclName(const std::string& name) { return name.rfind("system.posix_acl_", 0) == 0; }

// The vectors of format version `v`: golden-v1 (plaintext) and golden-v2
// (the same content, encrypted; its key file is checked in beside it).
inline std::string GoldenDir(int v) {
  return std::string(DR_SOURCE_DIR) + "/tests/data/golden-v" + std::to_string(v);
}
inline const std::string kGolden = GoldenDir(1);

// Only root can create devices: as another user, restore reports them (and
// the comparisons skip them).
inline bool DeviceErrorAsNonRoot(const std::string& restore_error) {
  return !test::IsRoot() && (restore_error.find("/chardev") != std::string::npos ||
                             restore_error.find("/blockdev") != std::string::npos);
}

// ---- the fixture: one copy of the checked-in repository per test binary run

inline std::string ReadBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// Keys of every object under `dir` (a dir:// repository), e.g. "data/ab/ab…".
inline std::vector<std::string> Keys(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> out;
  if (!fs::exists(dir + "/" + prefix)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir + "/" + prefix)) {
    if (e.is_regular_file()) out.push_back(fs::relative(e.path(), dir).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

template <int V>
class GoldenAt : public ::testing::Test {
 public:
  static constexpr int kFormat = V;
  // What opens the vectors: nothing for version 1, the checked-in key file
  // for version 2.
  static KeySource OpenKeys() {
    KeySource k;
    if (V == 2) k.key_file = GoldenDir(V) + "/golden.key";
    return k;
  }

 protected:
  // The repository is copied first, so nothing a test does (or a future
  // Open that tidies up) can change the checked-in vectors.
  static void SetUpTestSuite() {
    dir_ = new test::TempDir("golden");
    const std::string golden = GoldenDir(V);
    const std::string text = test::ReadFile(golden + "/expected.txt");
    manifest_ = new Manifest;
    setup_error_ = ParseManifest(text, manifest_);
    if (setup_error_.empty() && manifest_->format != V) {
      setup_error_ =
          "format is " + std::to_string(manifest_->format) + ", not " + std::to_string(V);
    }
    if (!setup_error_.empty()) {
      setup_error_ = golden + "/expected.txt: " + setup_error_;
      return;
    }
    std::error_code ec;
    fs::copy(golden + "/repo", repo_dir(), fs::copy_options::recursive, ec);
    if (ec) {
      setup_error_ = "copy " + golden + "/repo: " + ec.message();
      return;
    }
    auto store = OpenObjectStore("dir://" + repo_dir());
    if (!store.ok()) {
      setup_error_ = store.status().ToString();
      return;
    }
    auto repo = Repository::Open(std::move(store).value(), "", OpenKeys());
    if (!repo.ok()) {
      setup_error_ = "open golden repository: " + repo.status().ToString();
      return;
    }
    repo_ = std::move(repo).value().release();
  }
  static void TearDownTestSuite() {
    delete repo_;
    delete manifest_;
    delete dir_;
    repo_ = nullptr;
    manifest_ = nullptr;
    dir_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(repo_, nullptr) << setup_error_; }

  static std::string repo_dir() { return dir_->path() + "/repo"; }
  static Repository& repo() { return *repo_; }
  static const Manifest& manifest() { return *manifest_; }

  // The checked-in config, decoded by its own codec (not by Open).
  static RepoConfig Config() {
    auto c = RepoConfig::Decode(ReadBytes(repo_dir() + "/config"), "golden config");
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? *c : RepoConfig{};
  }

  // Every blob's place, from the index segments decoded directly.
  static std::map<Id, std::pair<Id, PackEntry>> BlobPlaces() {
    std::map<Id, std::pair<Id, PackEntry>> out;
    for (const auto& key : Keys(repo_dir(), "index")) {
      auto seg = DecodeIndexSegment(ReadBytes(repo_dir() + "/" + key), key);
      EXPECT_TRUE(seg.ok()) << seg.status().ToString();
      if (!seg.ok()) continue;
      for (const auto& p : *seg)
        for (const auto& e : p.entries) out.emplace(e.id, std::make_pair(p.pack, e));
    }
    return out;
  }

  // A metadata blob's raw bytes, read from its pack file and decoded with
  // DecodeBlob, without going through Repository.
  static Result<std::string> LoadRaw(const Id& id) {
    static const auto places = BlobPlaces();
    static const KeyedHasher hasher(Config().secret);
    auto it = places.find(id);
    if (it == places.end()) return Status::NotFound("blob " + id.Hex() + " is in no index segment");
    const auto& [pack, e] = it->second;
    static std::map<std::string, std::string> packs;  // path -> bytes, read once
    const std::string path = repo_dir() + "/" + PackKey(pack);
    auto [at, fresh] = packs.emplace(path, "");
    if (fresh) at->second = ReadBytes(path);
    const std::string& bytes = at->second;
    if (bytes.size() < uint64_t{e.offset} + e.stored_len)
      return Status::Corruption("pack " + pack.Hex() + " is shorter than its index says");
    return DecodeBlob(std::string_view(bytes).substr(e.offset, e.stored_len), e.raw_len, id, hasher,
                      "blob " + id.Hex() + " in pack " + pack.Hex());
  }

  static Snapshot SnapshotOf(const ExpectedSnapshot& es) {
    Id id;
    EXPECT_TRUE(Id::FromHex(es.id(), &id));
    auto s = DecodeSnapshotObject(ReadBytes(repo_dir() + "/" + SnapshotKey(id)), repo_->keyring(),
                                  es.label);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    if (!s.ok()) return Snapshot{};
    s->id = id;
    return *s;
  }

  inline static test::TempDir* dir_ = nullptr;
  inline static Manifest* manifest_ = nullptr;
  inline static Repository* repo_ = nullptr;
  inline static std::string setup_error_;
};
// The version-1 vectors, decoded object by object (golden_decode_test.cc).
using Golden = GoldenAt<1>;

// Checks the envelope frame by hand, as docs/format/envelope.md lays it out.
inline void ExpectEnvelope(const std::string& obj, EnvelopeKind kind, const std::string& what) {
  ASSERT_GE(obj.size(), 24u) << what;
  EXPECT_EQ(obj.substr(0, 4), "DRO1") << what;
  EXPECT_EQ(static_cast<uint8_t>(obj[4]), static_cast<uint8_t>(kind)) << what << ": kind";
  EXPECT_EQ(static_cast<uint8_t>(obj[5]), 1) << what << ": envelope version";
  uint64_t len = 0, sum = 0;
  for (int i = 7; i >= 0; --i) len = len << 8 | static_cast<uint8_t>(obj[8 + i]);
  for (int i = 7; i >= 0; --i) sum = sum << 8 | static_cast<uint8_t>(obj[obj.size() - 8 + i]);
  EXPECT_EQ(len + 24, obj.size()) << what << ": payload length";
  EXPECT_EQ(sum, Checksum64(std::string_view(obj).substr(0, obj.size() - 8))) << what;
  auto payload = OpenEnvelope(kind, obj, what);
  EXPECT_TRUE(payload.ok()) << payload.status().ToString();
}

// ---- decoding each object kind directly

}  // namespace dr::golden
