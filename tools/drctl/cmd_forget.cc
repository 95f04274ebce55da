#include <cstdio>

#include "core/timefmt.h"
#include "policies/duration.h"
#include "policies/policy.h"
#include "policies/retention.h"
#include "policies/snapshot_groups.h"
#include "tools/drctl/cli.h"

namespace dr::cli {

namespace {

struct ForgetFlags {
  std::string policy, policies_dir, site = "same-city", host, zone = "UTC", within;
  int last = 0, hourly = 0, daily = 0, weekly = 0, monthly = 0, yearly = 0;
  std::vector<std::string> tags;
  bool dry_run = false;
};

bool AnyKeepFlag(const ForgetFlags& f) {
  return f.last || f.hourly || f.daily || f.weekly || f.monthly || f.yearly || !f.within.empty() ||
         !f.tags.empty();
}

// The rules to apply, from the named policy or from the --keep-* flags.
Result<RetentionRules> RulesFor(const ForgetFlags& f) {
  if (!f.policy.empty()) {
    if (AnyKeepFlag(f)) {
      return Status::InvalidArgument("--policy and --keep-* flags exclude each other");
    }
    if (f.policies_dir.empty()) {
      return Status::InvalidArgument("--policy needs --policies DIR (or env DR_POLICIES)");
    }
    ASSIGN_OR_RETURN(auto all, LoadPolicies(f.policies_dir));
    for (const auto& p : all) {
      if (p.name == f.policy) return f.site == "off-site" ? p.off_site : p.same_city;
    }
    return Status::NotFound("no policy '" + f.policy + "' in " + f.policies_dir);
  }
  RetentionRules r;
  r.last = f.last;
  r.hourly = f.hourly;
  r.daily = f.daily;
  r.weekly = f.weekly;
  r.monthly = f.monthly;
  r.yearly = f.yearly;
  r.tags = f.tags;
  if (!f.within.empty()) {
    auto d = ParseDuration(f.within);
    if (!d.ok()) return Status::InvalidArgument("--keep-within: " + d.status().message());
    r.within_s = *d;
  }
  ASSIGN_OR_RETURN(r.zone, TimeZone::Load(f.zone));
  return r;
}

}  // namespace

void AddForgetCommand(CLI::App& app, GlobalOptions& g, Runner* run) {
  auto* cmd = app.add_subcommand(
      "forget", "remove snapshots by retention rules (their data goes with the next prune)");
  auto f = std::make_shared<ForgetFlags>();
  cmd->add_option("--policy", f->policy, "apply this policy's retention rules");
  cmd->add_option("--policies", f->policies_dir, "policy files (env DR_POLICIES)")
      ->envname("DR_POLICIES");
  cmd->add_option("--site", f->site, "whose rules of the policy: same-city (default) or off-site")
      ->check(CLI::IsMember({"same-city", "off-site"}));
  cmd->add_option("--host", f->host, "only snapshots of this host");
  for (auto [name, field] : {std::pair{"--keep-last", &ForgetFlags::last},
                             {"--keep-hourly", &ForgetFlags::hourly},
                             {"--keep-daily", &ForgetFlags::daily},
                             {"--keep-weekly", &ForgetFlags::weekly},
                             {"--keep-monthly", &ForgetFlags::monthly},
                             {"--keep-yearly", &ForgetFlags::yearly}}) {
    cmd->add_option(name, (*f).*field, "keep this many (-1: all)")->check(CLI::Range(-1, 1 << 30));
  }
  cmd->add_option("--keep-within", f->within, "keep every snapshot younger than this (7d, 36h)");
  cmd->add_option("--keep-tag", f->tags, "keep every snapshot with this tag (repeatable)");
  cmd->add_option("--time-zone", f->zone, "zone of the hour/day/week/... buckets (default UTC)");
  cmd->add_flag("-n,--dry-run", f->dry_run, "print the decisions, remove nothing");
  cmd->callback([&g, run, f] {
    *run = [&g, f] {
      auto rules = RulesFor(*f);
      if (!rules.ok()) return Fail(rules.status());
      auto repo = OpenRepo(g);
      if (!repo) return kExitError;
      auto all = repo->ListSnapshots();
      if (!all.ok()) return Fail(all.status());
      // One group per policy, host and source (as restic groups by host and
      // paths): retention never weighs one machine's snapshots against
      // another's.
      const SnapshotGroups groups = GroupSnapshots(*all, f->policy, f->host);
      const int64_t now = NowUnixNs();
      nlohmann::json jgroups = nlohmann::json::array();
      size_t removed = 0, kept = 0;
      for (const auto& [key, snaps] : groups) {
        auto decisions = ApplyGroupRetention(*repo->store(), snaps, *rules, now, f->dry_run);
        if (!decisions.ok()) return Fail(decisions.status());
        const auto& [policy, host, paths] = key;
        nlohmann::json jd = nlohmann::json::array();
        if (!g.json && !g.quiet) {
          std::printf("%shost %s, paths %s: rules %s\n",
                      policy.empty() ? "" : ("policy " + policy + ", ").c_str(),
                      Printable(host).c_str(), paths.c_str(), rules->Describe().c_str());
        }
        for (const auto& d : *decisions) {
          std::string reasons;
          for (const auto& r : d.reasons) reasons += (reasons.empty() ? "" : ", ") + r;
          if (!g.json && !g.quiet) {
            std::printf("  %s  %s  %-6s  %s\n", FormatLocal(d.time_ns).c_str(),
                        d.id.Hex().substr(0, 8).c_str(), d.keep ? "keep" : "forget",
                        reasons.c_str());
          }
          jd.push_back({{"id", d.id.Hex()},
                        {"time", FormatRfc3339Utc(d.time_ns)},
                        {"keep", d.keep},
                        {"reasons", d.reasons}});
          (d.keep ? kept : removed)++;
        }
        // Raw text: PrintJson replaces invalid UTF-8 (Printable would quote twice).
        jgroups.push_back({{"policy", policy},
                           {"host", host},
                           {"paths", snaps.front()->paths},
                           {"decisions", jd}});
      }
      if (g.json) {
        PrintJson({{"dry_run", f->dry_run},
                   {"rules", rules->Describe()},
                   {"kept", kept},
                   {"forgotten", removed},
                   {"groups", jgroups}});
      } else if (!g.quiet) {
        std::printf("%s %zu snapshots, kept %zu%s\n", f->dry_run ? "would forget" : "forgot",
                    removed, kept,
                    removed && !f->dry_run ? "; run 'drctl prune' to reclaim their space" : "");
      }
      return kExitOk;
    };
  });
}

}  // namespace dr::cli
