// drvault audit: the vault's audit log (replicator/vault/audit_log.h), listed
// and checked. Also what the other commands use to record their actions.
#include <pwd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "core/timefmt.h"
#include "replicator/vault/audit_log.h"
#include "tools/drvault/commands.h"

namespace dr::drvault {

std::string CurrentAdmin() {
  if (const char* sudo = std::getenv("SUDO_USER"); sudo && *sudo) return sudo;
  const uid_t uid = ::getuid();
  if (const passwd* pw = ::getpwuid(uid); pw && pw->pw_name && *pw->pw_name) return pw->pw_name;
  return "uid " + std::to_string(uid);
}

Status Audit(const VaultConfig& config, const std::string& action, const std::string& subject,
             nlohmann::json details) {
  auto log = AuditLog::Open(config);
  Status st = log.status();
  if (log.ok()) {
    st = (*log)
             ->Append(NewLogRecord("admin " + CurrentAdmin(), action, subject, std::move(details)))
             .status();
  }
  return st.ok() ? st
                 : Status::FromCode(static_cast<int>(st.code()),
                                    "done, but not recorded in the audit log: " + st.message());
}

namespace {

nlohmann::json EntryJson(const AuditEntry& e) {
  return {{"seq", e.seq},         {"time", FormatRfc3339Utc(e.time_ns)},
          {"actor", e.actor},     {"action", e.action},
          {"subject", e.subject}, {"details", e.details},
          {"digest", e.digest}};
}

// A field as one line of the table: control characters (a terminal escape
// in a name someone typed or planted), C1 ones (U+0080-U+009F, 0xc2 0x80-0x9f
// in UTF-8) too, shown as '?'.
std::string Printable(std::string s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == 0xc2 && i + 1 < s.size() && (static_cast<unsigned char>(s[i + 1]) & 0xe0) == 0x80) {
      out += '?';
      ++i;
    } else {
      out += c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace

void AddAuditCommand(CLI::App& app, Cli& cli) {
  static std::string since;
  static bool verify = false, json = false;
  auto* cmd = app.add_subcommand(
      "audit",
      "the administrative actions at this vault; every record's chain and signature checked");
  cmd->add_option("--since", since,
                  "only records at or after this time (2026-12-01, @UNIXSECONDS)");
  cmd->add_flag("--verify", verify, "print only whether the log is intact (exit 1 if not)");
  cmd->add_flag("--json", json, "print JSON");
  cli.WithConfig(cmd, [](const VaultConfig& c) {
    int64_t since_ns = 0;
    if (!since.empty()) {
      auto t = ParseTimeArgStart(since);
      if (!t.ok()) return Fail(t.status().WithContext("--since"));
      since_ns = *t;
    }
    auto log = AuditLog::Open(c);
    if (!log.ok()) return Fail(log.status());
    auto r = (*log)->Read(since_ns);
    if (!r.ok()) return Fail(r.status());
    const bool intact = r->problems.empty();
    if (json) {
      nlohmann::json out = {{"intact", intact},
                            {"problems", r->problems},
                            {"key", (*log)->public_key()},
                            {"records", nlohmann::json::array()}};
      if (!verify)
        for (const auto& e : r->entries) out["records"].push_back(EntryJson(e));
      std::printf("%s\n",
                  out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      return intact ? kExitOk : kExitError;
    }
    if (!verify) {
      std::printf("%6s  %-19s  %-20s  %-14s  %-34s  %s\n", "SEQ", "TIME", "ACTOR", "ACTION",
                  "SUBJECT", "DETAILS");
      for (const auto& e : r->entries) {
        std::printf(
            "%6llu  %-19s  %-20s  %-14s  %-34s  %s\n", static_cast<unsigned long long>(e.seq),
            FormatLocal(e.time_ns).c_str(), Printable(e.actor).c_str(), Printable(e.action).c_str(),
            Printable(e.subject).c_str(),
            Printable(e.details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
                .c_str());
      }
    }
    for (const auto& p : r->problems)
      std::fprintf(stderr, "drvault: audit log: %s\n", Printable(p).c_str());
    if (!intact) return kExitError;
    if (verify)
      std::printf("audit log intact: %zu records, signed by %s\n", r->entries.size(),
                  (*log)->public_key().c_str());
    return kExitOk;
  });
}

}  // namespace dr::drvault
