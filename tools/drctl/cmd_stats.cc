#include <cstdio>

#include "core/timefmt.h"
#include "tools/drctl/cli.h"

namespace dr::cli {

void AddStatsCommand(CLI::App& app, GlobalOptions& g, Runner* run) {
  auto* cmd = app.add_subcommand("stats", "repository size, dedup and index figures");
  cmd->callback([&g, run] {
    *run = [&g] {
      auto repo = OpenRepo(g);
      if (!repo) return kExitError;
      auto snaps = repo->ListSnapshots();
      if (!snaps.ok()) return Fail(snaps.status());
      auto packs = repo->store()->List("data/");
      if (!packs.ok()) return Fail(packs.status());
      uint64_t stored = 0, raw = 0, blobs = 0, data_blobs = 0, data_raw = 0;
      for (const auto& p : *packs) stored += p.size;
      repo->ForEachIndexedBlob([&](const Id&, const BlobLocation& loc) {
        raw += loc.raw_len;
        ++blobs;
        if (loc.type == BlobType::kData) {
          ++data_blobs;
          data_raw += loc.raw_len;
        }
      });
      uint64_t logical = 0;
      for (const auto& s : *snaps) logical += s.stats.bytes_total;
      size_t index_mem = repo->IndexMemoryBytes();
      double per_blob = blobs ? static_cast<double>(index_mem) / blobs : 0;
      double dedup = raw ? static_cast<double>(logical) / raw : 0;
      double compression = stored ? static_cast<double>(raw) / stored : 0;
      if (g.json) {
        PrintJson({{"snapshots", snaps->size()},
                   {"packs", packs->size()},
                   {"blobs", blobs},
                   {"data_blobs", data_blobs},
                   {"stored_bytes", stored},
                   {"unique_raw_bytes", raw},
                   {"logical_bytes_all_snapshots", logical},
                   {"dedup_ratio", dedup},
                   {"compression_ratio", compression},
                   {"index_memory_bytes", index_mem},
                   {"index_bytes_per_blob", per_blob},
                   {"mean_chunk_bytes", data_blobs ? data_raw / data_blobs : 0}});
        return kExitOk;
      }
      std::printf("snapshots:           %zu\n", snaps->size());
      std::printf("packs:               %zu (%s)\n", packs->size(), HumanBytes(stored).c_str());
      std::printf("blobs:               %llu (%llu data)\n", static_cast<unsigned long long>(blobs),
                  static_cast<unsigned long long>(data_blobs));
      std::printf("unique data:         %s raw, %.2fx compression\n", HumanBytes(raw).c_str(),
                  compression);
      std::printf("all snapshots:       %s logical, %.2fx dedup\n", HumanBytes(logical).c_str(),
                  dedup);
      std::printf("mean chunk:          %s\n",
                  HumanBytes(data_blobs ? static_cast<double>(data_raw) / data_blobs : 0).c_str());
      std::printf("index memory:        %s (%.1f bytes per blob)\n", HumanBytes(index_mem).c_str(),
                  per_blob);
      return kExitOk;
    };
  });
}

}  // namespace dr::cli
