#include "catalog/format/repo_config.h"

#include <sys/random.h>

#include <cerrno>
#include <chrono>
#include <nlohmann/json.hpp>

#include "catalog/format/json_fields.h"
#include "core/envelope.h"
#include "core/hash.h"

namespace dr {

using json = nlohmann::json;

Status ChunkerParams::Validate() const {
  if (min_size < 64 || !(min_size < avg_size && avg_size < max_size)) {
    return Status::InvalidArgument("chunker sizes must satisfy 64 <= min < avg < max (got " +
                                   std::to_string(min_size) + "/" + std::to_string(avg_size) + "/" +
                                   std::to_string(max_size) + ")");
  }
  if ((avg_size & (avg_size - 1)) != 0) {
    return Status::InvalidArgument("chunker average size must be a power of two (got " +
                                   std::to_string(avg_size) + ")");
  }
  if (max_size > (64u << 20)) {
    return Status::InvalidArgument("chunker maximum size must be at most 64 MiB");
  }
  return Status::OK();
}

Status RandomBytes(size_t n, std::string* out) {
  out->assign(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::getrandom(out->data() + got, n - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "getrandom");
    }
    got += static_cast<size_t>(r);
  }
  return Status::OK();
}

Result<RepoConfig> RepoConfig::Generate(const ChunkerParams& chunker, uint32_t pack_size,
                                        int compression_level, bool encrypted) {
  RETURN_IF_ERROR(chunker.Validate());
  if (pack_size < kMinPackSize || pack_size > kMaxPackSize) {
    return Status::InvalidArgument("pack size must be between 1 MiB and 1 GiB");
  }
  if (compression_level < 0 || compression_level > kMaxCompressionLevel) {
    return Status::InvalidArgument("compression level must be 0 (off) to 19");
  }
  RepoConfig c;
  std::string id;
  RETURN_IF_ERROR(RandomBytes(16, &id));
  c.repo_id = ToHex(id);
  if (encrypted) {
    c.format_version = kEncryptedRepoFormatVersion;
    RETURN_IF_ERROR(RandomBytes(192, &c.object_secret));
  } else {
    RETURN_IF_ERROR(RandomBytes(192, &c.secret));
  }
  c.chunker = chunker;
  c.pack_size = pack_size;
  c.compression_level = compression_level;
  c.created_unix_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  return c;
}

namespace {

bool HexToBytes(const std::string& hex, std::string* out) {
  if (hex.size() % 2) return false;
  out->clear();
  for (size_t i = 0; i < hex.size(); i += 2) {
    int v = 0;
    for (int k = 0; k < 2; ++k) {
      char c = hex[i + k];
      int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
      if (d < 0) return false;
      v = v * 16 + d;
    }
    out->push_back(static_cast<char>(v));
  }
  return true;
}

struct HexForm {  // raw bytes as lower-case hex
  static constexpr const char* kExpected = "lower-case hex of at most 65536 digits";
  static json ToJson(const std::string& b) { return ToHex(b); }
  static bool FromJson(const json& j, std::string* b) {
    return j.is_string() &&
           j.get_ref<const std::string&>().size() <= jsonfields::kMaxJsonStringBytes &&
           HexToBytes(j.get_ref<const std::string&>(), b);
  }
};

bool IsRepoId(const std::string& s) {
  return s.size() == 32 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// The config object of docs/format/config.md, for jsonfields::JsonWriter
// (Encode) and JsonReader (Decode).
template <class A, codec::Of<RepoConfig> C>
void ConfigFields(A& a, C& c) {
  a.VersionIn("format_version", c.format_version, kRepoFormatVersion, kEncryptedRepoFormatVersion);
  a.Field("repo_id", c.repo_id);
  a.Check(IsRepoId(c.repo_id), "repo_id is not 32 lower-case hex digits");
  a.Field("id_algorithm", c.id_algorithm);
  a.Object("chunker", [&](auto& o) {
    o.Field("algorithm", c.chunker_algorithm);
    o.Field("min_size", c.chunker.min_size);
    o.Field("avg_size", c.chunker.avg_size);
    o.Field("max_size", c.chunker.max_size);
  });
  if (c.format_version == kEncryptedRepoFormatVersion) {
    a.Object("encryption", [&](auto& o) {
      o.Const("cipher", "xchacha20poly1305-ietf");
      o.Const("kdf", "argon2id13");
    });
    a.Field("object_secret", c.object_secret, HexForm{});
    a.Check(c.object_secret.size() >= 136, "object_secret is not at least 136 bytes of hex");
  } else {
    a.Field("secret", c.secret, HexForm{});
    a.Check(c.secret.size() >= 136, "secret is not at least 136 bytes of hex");
  }
  a.Number("pack_size", c.pack_size, kMinPackSize, kMaxPackSize);
  a.Object("compression", [&](auto& o) {
    o.Const("algorithm", "zstd");
    o.Number("level", c.compression_level, 0, kMaxCompressionLevel);
  });
  a.Field("created_unix_ns", c.created_unix_ns);
}

}  // namespace

std::string RepoConfig::Encode() const {
  json j = json::object();
  jsonfields::JsonWriter w(&j);
  ConfigFields(w, *this);
  // Never throws: every string Generate makes is ASCII, and anything else
  // has its bad bytes replaced (valid UTF-8 dumps to the same bytes).
  return SealEnvelope(EnvelopeKind::kConfig, j.dump(2, ' ', false, json::error_handler_t::replace));
}

Result<RepoConfig> RepoConfig::Decode(std::string_view object, const std::string& what) {
  ASSIGN_OR_RETURN(std::string payload, OpenEnvelope(EnvelopeKind::kConfig, object, what));
  RepoConfig c;
  try {
    const json j = json::parse(payload);
    if (!j.is_object()) throw jsonfields::BadField("not a JSON object");
    jsonfields::JsonReader r(j);
    ConfigFields(r, c);
  } catch (const jsonfields::UnsupportedVersion& e) {
    return Status::InvalidArgument(
        what + ": repository format version " + std::to_string(e.version) +
        " is not supported (this program reads versions " + std::to_string(kRepoFormatVersion) +
        " and " + std::to_string(kEncryptedRepoFormatVersion) + ")");
  } catch (const std::exception& e) {
    return Status::Corruption(what + ": " + e.what());
  }
  if (c.id_algorithm != kIdAlgorithm || c.chunker_algorithm != kChunkerAlgorithm) {
    return Status::InvalidArgument(what + ": unsupported algorithms " + c.id_algorithm + " / " +
                                   c.chunker_algorithm);
  }
  RETURN_IF_ERROR(c.chunker.Validate().WithContext(what));
  return c;
}

}  // namespace dr
