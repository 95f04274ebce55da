// Policy files (policies/policy.h, docs/policies.md): a complete policy
// reads into every field; each mistake an admin can make comes back as one
// line "FILE:LINE:COLUMN: FIELD: message" pointing at the node; no input
// makes yaml-cpp throw out of the parser; and the examples shipped in
// policies/examples/ and docs/policies.md stay valid.
// Over 600 lines because the table of mistakes reads best as one table.
#include "policies/policy.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <random>
#include <sstream>

#include "tests/test_util.h"

namespace dr {
namespace {

Result<Policy> ParsePolicyYaml(const std::string& yaml) { return ParsePolicy(yaml, "p.yaml"); }

// The message of a document that must be refused.
std::string ErrorOf(const std::string& yaml) {
  auto p = ParsePolicyYaml(yaml);
  if (p.ok()) return "(accepted)";
  EXPECT_EQ(p.status().code(), Code::kInvalidArgument) << yaml;
  return p.status().message();
}

// name on line 1, sources on 2, paths on 3, schedule on 4, every on 5.
constexpr char kHead[] = "name: p\nsources:\n  paths: [/srv]\nschedule:\n  every: 1h\n";

constexpr char kComplete[] = R"(name: finance-files
namespace: finance
description: "Finance share"
agents: [fin-app-01, FIN-APP-02.corp.example]
sources:
  paths: [/srv/finance, /srv/finance-archive]
  images: [/var/lib/vm/a.img]
  devices: [/dev/vg0/db]
excludes: ["*.tmp", "/srv/finance/cache"]
one-file-system: true
btrfs-snapshot: yes
tags: [nightly, finance]
hooks: { pre: "sync", post: "echo done" }
schedule:
  every: 15m
  time-zone: Europe/Berlin
  window: "22:00-06:00"
  jitter: 10m
retention:
  time-zone: America/New_York
  same-city: { keep-last: 3, keep-hourly: 24, keep-daily: 7, keep-weekly: 4, keep-monthly: 12, keep-yearly: 3, keep-within: 2d, keep-tag: [legal-hold] }
  off-site:
    keep-daily: -1
    keep-yearly: 10
    lock-for: 90d
rpo: 1h
alert: "/usr/local/bin/page-oncall"
drills:
  - name: monthly
    schedule: { cron: "0 6 1 * *", time-zone: UTC }
    site: off-site
    checks: ["sqlite3 db 'pragma integrity_check'", "true"]
  - name: weekly
    schedule: { every: 1w }
)";

TEST(Policy, CompletePolicyReadsIntoEveryField) {
  auto p = ParsePolicy(kComplete, "/etc/drbackup/policies/finance.yaml");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->name, "finance-files");
  EXPECT_EQ(p->ns, "finance");
  EXPECT_EQ(p->description, "Finance share");
  EXPECT_EQ(p->agents, (std::vector<std::string>{"fin-app-01", "FIN-APP-02.corp.example"}));
  EXPECT_EQ(p->paths, (std::vector<std::string>{"/srv/finance", "/srv/finance-archive"}));
  EXPECT_EQ(p->images, std::vector<std::string>{"/var/lib/vm/a.img"});
  EXPECT_EQ(p->devices, std::vector<std::string>{"/dev/vg0/db"});
  EXPECT_EQ(p->excludes, (std::vector<std::string>{"*.tmp", "/srv/finance/cache"}));
  EXPECT_TRUE(p->one_file_system);
  EXPECT_TRUE(p->btrfs_snapshot);
  EXPECT_EQ(p->tags, (std::vector<std::string>{"nightly", "finance"}));
  EXPECT_EQ(p->pre_hook, "sync");
  EXPECT_EQ(p->post_hook, "echo done");

  EXPECT_FALSE(p->schedule.cron.has_value());
  EXPECT_EQ(p->schedule.every_s, 15 * 60);
  EXPECT_EQ(p->schedule.zone.name(), "Europe/Berlin");
  ASSERT_TRUE(p->schedule.window.has_value());
  EXPECT_EQ(p->schedule.window->start_minute, 22 * 60);
  EXPECT_EQ(p->schedule.window->end_minute, 6 * 60);
  EXPECT_EQ(p->schedule.jitter_s, 10 * 60);

  const RetentionRules& sc = p->same_city;
  EXPECT_EQ(sc.last, 3);
  EXPECT_EQ(sc.hourly, 24);
  EXPECT_EQ(sc.daily, 7);
  EXPECT_EQ(sc.weekly, 4);
  EXPECT_EQ(sc.monthly, 12);
  EXPECT_EQ(sc.yearly, 3);
  EXPECT_EQ(sc.within_s, 2 * 86400);
  EXPECT_EQ(sc.tags, std::vector<std::string>{"legal-hold"});
  EXPECT_EQ(sc.zone.name(), "America/New_York");
  const RetentionRules& os = p->off_site;
  EXPECT_EQ(os.last, 0);
  EXPECT_EQ(os.daily, -1);
  EXPECT_EQ(os.yearly, 10);
  EXPECT_EQ(os.within_s, 0);
  EXPECT_EQ(os.lock_for_s, 90 * 86400);
  EXPECT_EQ(sc.lock_for_s, 0);
  EXPECT_EQ(os.Describe(), "daily all, yearly 10, lock-for 12w6d");
  EXPECT_TRUE(os.tags.empty());
  EXPECT_EQ(os.zone.name(), "America/New_York");

  EXPECT_EQ(p->rpo_s, 3600);
  EXPECT_EQ(p->alert_command, "/usr/local/bin/page-oncall");
  ASSERT_EQ(p->drills.size(), 2u);
  EXPECT_EQ(p->drills[0].name, "monthly");
  ASSERT_TRUE(p->drills[0].schedule.cron.has_value());
  EXPECT_EQ(p->drills[0].schedule.cron->text, "0 6 1 * *");
  EXPECT_EQ(p->drills[0].schedule.zone.name(), "UTC");
  EXPECT_EQ(p->drills[0].site, "off-site");
  EXPECT_EQ(p->drills[0].checks,
            (std::vector<std::string>{"sqlite3 db 'pragma integrity_check'", "true"}));
  EXPECT_EQ(p->drills[1].name, "weekly");
  EXPECT_EQ(p->drills[1].schedule.every_s, 7 * 86400);
  // A drill without a zone reads its schedule in the policy's.
  EXPECT_EQ(p->drills[1].schedule.zone.name(), "Europe/Berlin");
  EXPECT_EQ(p->drills[1].site, "same-city");
  EXPECT_TRUE(p->drills[1].checks.empty());

  EXPECT_EQ(p->file, "/etc/drbackup/policies/finance.yaml");
  EXPECT_EQ(p->source_text, kComplete);
}

TEST(Policy, DefaultsOfAMinimalPolicy) {
  auto p = ParsePolicyYaml(std::string(kHead) + "retention:\n  off-site: {keep-last: 2}\n");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_TRUE(p->ns.empty());
  EXPECT_TRUE(p->agents.empty());
  EXPECT_FALSE(p->one_file_system);
  EXPECT_FALSE(p->btrfs_snapshot);
  EXPECT_EQ(p->schedule.zone.name(), "UTC");
  EXPECT_FALSE(p->schedule.window.has_value());
  EXPECT_EQ(p->schedule.jitter_s, 0);
  EXPECT_TRUE(p->same_city.empty());  // no rules: keep everything
  EXPECT_EQ(p->off_site.last, 2);
  EXPECT_EQ(p->rpo_s, 0);
  EXPECT_TRUE(p->drills.empty());

  // Retention reads its buckets in the schedule's zone unless it names one.
  p = ParsePolicyYaml(
      "name: p\nsources: {devices: [/dev/sdb]}\n"
      "schedule: {cron: '@daily', time-zone: Asia/Tokyo}\n");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->same_city.zone.name(), "Asia/Tokyo");
  EXPECT_EQ(p->off_site.zone.name(), "Asia/Tokyo");
  EXPECT_TRUE(p->same_city.empty() && p->off_site.empty());
}

TEST(Policy, SourcesLabelsAndAgents) {
  auto p = ParsePolicy(kComplete, "f.yaml");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const std::vector<PolicySource> sources = p->Sources();
  ASSERT_EQ(sources.size(), 3u);
  EXPECT_EQ(sources[0].kind, PolicySource::Kind::kFiles);
  EXPECT_EQ(sources[0].paths, p->paths);
  EXPECT_EQ(sources[0].Label(), "files");
  EXPECT_EQ(sources[1].kind, PolicySource::Kind::kImage);
  EXPECT_EQ(sources[1].Label(), "image:/var/lib/vm/a.img");
  EXPECT_EQ(sources[2].kind, PolicySource::Kind::kDevice);
  EXPECT_EQ(sources[2].Label(), "device:/dev/vg0/db");

  EXPECT_TRUE(p->AppliesTo("fin-app-01"));
  EXPECT_TRUE(p->AppliesTo("fin-app-02.corp.example"));  // host names ignore case
  EXPECT_FALSE(p->AppliesTo("fin-app-02"));
  EXPECT_FALSE(p->AppliesTo(""));
  p->agents.clear();
  EXPECT_TRUE(p->AppliesTo("anything"));  // a local policy

  auto images_only =
      ParsePolicyYaml("name: p\nsources: {images: [/a.img, /b.img]}\nschedule: {every: 1h}\n");
  ASSERT_TRUE(images_only.ok()) << images_only.status().ToString();
  ASSERT_EQ(images_only->Sources().size(), 2u);
  EXPECT_EQ(images_only->Sources()[1].Label(), "image:/b.img");
}

struct BadCase {
  std::string yaml;
  std::string want;  // the message starts with this
};

TEST(Policy, EveryMistakeIsOneLineNamingFileLineColumnAndField) {
  const std::string h = kHead;
  const std::string name_sources = "name: p\nsources:\n  paths: [/srv]\n";
  const std::vector<BadCase> cases = {
      // The document.
      {"", "p.yaml:1:1: empty document; a policy needs at least name, sources and schedule"},
      {"# nothing yet\n", "p.yaml:1:1: empty document"},
      {"- name: p\n",
       "p.yaml:1:1: expected a mapping of policy keys (name, sources, schedule, "
       "...), found a list"},
      {"finance\n", "p.yaml:1:1: expected a mapping of policy keys"},
      {h + "---\nname: q\n", "p.yaml:7:1: a second YAML document; write one policy per file"},
      {"name: [p\n", "p.yaml:2:1: end of sequence flow not found"},
      {"name: p\nsources:\n\tpaths: x\n",
       "p.yaml:3:7: illegal map value (indent with spaces: YAML does not allow tabs)"},
      {h + "b: *nowhere\n", "p.yaml:6:4: the referenced anchor is not defined"},
      // yaml-cpp 0.7's LoadAll loops forever, allocating, on these.
      {",", "p.yaml:1:1: unexpected \",\""},
      {h + "---\n,\n", "p.yaml:7:1: unexpected \",\""},
      {h + "---\n---\n", "p.yaml:7:1: a second YAML document; write one policy per file"},
      // Keys.
      {"sources:\n  paths: [/srv]\nschedule:\n  every: 1h\n",
       "p.yaml:1:1: name: required, but missing"},
      {"\n\nname: p\nschedule: {every: 1h}\n", "p.yaml:3:1: sources: required, but missing"},
      {name_sources, "p.yaml:1:1: schedule: required, but missing"},
      {h + "retension: {}\n", "p.yaml:6:1: retension: unknown key; did you mean \"retention\"?"},
      {h + "one_file_system: true\n",
       "p.yaml:6:1: one_file_system: unknown key; did you mean \"one-file-system\"?"},
      {h + "compression: 3\n", "p.yaml:6:1: compression: unknown key (known here: name, namespace"},
      {h + "[a]: b\n", "p.yaml:6:1: a key must be a plain name, found a list"},
      {h + "name: q\n", "p.yaml:6:1: name: given twice (first on line 1)"},
      {h + "  every: 2h\n", "p.yaml:6:3: schedule.every: given twice (first on line 5)"},
      {h + "<<: {tags: [a]}\n", "p.yaml:6:1: <<: YAML merge keys are not supported"},
      // Names.
      {"name: Finance\nsources: {paths: [/srv]}\nschedule: {every: 1h}\n",
       "p.yaml:1:7: name: \"Finance\" is not a valid name (lower-case letters, digits, '.', "
       "'_', '-'; starting with a letter or digit; at most 64)"},
      {"name: ''\nsources: {paths: [/srv]}\nschedule: {every: 1h}\n",
       "p.yaml:1:7: name: \"\" is not a valid name"},
      {"name: [p]\nsources: {paths: [/srv]}\nschedule: {every: 1h}\n",
       "p.yaml:1:7: name: expected a string, found a list"},
      {"name:\nsources: {paths: [/srv]}\nschedule: {every: 1h}\n",
       "p.yaml:1:1: name: expected a string, found nothing"},
      {"name: " + std::string(65, 'a') + "\nsources: {paths: [/srv]}\nschedule: {every: 1h}\n",
       "p.yaml:1:7: name: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"... "
       "is not a valid name"},
      {h + "namespace: fin.ance\n", "p.yaml:6:12: namespace: \"fin.ance\" is not a valid name"},
      {h + "agents: fin-app-01\n",
       "p.yaml:6:9: agents: expected a list (e.g. [a, b]), found \"fin-app-01\""},
      {h + "agents: [ok, 'fin app']\n", "p.yaml:6:14: agents[1]: \"fin app\" is not a valid name"},
      {h + "agents: [fin-app-01, FIN-APP-01]\n",
       "p.yaml:6:22: agents[1]: \"FIN-APP-01\" is listed twice"},
      // Sources.
      {"name: p\nsources: /srv\nschedule: {every: 1h}\n",
       "p.yaml:2:10: sources: expected a mapping (keys paths, images, devices), found \"/srv\""},
      {"name: p\nsources:\n  paths: [/srv, srv/x]\nschedule: {every: 1h}\n",
       "p.yaml:3:17: sources.paths[1]: \"srv/x\" is not an absolute path (it must start with /)"},
      {"name: p\nsources:\n  paths: [/srv/../etc]\nschedule: {every: 1h}\n",
       "p.yaml:3:11: sources.paths[0]: \"/srv/../etc\" must not contain \"..\""},
      {"name: p\nsources:\n  paths: [\"/srv/\\0x\"]\nschedule: {every: 1h}\n",
       "p.yaml:3:11: sources.paths[0]: contains a NUL byte"},
      {"name: p\nsources:\n  paths:\nschedule: {every: 1h}\n",
       "p.yaml:3:3: sources.paths: expected a list (e.g. [a, b]), found nothing"},
      {"name: p\nsources: {paths: []}\nschedule: {every: 1h}\n",
       "p.yaml:2:10: sources: needs at least one path, image or device"},
      {"name: p\nsources:\n  paths: [/srv]\n  images: [/srv]\nschedule: {every: 1h}\n",
       "p.yaml:4:12: sources.images[0]: \"/srv\" is already listed as sources.paths[0]"},
      {"name: p\nsources:\n  images: [/a.img]\nexcludes: ['*.tmp']\nschedule: {every: 1h}\n",
       "p.yaml:4:11: excludes: applies to sources.paths only, and there are none"},
      {"name: p\nsources:\n  devices: [/dev/sdb]\none-file-system: true\nschedule: {every: 1h}\n",
       "p.yaml:4:18: one-file-system: applies to sources.paths only, and there are none"},
      {h + "btrfs-snapshot: maybe\n",
       "p.yaml:6:17: btrfs-snapshot: expected true or false, found \"maybe\""},
      {h + "tags: [ok, 'a,b']\n",
       "p.yaml:6:12: tags[1]: \"a,b\" is not a valid tag (1 to 128 bytes, no spaces, commas or "
       "control characters)"},
      {h + "hooks: {pre: ''}\n", "p.yaml:6:14: hooks.pre: must not be empty"},
      {h + "hooks: {before: x}\n", "p.yaml:6:9: hooks.before: unknown key (known here: pre, post)"},
      // Schedule.
      {name_sources + "schedule: daily\n",
       "p.yaml:4:11: schedule: expected a mapping (keys cron, every, time-zone, window, jitter), "
       "found \"daily\""},
      {name_sources + "schedule:\n  every: 1h\n  cron: '0 2 * * *'\n",
       "p.yaml:6:9: schedule.cron: give either cron or every, not both"},
      {name_sources + "schedule:\n  time-zone: UTC\n",
       "p.yaml:5:3: schedule: needs either cron (e.g. \"0 2 * * *\") or every (e.g. 15m)"},
      {name_sources + "schedule:\n  every: 15x\n",
       "p.yaml:5:10: schedule.every: duration \"15x\": unknown unit 'x'"},
      {name_sources + "schedule:\n  every: 900\n",
       "p.yaml:5:10: schedule.every: duration \"900\": has no unit after 900"},
      {name_sources + "schedule:\n  every: 30s\n",
       "p.yaml:5:10: schedule.every: must be at least 1m, found 30s"},
      {name_sources + "schedule:\n  every: 15m\n  jitter: 15m\n",
       "p.yaml:6:11: schedule.jitter: 15m must be shorter than every (15m)"},
      {name_sources + "schedule:\n  every: 1h\n  window: 22-6\n",
       "p.yaml:6:11: schedule.window: expected HH:MM-HH:MM on a 24-hour clock (e.g. "
       "\"22:00-06:00\"), found \"22-6\""},
      {name_sources + "schedule:\n  every: 1h\n  window: 22:00-24:00\n",
       "p.yaml:6:11: schedule.window: expected HH:MM-HH:MM"},
      {name_sources + "schedule:\n  every: 1h\n  window: 06:00-06:00\n",
       "p.yaml:6:11: schedule.window: start and end are the same; leave window out to allow any "
       "time"},
      {name_sources + "schedule:\n  every: 1h\n  time-zone: Mars/Olympus_Mons\n",
       "p.yaml:6:14: schedule.time-zone: "},
      {name_sources + "schedule:\n  every: 1h\n  time-zone: ../../etc/passwd\n",
       "p.yaml:6:14: schedule.time-zone: "},
      {name_sources + "schedule:\n  cron: '61 * * * *'\n", "p.yaml:5:9: schedule.cron: "},
      {name_sources + "schedule:\n  evry: 1h\n",
       "p.yaml:5:3: schedule.evry: unknown key; did you mean \"every\"?"},
      // Retention.
      {h + "retention:\n  off-site:\n    keep-daily: seven\n",
       "p.yaml:8:17: retention.off-site.keep-daily: expected a whole number, or -1 for unlimited, "
       "found \"seven\""},
      {h + "retention:\n  same-city: {keep-last: -2}\n",
       "p.yaml:7:26: retention.same-city.keep-last: must be -1 (unlimited) or more, found -2"},
      {h + "retention:\n  same-city: {keep-last: 99999999999}\n",
       "p.yaml:7:26: retention.same-city.keep-last: expected a whole number"},
      {h + "retention:\n  same-city: {keep-within: 1y}\n",
       "p.yaml:7:28: retention.same-city.keep-within: duration \"1y\": months and years have no "
       "fixed length"},
      {h + "retention:\n  same-city: {lock-for: 0s}\n",
       "p.yaml:7:25: retention.same-city.lock-for: must be more than 0s and at most 3660d (ten "
       "years)"},
      {h + "retention:\n  same-city: {lock-for: 4000d}\n",
       "p.yaml:7:25: retention.same-city.lock-for: must be more than 0s and at most 3660d"},
      {h + "retention:\n  same-city: {lock-for: soon}\n",
       "p.yaml:7:25: retention.same-city.lock-for: "},
      {h + "retention:\n  same-city: {keep-lats: 3}\n",
       "p.yaml:7:15: retention.same-city.keep-lats: unknown key; did you mean \"keep-last\"?"},
      {h + "retention:\n  same-city: 3\n",
       "p.yaml:7:14: retention.same-city: expected a mapping (keys keep-last, keep-hourly"},
      {h + "retention:\n  offsite: {}\n",
       "p.yaml:7:3: retention.offsite: unknown key; did you mean \"off-site\"?"},
      {h + "retention:\n",
       "p.yaml:6:1: retention: expected a mapping (keys time-zone, same-city, off-site), found "
       "nothing"},
      // RPO, alert.
      {h + "rpo: 1h\n", "p.yaml:6:6: rpo: 1h can never be met: runs start every 1h"},
      {name_sources + "schedule: {every: 1h, jitter: 10m}\nrpo: 70m\n",
       "p.yaml:5:6: rpo: 1h10m can never be met: runs start every 1h plus up to 10m of jitter"},
      {h + "rpo: 0s\n", "p.yaml:6:6: rpo: must be more than 0s (leave rpo out for none)"},
      {h + "alert: {}\n", "p.yaml:6:8: alert: expected a string, found a mapping"},
      // Drills.
      {h + "drills: {name: x}\n",
       "p.yaml:6:9: drills: expected a list (e.g. [a, b]), found a mapping"},
      {h + "drills:\n  - schedule: {every: 1d}\n",
       "p.yaml:7:5: drills[0].name: required, but missing"},
      {h + "drills:\n  - name: d\n", "p.yaml:7:5: drills[0].schedule: required, but missing"},
      {h + "drills:\n  - name: d\n    schedule: {every: 1d}\n    site: offsite\n",
       "p.yaml:9:11: drills[0].site: expected same-city or off-site, found \"offsite\""},
      {h + "drills:\n  - {name: d, schedule: {every: 1d}}\n  - {name: d, schedule: {every: 1d}}\n",
       "p.yaml:8:12: drills[1].name: another drill is named \"d\""},
      {h + "drills:\n  - name: d\n    schedule: {every: 1d, cron: '@daily'}\n",
       "p.yaml:8:33: drills[0].schedule.cron: give either cron or every, not both"},
      {h + "drills:\n  - name: d\n    schedule: {every: 1d}\n    checks: ['']\n",
       "p.yaml:9:14: drills[0].checks[0]: must not be empty"},
  };
  ASSERT_GE(cases.size(), 25u);
  for (const BadCase& c : cases) {
    const std::string message = ErrorOf(c.yaml);
    EXPECT_EQ(message.substr(0, c.want.size()), c.want) << "document:\n" << c.yaml;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

TEST(Policy, UnknownKeysAreErrorsAtEveryLevel) {
  const std::string h = kHead;
  EXPECT_EQ(ErrorOf(h + "colour: blue\n"),
            "p.yaml:6:1: colour: unknown key (known here: name, namespace, description, agents, "
            "sources, excludes, one-file-system, btrfs-snapshot, tags, hooks, schedule, "
            "retention, rpo, alert, drills)");
  EXPECT_EQ(ErrorOf(h + "  colour: blue\n"),
            "p.yaml:6:3: schedule.colour: unknown key (known here: cron, every, time-zone, "
            "window, jitter)");
  EXPECT_EQ(ErrorOf(h + "retention:\n  same-city:\n    keep-last: 1\n    colour: blue\n"),
            "p.yaml:9:5: retention.same-city.colour: unknown key (known here: keep-last, "
            "keep-hourly, keep-daily, keep-weekly, keep-monthly, keep-yearly, keep-within, "
            "keep-tag, lock-for)");
  EXPECT_EQ(ErrorOf(h + "drills:\n  - name: d\n    schedule: {every: 1d}\n    colour: blue\n"),
            "p.yaml:9:5: drills[0].colour: unknown key (known here: name, schedule, site, "
            "checks, rto)");
}

// What reaches the message from the document is escaped, so one error is
// one line whatever the input holds.
TEST(Policy, ErrorsStayOnOneLine) {
  EXPECT_EQ(ErrorOf(std::string(kHead) + "\"a\\nb\": 1\n"),
            "p.yaml:6:1: a\\nb: unknown key (known here: name, namespace, description, agents, "
            "sources, excludes, one-file-system, btrfs-snapshot, tags, hooks, schedule, "
            "retention, rpo, alert, drills)");
  const std::string cron =
      ErrorOf("name: p\nsources: {paths: [/srv]}\nschedule:\n  cron: \"0 2 * * *\\n0 3 * * *\"\n");
  EXPECT_EQ(cron.rfind("p.yaml:4:9: schedule.cron: ", 0), 0u) << cron;
  EXPECT_EQ(cron.find('\n'), std::string::npos) << cron;
  auto p = ParsePolicy("name: [\n", "dir/evil\nname.yaml");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message(), "dir/evil\\nname.yaml:2:1: end of sequence flow not found");
}

TEST(Policy, DeepNestingIsAnErrorNotACrash) {
  const std::string deep = "name: " + std::string(100000, '[') + "\n";
  const std::string message = ErrorOf(deep);
  EXPECT_EQ(message.rfind("p.yaml:", 0), 0u) << message.substr(0, 200);
  EXPECT_NE(message.find(": nested too deeply"), std::string::npos) << message.substr(0, 200);
}

// Thousands of near-miss documents (bytes dropped, repeated, swapped for
// YAML punctuation) from the complete policy: each gives a policy or an
// error in the file's format, and none lets a yaml-cpp exception out.
TEST(Policy, MangledDocumentsNeverThrow) {
  std::mt19937 rng(20261129);
  const std::string base = kComplete;
  const std::string punct = ":-[]{},'\"#&*!|>? \n\t";
  int refused = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string doc = base;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % doc.size();
      const unsigned what = rng() % 3;
      if (what == 0) doc.erase(at, 1 + rng() % 8);
      if (what == 1) doc.insert(at, doc.substr(rng() % doc.size(), 1 + rng() % 16));
      if (what == 2) doc[at] = punct[rng() % punct.size()];
      if (doc.empty()) doc = "x";
    }
    Result<Policy> p = ParsePolicyYaml(doc);
    if (p.ok()) continue;
    ++refused;
    EXPECT_EQ(p.status().message().rfind("p.yaml:", 0), 0u) << p.status().message();
    EXPECT_EQ(p.status().message().find('\n'), std::string::npos);
  }
  EXPECT_GT(refused, 1000);
}

TEST(Policy, LoadPoliciesReadsADirectory) {
  test::TempDir dir("policies");
  test::WriteFile(dir / "b.yml", "name: beta\nsources: {paths: [/b]}\nschedule: {every: 1h}\n");
  test::WriteFile(dir / "a.yaml", "name: alpha\nsources: {paths: [/a]}\nschedule: {every: 1h}\n");
  test::WriteFile(dir / "README.md", "not a policy\n");
  test::WriteFile(dir / "a.yaml~", "editor backup: not: a: policy\n");
  test::WriteFile(dir / ".#c.yaml", "an editor's lock file\n");
  ASSERT_EQ(::mkdir((dir / "sub.yaml").c_str(), 0755), 0);  // not recursive
  test::WriteFile(dir / "sub.yaml/d.yaml", "name: delta\n");

  auto all = LoadPolicies(dir.path());
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "alpha");  // sorted by file name
  EXPECT_EQ((*all)[0].file, dir / "a.yaml");
  EXPECT_EQ((*all)[1].name, "beta");
  EXPECT_EQ((*all)[1].source_text, test::ReadFile(dir / "b.yml"));

  auto one = LoadPolicies(dir / "b.yml");  // a single file
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].name, "beta");

  // The first bad file's first mistake.
  test::WriteFile(dir / "c.yaml", "name: gamma\nsources: {paths: [/c]}\nschedule: {every: 1}\n");
  auto bad = LoadPolicies(dir.path());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(bad.status().message().rfind(dir / "c.yaml:3:19: schedule.every: ", 0), 0u)
      << bad.status().message();
}

TEST(Policy, LoadPoliciesRefusesOneNameInTwoFiles) {
  test::TempDir dir("policies");
  test::WriteFile(dir / "10-finance.yaml",
                  "name: finance\nsources: {paths: [/a]}\nschedule: {every: 1h}\n");
  test::WriteFile(dir / "20-finance-copy.yaml",
                  "# copied, then forgotten\nname:   finance\nsources: {paths: [/b]}\n"
                  "schedule: {every: 1h}\n");
  auto all = LoadPolicies(dir.path());
  ASSERT_FALSE(all.ok());
  EXPECT_EQ(all.status().message(), dir / "20-finance-copy.yaml:2:9: name: policy \"finance\" is "
                                          "already defined at " +
                                        dir / "10-finance.yaml:1:7");
}

TEST(Policy, LoadPoliciesOfEmptyAndMissingPaths) {
  test::TempDir dir("policies");
  auto none = LoadPolicies(dir.path());
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());

  auto missing = LoadPolicies(dir / "nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.status().IsNotFound());
  EXPECT_EQ(missing.status().message(), "policies " + dir / "nope" + ": No such file or directory");

  if (!test::IsRoot()) {  // root reads everything
    test::WriteFile(dir / "locked.yaml", "name: x\n");
    ASSERT_EQ(::chmod((dir / "locked.yaml").c_str(), 0), 0);
    auto locked = LoadPolicies(dir.path());
    ASSERT_FALSE(locked.ok());
    EXPECT_EQ(locked.status().message(),
              "policy file " + dir / "locked.yaml" + ": Permission denied");
  }
}

TEST(Policy, LoadPoliciesRefusesWhatIsNoFile) {
  test::TempDir dir("policies");
  ASSERT_EQ(::mkfifo((dir / "pipe.yaml").c_str(), 0644), 0);
  auto fifo = LoadPolicies(dir.path());  // must not block on the FIFO
  ASSERT_FALSE(fifo.ok());
  EXPECT_EQ(fifo.status().message(), "policy file " + dir / "pipe.yaml" + ": not a regular file");
  ::unlink((dir / "pipe.yaml").c_str());

  test::WriteFile(dir / "huge.yaml", "name: x\n" + std::string(2 << 20, '#'));
  auto huge = LoadPolicies(dir.path());
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.status().message().find("at most 1 MiB"), std::string::npos)
      << huge.status().message();
}

// The messages docs/policies.md shows: what the parser says, word for word.
TEST(Policy, ErrorMessagesInTheDocsAreReal) {
  const std::string docs = test::ReadFile(std::string(DR_SOURCE_DIR) + "/docs/policies.md");
  const std::string h =
      "name: finance-files\nsources:\n  paths: [/srv/finance]\nschedule:\n  every: 15m\n";
  const std::string sched = "name: finance-files\nsources:\n  paths: [/srv/finance]\nschedule:\n";
  const std::vector<BadCase> cases = {
      {"sources:\n  paths: [/srv/finance]\nschedule:\n  every: 15m\n",
       "1:1: name: required, but missing"},
      {"name: Finance Files\nsources:\n  paths: [/srv/finance]\nschedule:\n  every: 15m\n",
       "1:7: name: \"Finance Files\" is not a valid name (lower-case letters, digits, '.', '_', "
       "'-'; starting with a letter or digit; at most 64)"},
      {h + "one_file_system: true\n",
       "6:1: one_file_system: unknown key; did you mean \"one-file-system\"?"},
      {h + "  every: 1h\n", "6:3: schedule.every: given twice (first on line 5)"},
      {"name: finance-files\nsources: /srv/finance\nschedule:\n  every: 15m\n",
       "2:10: sources: expected a mapping (keys paths, images, devices), found \"/srv/finance\""},
      {"name: finance-files\nsources:\n  paths: [/srv/finance, srv/finance-archive]\n"
       "schedule:\n  every: 15m\n",
       "3:25: sources.paths[1]: \"srv/finance-archive\" is not an absolute path (it must start "
       "with /)"},
      {"name: finance-files\nsources:\n  images: [/var/lib/vm/a.img]\nexcludes: ['*.tmp']\n"
       "schedule:\n  every: 15m\n",
       "4:11: excludes: applies to sources.paths only, and there are none"},
      {h + "  cron: \"0 2 * * *\"\n", "6:9: schedule.cron: give either cron or every, not both"},
      {sched + "  time-zone: Europe/Berlin\n",
       "5:3: schedule: needs either cron (e.g. \"0 2 * * *\") or every (e.g. 15m)"},
      {sched + "  every: 15\n",
       "5:10: schedule.every: duration \"15\": has no unit after 15 (write e.g. 90s, 15m, 1h30m, "
       "7d, 2w)"},
      {sched + "  cron: \"61 2 * * *\"\n",
       "5:9: schedule.cron: cron \"61 2 * * *\": minute 61 is out of range 0-59"},
      {h + "  jitter: 20m\n", "6:11: schedule.jitter: 20m must be shorter than every (15m)"},
      {h + "  time-zone: Europe/Frankfurt\n",
       "6:14: schedule.time-zone: time zone \"Europe/Frankfurt\": unknown time zone (no file "
       "/usr/share/zoneinfo/Europe/Frankfurt)"},
      {h + "  window: 22-6\n",
       "6:11: schedule.window: expected HH:MM-HH:MM on a 24-hour clock (e.g. \"22:00-06:00\"), "
       "found \"22-6\""},
      {h + "retention:\n  off-site:\n    keep-daily: seven\n",
       "8:17: retention.off-site.keep-daily: expected a whole number, or -1 for unlimited, found "
       "\"seven\""},
      {h + "retention:\n  same-city:\n    keep-lats: 3\n",
       "8:5: retention.same-city.keep-lats: unknown key; did you mean \"keep-last\"?"},
      {h + "rpo: 10m\n", "6:6: rpo: 10m can never be met: runs start every 15m"},
      {h + "drills:\n  - name: monthly\n    schedule: { cron: \"0 6 1 * *\" }\n    site: offsite\n",
       "9:11: drills[0].site: expected same-city or off-site, found \"offsite\""},
      {"name: finance-files\nsources:\n  paths: [/srv/finance\nschedule:\n  every: 15m\n",
       "4:9: end of sequence flow not found"},
      {"name: finance-files\nsources:\n\tpaths: [/srv/finance]\n",
       "3:7: illegal map value (indent with spaces: YAML does not allow tabs)"},
  };
  for (const BadCase& c : cases) {
    const std::string want = "/etc/drbackup/policies/finance.yaml:" + c.want;
    auto p = ParsePolicy(c.yaml, "/etc/drbackup/policies/finance.yaml");
    ASSERT_FALSE(p.ok()) << c.yaml;
    EXPECT_EQ(p.status().message(), want) << c.yaml;
    EXPECT_NE(docs.find(want + "\n"), std::string::npos) << "docs/policies.md lacks " << want;
  }
}

// The shipped examples and every complete policy in docs/policies.md must
// stay valid; the docs must show the example files as they are.
TEST(Policy, ExamplesAreValid) {
  const std::string root = DR_SOURCE_DIR;
  auto examples = LoadPolicies(root + "/policies/examples");
  ASSERT_TRUE(examples.ok()) << examples.status().ToString();
  ASSERT_GE(examples->size(), 3u);
  const std::string docs = test::ReadFile(root + "/docs/policies.md");
  for (const Policy& p : *examples) {
    EXPECT_NE(docs.find(p.source_text), std::string::npos)
        << p.file << " is not copied verbatim into docs/policies.md";
  }

  // Every ```yaml block that starts with "name:" or a comment is a policy.
  std::istringstream in(docs);
  std::string line, block;
  bool inside = false;
  int line_no = 0, block_line = 0, policies = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!inside && line == "```yaml") {
      inside = true;
      block.clear();
      block_line = line_no + 1;
    } else if (inside && line == "```") {
      inside = false;
      if (block.rfind("name:", 0) != 0 && block.rfind("#", 0) != 0) continue;
      ++policies;
      auto p = ParsePolicy(block, "docs/policies.md block at line " + std::to_string(block_line));
      EXPECT_TRUE(p.ok()) << p.status().ToString();
    } else if (inside) {
      block += line + "\n";
    }
  }
  EXPECT_GE(policies, 5);
}

}  // namespace
}  // namespace dr
