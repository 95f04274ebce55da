// PolicyStore: the policies applied at a vault (`drvault policy ...`), and
// the history of every change to them: who applied or removed what, when.
//
// Layout, under the vault's state directory (VaultConfig::policies_dir):
//   policies/NAME.yaml      the applied text of policy NAME, exactly as the
//                           admin gave it (comments included), so `show` and
//                           `diff` see what was written
//   policies/history.jsonl  one JSON object per change, oldest first:
//                           {"time_ns", "who", "action": "apply"|"remove",
//                            "policy", "namespace", "text", "previous"}
//                           ("text" is empty for a remove; "previous", the
//                           text replaced or removed, is absent when none)
//   policies/.lock          flock'd by Apply and Remove, so two admins'
//                           changes never interleave
//
// A change writes the policy file (atomically, durably) and then appends its
// history line (fsync'd). A crash between the two leaves the change made but
// unrecorded; a crash during the append leaves a torn last line, which
// reading skips with a warning, and the next append starts on a fresh line.
//
// Every policy applied here must name its namespace: a vault serves many
// namespaces, and a policy without one would run against no repository.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "policies/policy.h"

namespace dr {

// A policy text may be at most this long (as for policy files, policy.h).
inline constexpr size_t kMaxAppliedPolicyBytes = 1u << 20;

struct ApplyOutcome {
  std::string name;
  bool changed = false;  // false: the same text was applied already (nothing written)
  bool created = false;  // there was no policy of that name before
};

struct AppliedPolicy {
  Policy policy;  // policy.file is the stored file; policy.source_text its text
  // From the newest "apply" of it in the history; 0 and "" when there is none
  // (a file placed by hand, or a change a crash left unrecorded).
  int64_t applied_ns = 0;
  std::string applied_by;
};

struct PolicyListing {
  std::vector<AppliedPolicy> policies;  // by name
  // One line per stored file that could not be read or no longer parses
  // ("FILE:LINE:COLUMN: FIELD: message"); the other policies are still listed.
  std::vector<std::string> errors;
};

struct PolicyChange {
  int64_t time_ns = 0;
  std::string who;
  std::string action;  // "apply" or "remove"
  std::string policy;
  std::string ns;
  std::string text;      // the text applied; empty for a remove
  std::string previous;  // the text replaced or removed; empty when none
};

struct PolicyHistory {
  std::vector<PolicyChange> changes;  // oldest first
  std::vector<std::string> warnings;  // lines skipped, one message each
};

class PolicyStore {
 public:
  // `state_dir`: VaultConfig::state_dir. Nothing is read or created yet.
  explicit PolicyStore(const std::string& state_dir);

  // The checks Apply makes before it changes anything: the text parses
  // (ParsePolicy's "FILE:LINE:COLUMN: FIELD: message", `file` naming it), it
  // names a namespace, its name is a safe file name, and it is at most
  // kMaxAppliedPolicyBytes. `drvault policy apply` checks a whole batch with
  // it before applying any.
  static Result<Policy> Validate(const std::string& file, std::string_view yaml);

  // Makes `yaml` the applied text of the policy it defines, recording `who`.
  // Applying the text already applied changes nothing and records nothing.
  Result<ApplyOutcome> Apply(const std::string& file, std::string_view yaml,
                             const std::string& who);
  // Removes the applied policy `name`, recording `who`; NotFound when there
  // is none.
  Status Remove(const std::string& name, const std::string& who);

  // Every applied policy, parsed; see PolicyListing. No policies directory
  // is no policies.
  Result<PolicyListing> List() const;
  // The same without reading the history (applied_ns and applied_by left
  // empty): what the vault's workers and agents' fetches need.
  Result<PolicyListing> Applied() const;
  // The applied policy `name`, parsed; NotFound when there is none.
  Result<Policy> Get(const std::string& name) const;
  // Its stored text, whether or not it still parses (`show` prints it).
  Result<std::string> AppliedText(const std::string& name) const;
  // Every change (of `name` only, when given). No history file is no changes.
  Result<PolicyHistory> History(const std::optional<std::string>& name = std::nullopt) const;
  // The applied text of `name` against `new_text` (UnifiedDiff, line_diff.h,
  // headed "--- applied NAME" and "+++ NEW_LABEL"); empty when they are the
  // same. NotFound when `name` is not applied.
  Result<std::string> Diff(const std::string& name, std::string_view new_text,
                           const std::string& new_label) const;

  const std::string& dir() const { return dir_; }

 private:
  // InvalidArgument unless `name` is a policy name (and so a safe file name).
  static Status CheckName(const std::string& name);
  std::string PathOf(const std::string& name) const { return dir_ + "/" + name + ".yaml"; }
  std::string HistoryPath() const { return dir_ + "/history.jsonl"; }
  Status AppendChange(const PolicyChange& change);

  const std::string state_dir_;
  const std::string dir_;  // state_dir_ + "/policies"
};

}  // namespace dr
