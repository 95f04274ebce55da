// drvault policy: the policies applied at this vault and their history
// (replicator/vault/policy_store.h, docs/policies.md).
//   drvault policy apply FILE|DIR...     all or nothing: every file is checked first
//   drvault policy list                  NAME NAMESPACE AGENTS SCHEDULE RPO APPLIED-AT BY
//   drvault policy show NAME             the applied YAML, verbatim
//   drvault policy diff FILE             the applied policy of FILE's name against FILE
//   drvault policy remove NAME
//   drvault policy history [NAME] [--show-text]
// Changes are recorded as made by $SUDO_USER (the admin behind sudo), else
// the login name of the real user id.

#include <algorithm>
#include <cstdlib>
#include <map>
#include <optional>
#include <vector>

#include "catalog/signing.h"
#include "core/timefmt.h"
#include "policies/duration.h"
#include "policies/policy.h"
#include "replicator/vault/policy_store.h"
#include "tools/drvault/commands.h"

namespace dr::drvault {

namespace {

// "every 15m", "cron 0 2 * * * Europe/Berlin", "every 1h 20:00-06:00": the
// schedule in one table cell.
std::string DescribeSchedule(const Schedule& s) {
  std::string out;
  if (s.cron) {
    out = "cron " + s.cron->text;
  } else if (s.every_s > 0) {
    out = "every " + FormatDuration(s.every_s);
  } else {
    return "-";
  }
  if (s.window) {
    char buf[32];
    std::snprintf(buf, sizeof buf, " %02d:%02d-%02d:%02d", s.window->start_minute / 60,
                  s.window->start_minute % 60, s.window->end_minute / 60,
                  s.window->end_minute % 60);
    out += buf;
  }
  // The zone matters to cron and window only (`every` counts elapsed time).
  if ((s.cron || s.window) && s.zone.name() != "UTC") out += " " + s.zone.name();
  return out;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& i : items) out += (out.empty() ? "" : ",") + i;
  return out;
}

// The lines of a table whose columns are as wide as their widest cell (the
// last one unpadded).
std::vector<std::string> FormatTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()), 0);
    for (size_t i = 0; i < row.size(); i++) width[i] = std::max(width[i], row[i].size());
  }
  std::vector<std::string> lines;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); i++) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

// `text` with every line indented, for history --show-text.
void PrintIndented(const std::string& text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::printf("    %.*s\n", static_cast<int>(end - pos), text.data() + pos);
    pos = end + 1;
  }
}

// Every policy in `args` (files or directories), each checked as apply
// would check it, and no name twice. Nothing is applied yet.
Result<std::vector<Policy>> LoadBatch(const std::vector<std::string>& args) {
  std::vector<Policy> batch;
  std::map<std::string, std::string> file_of;  // name -> file
  for (const std::string& arg : args) {
    ASSIGN_OR_RETURN(std::vector<Policy> loaded, LoadPolicies(arg));
    if (loaded.empty()) return Status::InvalidArgument(arg + ": no policy files (*.yaml, *.yml)");
    for (Policy& p : loaded) {
      RETURN_IF_ERROR(PolicyStore::Validate(p.file, p.source_text).status());
      const auto [it, fresh] = file_of.emplace(p.name, p.file);
      if (!fresh)
        return Status::InvalidArgument(p.file + ": name: policy \"" + p.name +
                                       "\" is also defined in " + it->second);
      batch.push_back(std::move(p));
    }
  }
  return batch;
}

void AddApply(CLI::App& policy, Cli& cli) {
  static std::vector<std::string> files;
  auto* cmd = policy.add_subcommand(
      "apply", "apply policy files (all or none: every file is checked before any is applied)");
  cmd->add_option("files", files, "policy files, or directories of them")->required();
  cli.WithConfig(cmd, [](const VaultConfig& c) {
    auto batch = LoadBatch(files);
    if (!batch.ok()) return Fail(batch.status());
    PolicyStore store(c.state_dir);
    const std::string who = CurrentAdmin();
    Status unrecorded;  // the batch is applied whole even if the audit log fails
    for (const Policy& p : *batch) {
      auto done = store.Apply(p.file, p.source_text, who);
      if (!done.ok()) return Fail(done.status());
      if (!done->changed) {
        std::printf("%s unchanged\n", done->name.c_str());
        continue;
      }
      std::printf("applied %s (%s)\n", done->name.c_str(), done->created ? "new" : "changed");
      // The text itself is in the policy history; its digest binds it here.
      Status a = Audit(
          c, "policy-apply", done->name,
          {{"file", p.file}, {"new", done->created}, {"text_blake2b", ChainDigest(p.source_text)}});
      if (!a.ok() && unrecorded.ok()) unrecorded = a;
    }
    return unrecorded.ok() ? kExitOk : Fail(unrecorded);
  });
}

void AddList(CLI::App& policy, Cli& cli) {
  auto* cmd = policy.add_subcommand("list", "the policies applied at this vault");
  cli.WithConfig(cmd, [](const VaultConfig& c) {
    auto listing = PolicyStore(c.state_dir).List();
    if (!listing.ok()) return Fail(listing.status());
    if (listing->policies.empty() && listing->errors.empty()) {
      std::printf("no policies applied at this vault\n");
      return kExitOk;
    }
    std::vector<std::vector<std::string>> rows = {
        {"NAME", "NAMESPACE", "AGENTS", "SCHEDULE", "RPO", "APPLIED-AT", "BY"}};
    for (const AppliedPolicy& a : listing->policies) {
      const Policy& p = a.policy;
      rows.push_back({p.name, p.ns, p.agents.empty() ? "any" : Join(p.agents),
                      DescribeSchedule(p.schedule), p.rpo_s > 0 ? FormatDuration(p.rpo_s) : "-",
                      a.applied_ns > 0 ? FormatLocal(a.applied_ns) : "-",
                      a.applied_by.empty() ? "-" : a.applied_by});
    }
    if (!listing->policies.empty())
      for (const std::string& line : FormatTable(rows)) std::printf("%s\n", line.c_str());
    // A stored file that no longer reads is a problem to fix, not a reason
    // to hide the others: they are listed, and the exit status says so.
    for (const std::string& e : listing->errors) std::fprintf(stderr, "drvault: %s\n", e.c_str());
    return listing->errors.empty() ? kExitOk : kExitError;
  });
}

void AddShow(CLI::App& policy, Cli& cli) {
  static std::string name;
  auto* cmd = policy.add_subcommand("show", "print the applied text of a policy");
  cmd->add_option("name", name, "policy name")->required();
  cli.WithConfig(cmd, [](const VaultConfig& c) {
    auto text = PolicyStore(c.state_dir).AppliedText(name);
    if (!text.ok()) return Fail(text.status());
    std::fwrite(text->data(), 1, text->size(), stdout);
    return kExitOk;
  });
}

void AddDiff(CLI::App& policy, Cli& cli) {
  static std::string file;
  auto* cmd = policy.add_subcommand(
      "diff", "compare a policy file with the applied policy of the same name");
  cmd->add_option("file", file, "policy file")->required();
  cli.WithConfig(cmd, [](const VaultConfig& c) {
    auto batch = LoadBatch({file});
    if (!batch.ok()) return Fail(batch.status());
    PolicyStore store(c.state_dir);
    for (const Policy& p : *batch) {
      auto diff = store.Diff(p.name, p.source_text, p.file);
      if (!diff.ok()) return Fail(diff.status());
      if (diff->empty()) {
        if (batch->size() == 1) {
          std::printf("no differences\n");
        } else {
          std::printf("%s: no differences\n", p.name.c_str());
        }
      } else {
        std::fwrite(diff->data(), 1, diff->size(), stdout);
      }
    }
    return kExitOk;
  });
}

void AddRemove(CLI::App& policy, Cli& cli) {
  static std::string name;
  auto* cmd = policy.add_subcommand("remove", "remove an applied policy");
  cmd->add_option("name", name, "policy name")->required();
  cli.WithConfig(cmd, [](const VaultConfig& c) {
    Status s = PolicyStore(c.state_dir).Remove(name, CurrentAdmin());
    if (!s.ok()) return Fail(s);
    std::printf("removed %s\n", name.c_str());
    if (Status a = Audit(c, "policy-remove", name, nlohmann::json::object()); !a.ok())
      return Fail(a);
    return kExitOk;
  });
}

void AddHistory(CLI::App& policy, Cli& cli) {
  static std::string name;
  static bool show_text = false;
  auto* cmd =
      policy.add_subcommand("history", "every change to the applied policies, oldest first");
  cmd->add_option("name", name, "only this policy");
  cmd->add_flag("--show-text", show_text,
                "print the text applied (or, for a remove, the text removed) under each change");
  cli.WithConfig(cmd, [](const VaultConfig& c) {
    auto history =
        PolicyStore(c.state_dir).History(name.empty() ? std::nullopt : std::optional(name));
    if (!history.ok()) return Fail(history.status());
    for (const std::string& w : history->warnings)
      std::fprintf(stderr, "drvault: warning: %s\n", w.c_str());
    if (history->changes.empty()) {
      std::printf("no policy changes recorded\n");
      return kExitOk;
    }
    std::vector<std::vector<std::string>> rows = {{"TIME", "WHO", "ACTION", "POLICY"}};
    for (const PolicyChange& ch : history->changes)
      rows.push_back({FormatLocal(ch.time_ns), ch.who, ch.action, ch.policy});
    const std::vector<std::string> lines = FormatTable(rows);
    for (size_t i = 0; i < lines.size(); i++) {
      std::printf("%s\n", lines[i].c_str());
      if (!show_text || i == 0) continue;
      // Under each change, the text it applied (or, for a remove, removed).
      const PolicyChange& ch = history->changes[i - 1];
      PrintIndented(ch.action == "remove" ? ch.previous : ch.text);
    }
    return kExitOk;
  });
}

}  // namespace

void AddPolicyCommands(CLI::App& app, Cli& cli) {
  auto* policy = app.add_subcommand("policy", "the backup policies applied at this vault");
  policy->require_subcommand(1);
  AddApply(*policy, cli);
  AddList(*policy, cli);
  AddShow(*policy, cli);
  AddDiff(*policy, cli);
  AddRemove(*policy, cli);
  AddHistory(*policy, cli);
}

}  // namespace dr::drvault
