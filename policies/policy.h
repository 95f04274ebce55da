// Policy: what a backup admin writes once (docs/policies.md): what to back
// up, on which agents, when, how long each site keeps it, and the recovery
// point objective. Parsed from YAML; every mistake is reported as
// "FILE:LINE:COLUMN: FIELD: what is wrong", and unknown keys are mistakes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "policies/retention.h"
#include "policies/schedule.h"

namespace dr {

// One unit the scheduler runs and retention groups by: all `paths` of a
// policy form one file snapshot; each image and each device its own block
// snapshot.
struct PolicySource {
  enum class Kind { kFiles, kImage, kDevice };
  Kind kind = Kind::kFiles;
  std::vector<std::string> paths;  // kFiles: every path; otherwise exactly one
  // "files", "image:/var/lib/x.img", "device:/dev/vg0/db": stable, used as
  // part of job keys and in tables.
  std::string Label() const;
};

// A recovery drill the policy service runs on its schedule (drctl run,
// dragent run): the newest snapshot of the policy, restored into a sandbox,
// verified and checked, measured against rto and the policy's rpo.
struct DrillSpec {
  std::string name;
  Schedule schedule;
  std::string site = "same-city";   // "same-city" or "off-site"
  std::vector<std::string> checks;  // shell commands run against the sandbox
  int64_t rto_s = 0;                // 0: no recovery-time objective
};

// Policy, drill and migration names: they go into job keys and file names.
// [a-z0-9][a-z0-9._-]{0,63}.
bool IsPolicyName(std::string_view s);

struct Policy {
  std::string name;  // [a-z0-9][a-z0-9._-]{0,63}
  std::string ns;    // vault namespace ("namespace:"); empty: local repository
  std::string description;
  std::vector<std::string> agents;  // enrolled agent names (or host names) it applies to
  std::vector<std::string> paths, images, devices;  // absolute; at least one source
  std::vector<std::string> excludes;
  std::vector<std::string> tags;  // added to every snapshot the policy takes
  bool one_file_system = false;
  bool btrfs_snapshot = false;
  std::string pre_hook, post_hook;  // consistency hooks (shell commands)
  Schedule schedule;
  RetentionRules same_city, off_site;
  int64_t rpo_s = 0;          // 0: no objective
  std::string alert_command;  // run once per RPO breach (and failed run)
  std::vector<DrillSpec> drills;

  std::string file;         // where it was read from
  std::string source_text;  // the YAML exactly as given (policy show/diff/history)

  std::vector<PolicySource> Sources() const;
  // True when `agent` (an enrolled name or host name) is listed, or the
  // list is empty (a local policy run by `drctl run`).
  bool AppliesTo(const std::string& agent) const;
};

// Parses one policy document. `file` names it in errors.
Result<Policy> ParsePolicy(std::string_view yaml, const std::string& file);
// The files LoadPolicies reads: `path` itself when it is not a directory,
// else its *.yaml / *.yml files (not hidden: editors' ".#a.yaml" locks; not
// recursive), in name order.
Result<std::vector<std::string>> PolicyFiles(const std::string& path);
// Every *.yaml / *.yml file of `path` (a directory, not recursive, sorted by
// name) or the one file `path`. Refuses two policies with the same name,
// naming both files. Reports the first bad file's first mistake.
Result<std::vector<Policy>> LoadPolicies(const std::string& path);

}  // namespace dr
