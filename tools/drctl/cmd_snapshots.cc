#include <cstdio>
#include <map>
#include <set>

#include "core/timefmt.h"
#include "policies/change_watch.h"
#include "tools/drctl/cli.h"

namespace dr::cli {

nlohmann::json BlockInfoJson(const BlockInfo& b) {
  return {{"source_kind", b.source_kind},         {"length", b.length},
          {"block_size", b.block_size},           {"blocks", b.blocks},
          {"zero_blocks", b.zero_blocks},         {"changed_blocks", b.changed_blocks},
          {"blocks_not_read", b.blocks_not_read}, {"method", b.method}};
}

nlohmann::json SnapshotJson(const Snapshot& s) {
  nlohmann::json paths = nlohmann::json::array();
  for (const auto& p : s.paths) paths.push_back(p);
  const SnapshotStats& st = s.stats;
  nlohmann::json j = {
      {"id", s.id.Hex()},
      {"short_id", s.ShortId()},
      {"time", FormatRfc3339Utc(s.time_ns)},
      {"host", s.host},
      {"identity", s.identity},
      {"username", s.username},
      {"paths", paths},
      {"tags", s.tags},
      {"parent", s.parent ? nlohmann::json(s.parent->Hex()) : nlohmann::json(nullptr)},
      {"tree", s.tree.Hex()},
      {"partial", s.partial},
      {"warnings", s.warnings},
      {"stats",
       {{"files_new", st.files_new},
        {"files_changed", st.files_changed},
        {"files_unchanged", st.files_unchanged},
        {"dirs", st.dirs},
        {"bytes_total", st.bytes_total},
        {"bytes_read", st.bytes_read},
        {"bytes_added", st.bytes_added},
        {"duration_s", st.duration_s}}}};
  if (!s.consistency.empty()) j["consistency"] = s.consistency;
  if (s.agent_time_ns) j["agent_time"] = FormatRfc3339Utc(*s.agent_time_ns);
  if (s.block) j["block"] = BlockInfoJson(*s.block);
  return j;
}

void AddSnapshotsCommand(CLI::App& app, GlobalOptions& g, Runner* run) {
  auto* cmd = app.add_subcommand("snapshots", "list snapshots, oldest first");
  auto host = std::make_shared<std::string>();
  auto tag = std::make_shared<std::string>();
  cmd->add_option("--host", *host, "only snapshots of this host");
  cmd->add_option("--tag", *tag, "only snapshots with this tag");
  cmd->callback([&g, run, host, tag] {
    *run = [&g, host, tag] {
      auto repo = OpenRepo(g);
      if (!repo) return kExitError;
      std::vector<std::string> bad;
      auto all = repo->ListSnapshots(&bad);
      if (!all.ok()) return Fail(all.status());
      for (const auto& b : bad) std::fprintf(stderr, "warning: %s\n", b.c_str());
      std::vector<Snapshot> shown;
      for (const auto& s : *all) {
        if (!host->empty() && s.host != *host) continue;
        if (!tag->empty() && std::find(s.tags.begin(), s.tags.end(), *tag) == s.tags.end())
          continue;
        shown.push_back(s);
      }
      // What the watch weighed (policies/change_watch.h); an agent that
      // may not read the records lists without them.
      std::map<Id, ChangeRecord> change;
      std::set<Id> shown_ids;
      for (const auto& s : shown) shown_ids.insert(s.id);
      auto records =
          ReadChangeRecords(*repo->store(), [&](const Id& id) { return shown_ids.count(id) > 0; });
      if (records.ok()) {
        for (auto& r : *records) change.emplace(r.snapshot, std::move(r));
      }
      if (g.json) {
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& s : shown) {
          arr.push_back(SnapshotJson(s));
          if (auto c = change.find(s.id); c != change.end())
            arr.back()["change"] = ChangeRecordJson(c->second);
        }
        PrintJson(arr);
        return kExitOk;
      }
      std::printf("%-8s  %-19s  %-12s  %-12s  %-10s  %10s  %10s  %s\n", "ID", "Time", "Host",
                  "Written by", "Tags", "Size", "Added", "Paths");
      for (const auto& s : shown) {
        std::string tags;
        for (const auto& t : s.tags) tags += (tags.empty() ? "" : ",") + t;
        std::string paths;
        for (const auto& p : s.paths) paths += (paths.empty() ? "" : " ") + p;
        std::string detail = s.partial ? "  (partial)" : "";
        if (auto c = change.find(s.id); c != change.end() && c->second.verdict.suspicious)
          detail += "  (SUSPICIOUS: looks like ransomware; drctl snapshots --json says why)";
        if (s.block) {
          char buf[160];
          std::snprintf(buf, sizeof buf, "  [%s, %u KiB blocks, %llu of %llu changed, %s]",
                        s.block->source_kind.c_str(), s.block->block_size >> 10,
                        static_cast<unsigned long long>(s.block->changed_blocks),
                        static_cast<unsigned long long>(s.block->blocks), s.block->method.c_str());
          detail += buf;
        }
        // A local backup has no identity: it was written with the
        // repository's own credentials, not accepted from an agent.
        const std::string by = s.identity.empty() ? "(local)" : s.identity;
        std::printf("%-8s  %-19s  %-12s  %-12s  %-10s  %10s  %10s  %s%s\n", s.ShortId().c_str(),
                    FormatLocal(s.time_ns).c_str(), s.host.c_str(), by.c_str(), tags.c_str(),
                    HumanBytes(s.stats.bytes_total).c_str(),
                    HumanBytes(s.stats.bytes_added).c_str(), paths.c_str(), detail.c_str());
      }
      std::printf("%zu snapshots\n", shown.size());
      return kExitOk;
    };
  });
}

}  // namespace dr::cli
