#include "catalog/format/repo_config.h"

#include <sys/random.h>

#include <cerrno>
#include <chrono>
#include <nlohmann/json.hpp>

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
                                        int compression_level) {
  RETURN_IF_ERROR(chunker.Validate());
  if (pack_size < (1 << 20) || pack_size > (1u << 30)) {
    return Status::InvalidArgument("pack size must be between 1 MiB and 1 GiB");
  }
  if (compression_level < 0 || compression_level > 19) {
    return Status::InvalidArgument("compression level must be 0 (off) to 19");
  }
  RepoConfig c;
  std::string id;
  RETURN_IF_ERROR(RandomBytes(16, &id));
  c.repo_id = ToHex(id);
  RETURN_IF_ERROR(RandomBytes(192, &c.secret));
  c.chunker = chunker;
  c.pack_size = pack_size;
  c.compression_level = compression_level;
  c.created_unix_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  return c;
}

std::string RepoConfig::Encode() const {
  json j = {
      {"format_version", format_version},
      {"repo_id", repo_id},
      {"id_algorithm", id_algorithm},
      {"chunker",
       {{"algorithm", chunker_algorithm},
        {"min_size", chunker.min_size},
        {"avg_size", chunker.avg_size},
        {"max_size", chunker.max_size}}},
      {"secret", ToHex(secret)},
      {"pack_size", pack_size},
      {"compression", {{"algorithm", "zstd"}, {"level", compression_level}}},
      {"created_unix_ns", created_unix_ns},
  };
  return SealEnvelope(EnvelopeKind::kConfig, j.dump(2));
}

static bool HexToBytes(const std::string& hex, std::string* out) {
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

Result<RepoConfig> RepoConfig::Decode(std::string_view object, const std::string& what) {
  ASSIGN_OR_RETURN(std::string payload, OpenEnvelope(EnvelopeKind::kConfig, object, what));
  RepoConfig c;
  try {
    json j = json::parse(payload);
    c.format_version = j.at("format_version").get<int>();
    if (c.format_version != kRepoFormatVersion) {
      return Status::InvalidArgument(what + ": repository format version " +
                                     std::to_string(c.format_version) +
                                     " is not supported (this program reads version " +
                                     std::to_string(kRepoFormatVersion) + ")");
    }
    c.repo_id = j.at("repo_id").get<std::string>();
    c.id_algorithm = j.at("id_algorithm").get<std::string>();
    c.chunker_algorithm = j.at("chunker").at("algorithm").get<std::string>();
    c.chunker.min_size = j.at("chunker").at("min_size").get<uint32_t>();
    c.chunker.avg_size = j.at("chunker").at("avg_size").get<uint32_t>();
    c.chunker.max_size = j.at("chunker").at("max_size").get<uint32_t>();
    if (!HexToBytes(j.at("secret").get<std::string>(), &c.secret) || c.secret.size() < 136) {
      return Status::Corruption(what + ": secret is not at least 136 bytes of hex");
    }
    c.pack_size = j.at("pack_size").get<uint32_t>();
    c.compression_level = j.at("compression").at("level").get<int>();
    c.created_unix_ns = j.at("created_unix_ns").get<int64_t>();
  } catch (const json::exception& e) {
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
