// drctl run / dragent run: the policy service. Runs the policies that apply
// to this host, one job at a time, as policies/scheduler.h decides, and
// watches the RPO of every source.
//  - drctl run: policies from a directory, into a local or RADOS
//    repository; applies each policy's same-city retention after a good run
//    and prunes now and then between jobs.
//  - dragent run: the policies applied for this agent at its vault, fetched
//    into STATE/policies (policy_sync.h) at start and every 30 s; the vault
//    applies retention and prunes, never the agent.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "catalog/prune.h"
#include "catalog/store/object_store.h"
#include "core/env/fd.h"
#include "core/env/file_io.h"
#include "core/timefmt.h"
#include "policies/duration.h"
#include "policies/job_log.h"
#include "policies/rpo.h"
#include "policies/scheduler.h"
#include "policies/snapshot_groups.h"
#include "replicator/capture/backup.h"
#include "replicator/capture/block_backup.h"
#include "replicator/wire/remote_target.h"
#include "replicator/wire/vault_client.h"
#include "replicator/wire/vault_store.h"
#include "tools/drctl/cli.h"
#include "tools/drctl/policy_sync.h"
#include "tools/drctl/run_jobs.h"

namespace dr::cli {

namespace {

constexpr int64_t kPollPolicyDirS = 30;
// Snapshots taken by hand (or by another host) count for the RPO too.
constexpr int64_t kRefreshSnapshotsS = 600;

std::atomic<bool> g_stop{false}, g_reload{false};
Clock* g_clock = nullptr;

void OnSignal(int sig) {
  (sig == SIGHUP ? g_reload : g_stop).store(true);
  if (g_clock) g_clock->Wake();
}

void InstallSignals(Clock* clock) {
  g_clock = clock;
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sa.sa_flags = SA_RESTART;  // a running backup's I/O carries on
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) ::sigaction(sig, &sa, nullptr);
}

// "2026-11-27 03:00:00 " before every line: cron mails and plain logs have
// no other time stamp. Results go to stdout, trouble to stderr.
void SayTo(FILE* out, const char* fmt, const std::string& text) {
  std::fprintf(out, "%s ", FormatLocal(NowUnixNs()).c_str());
  std::fprintf(out, fmt, text.c_str());
  std::fprintf(out, "\n");
  std::fflush(out);
}
void Say(const char* fmt, const std::string& text) { SayTo(stdout, fmt, text); }
void Warn(const char* fmt, const std::string& text) { SayTo(stderr, fmt, text); }

Result<std::unique_ptr<Repository>> OpenLocalRepo(const std::string& url) {
  return OpenRepoAt(url);
}

// Through a vault, the snapshots the agent may see (its own, for a
// backup-only agent).
Result<std::vector<Snapshot>> ListSnapshotsOf(const std::string& url) {
  if (IsVaultUrl(url)) {
    ASSIGN_OR_RETURN(VaultAddress address, ParseVaultUrl(url));
    ASSIGN_OR_RETURN(std::shared_ptr<VaultClient> client,
                     VaultClient::Connect(address, ServiceCallOptions()));
    ASSIGN_OR_RETURN(auto target, MakeRemoteTarget(client, 0));
    return target->ListSnapshots();
  }
  ASSIGN_OR_RETURN(auto repo, OpenLocalRepo(url));
  return repo->ListSnapshots();
}

// Only one service per state directory: two would run every job twice.
Result<UniqueFd> LockStateDir(const std::string& dir) {
  const std::string path = dir + "/run.lock";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return Status::FromErrno(errno, "open " + path);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      return Status::Unavailable("another drctl run uses the state directory " + dir);
    return Status::FromErrno(errno, "lock " + path);
  }
  return fd;
}

std::string Describe(const JobRecord& r) {
  const double secs = static_cast<double>(r.end_ns - r.start_ns) / 1e9;
  char dur[32];
  std::snprintf(dur, sizeof dur, "%.1fs", secs);
  std::string line = r.policy + "/" + r.source + ": " + JobResultName(r.result);
  if (r.attempt > 1) line += " (attempt " + std::to_string(r.attempt) + ")";
  if (!r.snapshot.empty()) {
    line += ", snapshot " + r.snapshot.substr(0, 8) + ", read " + HumanBytes(r.bytes_read) +
            ", added " + HumanBytes(r.bytes_new);
  }
  line += " in " + std::string(dur);
  if (!r.error.empty()) line += ": " + r.error;
  return line;
}

class PolicyRunner {
 public:
  PolicyRunner(const RunFlags& f, std::string url, Clock* clock)
      : f_(f),
        url_(std::move(url)),
        clock_(clock),
        scheduler_(clock, f.state, f.host),
        alerts_(f.state) {}

  Status Start(int64_t prune_every_s) {
    prune_every_s_ = prune_every_s;
    if (f_.agent) {
      Status synced = SyncFromVault();
      // Without the vault, the policies fetched last time still run; with
      // none fetched ever, a one-shot run has nothing to do but fail.
      if (!synced.ok() && f_.once && !std::filesystem::exists(f_.policies)) return synced;
    }
    if (Status s = scheduler_.Load(); !s.ok()) Warn("warning: %s (starting afresh)", s.message());
    if (Status s = alerts_.Load(); !s.ok()) Warn("warning: %s", s.message());
    auto text = ReadWholeFile(f_.state + "/prune.json");
    if (text.ok()) {
      auto j = nlohmann::json::parse(*text, nullptr, false);
      if (j.is_object() && j.contains("last_prune_s") && j["last_prune_s"].is_number_integer())
        last_prune_s_ = j["last_prune_s"].get<int64_t>();
    }
    // At start, a job that never ran has missed every slot before: it runs.
    RETURN_IF_ERROR(Reload(/*run_new_now=*/true));
    RefreshNewest();
    return Status::OK();
  }

  // Rereads the policy directory; bad files are reported and skipped. Fails
  // only when the directory cannot be read at all.
  Status Reload(bool run_new_now) {
    fingerprint_ = PolicyDirFingerprint(f_.policies);
    auto load = LoadPolicyDir(f_.policies);
    if (!load.ok()) return load.status();
    policy_errors_ = load->errors.size();
    for (const auto& e : load->errors) Warn("policy error: %s", e);
    std::vector<Policy> mine;
    for (auto& p : load->policies) {
      // The vault sends only what covers this agent's enrolled name.
      if (f_.agent || p.AppliesTo(f_.host)) mine.push_back(std::move(p));
    }
    RETURN_IF_ERROR(scheduler_.SetPolicies(mine, run_new_now));
    std::vector<std::string> keys;
    size_t drills = 0;
    for (const auto& p : mine) {
      for (const auto& src : p.Sources()) keys.push_back(JobKey(p, src));
      drills += p.drills.size();
    }
    RETURN_IF_ERROR(alerts_.Retain(keys));
    policies_ = std::move(mine);
    Say("%s", std::to_string(policies_.size()) + " policies apply to host " + f_.host + " (" +
                  std::to_string(keys.size()) + " jobs" +
                  (drills ? ", " + std::to_string(drills) + " drills" : "") +
                  (policy_errors_ ? ", " + std::to_string(policy_errors_) + " bad files" : "") +
                  ")");
    return Status::OK();
  }

  // Runs `job` now, logs it, and applies retention after a good run.
  JobResult RunOne(const DueJob& job) {
    scheduler_.Started(job);
    std::string paths, suspicion;
    JobRecord rec = job.drill ? RunDrillJob(url_, f_, job)
                              : RunBackupJob(url_, job, f_.host, &paths, &suspicion);
    const bool ok = rec.result != JobResult::kFailed;
    std::string line = Describe(rec);
    if (Status s = scheduler_.Finished(job, ok); !s.ok())
      line += " (state not saved: " + s.message() + ")";
    if (!ok) {
      if (auto at = scheduler_.DueAt(job.key)) {
        line += "; next try " + FormatLocal(*at * 1000000000);
      }
    }
    Say("%s", line);
    if (Status s = AppendJobRecord(f_.state, rec); !s.ok())
      Warn("warning: job log: %s", s.message());
    if (job.drill) {
      // A drill that failed pages every time: it is a finding, not a glitch.
      if (rec.result == JobResult::kFailed && !job.policy.alert_command.empty()) {
        AlertInfo info{
            "drill-failed", job.policy.name, rec.source, job.drill->site, {}, rec.error, "", ""};
        if (Status s = RunAlertCommand(job.policy.alert_command, info); !s.ok())
          Warn("warning: %s", s.message());
      }
      return rec.result;
    }
    if (!suspicion.empty() && !AlertCommand(job.policy).empty()) {
      AlertInfo info{"suspicious-change",
                     job.policy.name,
                     job.source.Label(),
                     "same-city",
                     {},
                     suspicion,
                     "",
                     ""};
      if (Status s = RunAlertCommand(AlertCommand(job.policy), info); !s.ok())
        Warn("warning: %s", s.message());
    }
    if (rec.result == JobResult::kOk) {
      if (!f_.agent) ApplyRetention(job, {job.policy.name, f_.host, paths});
    } else if (rec.result == JobResult::kFailed && job.attempt == 1 &&
               !AlertCommand(job.policy).empty()) {
      // The first failure of a streak pages; its retries do not (an RPO
      // breach pages again if they keep failing).
      AlertInfo info{"run-failed",
                     job.policy.name,
                     job.source.Label(),
                     "same-city",
                     Evaluate(job.policy, job.source),
                     rec.error,
                     "",
                     ""};
      if (Status s = RunAlertCommand(AlertCommand(job.policy), info); !s.ok())
        Warn("warning: %s", s.message());
    }
    if (rec.result == JobResult::kOk)
      newest_[job.key] = std::max(newest_[job.key].value_or(0), rec.start_ns);
    return rec.result;
  }

  // Evaluates every source and runs alert commands for new breaches.
  void CheckRpo() {
    for (const Policy& p : policies_) {
      for (const PolicySource& src : p.Sources()) {
        const std::string key = JobKey(p, src);
        const RpoStatus st = Evaluate(p, src);
        auto [it, fresh] = rpo_.emplace(key, st.state);
        if (fresh ? st.state != RpoState::kOk : it->second != st.state) {
          Say("%s", "rpo: " + key + " is now " + RpoStateName(st.state) +
                        (st.age_s >= 0 ? " (newest snapshot " + FormatDuration(st.age_s) +
                                             " old, objective " +
                                             (p.rpo_s ? FormatDuration(p.rpo_s) : "none") + ")"
                                       : ""));
        }
        it->second = st.state;
        AlertInfo info{"rpo-breach", p.name, src.Label(), "same-city", st, "", "", ""};
        bool fired = false;
        Status s = alerts_.Update(key, AlertCommand(p), info, &fired);
        if (fired) Say("%s", "rpo: " + key + " breached: alert command run");
        if (!s.ok()) Warn("warning: %s", s.message());
      }
    }
  }

  // Prunes when --prune-every has passed since the last prune.
  void MaybePrune() {
    const int64_t now = clock_->NowS();
    if (prune_every_s_ <= 0 || now - last_prune_s_ < prune_every_s_) return;
    RepositoryOpener open = [this] { return OpenLocalRepo(url_); };
    auto r = Prune(open, PruneOptions{});
    if (!r.ok()) {
      Warn("prune failed: %s (next try in an hour)", r.status().message());
      last_prune_s_ = now - prune_every_s_ + 3600;
      return;
    }
    last_prune_s_ = now;
    (void)WriteFileAtomically(f_.state + "/prune.json",
                              nlohmann::json{{"last_prune_s", now}}.dump() + "\n");
    Say("%s", "prune: deleted " + std::to_string(r->packs_deleted) + " packs (" +
                  HumanBytes(r->bytes_deleted) + "), condemned " + HumanBytes(r->condemned_bytes));
  }

  // Newest recovery points from the repository (or vault) itself.
  void RefreshNewest() {
    last_refresh_s_ = clock_->NowS();
    auto all = ListSnapshotsOf(url_);
    if (!all.ok()) {
      Warn("warning: cannot read snapshots for the RPO: %s", all.status().message());
      return;
    }
    UpdateNewest(*all);
  }

  int Once() {
    int failed = 0, partial = 0;
    for (const DueJob& job : f_.all ? scheduler_.AllJobs() : scheduler_.AllDue()) {
      if (g_stop.load()) break;
      const JobResult r = RunOne(job);
      failed += r == JobResult::kFailed;
      partial += r == JobResult::kPartial;
    }
    if (!g_stop.load()) MaybePrune();
    CheckRpo();
    if (failed || policy_errors_) return kExitError;
    return partial ? kExitPartial : kExitOk;
  }

  int Serve() {
    int64_t last_poll = clock_->NowS();
    CheckRpo();
    while (!g_stop.load()) {
      const int64_t now = clock_->NowS();
      const bool hangup = g_reload.exchange(false);
      if (hangup || now - last_poll >= kPollPolicyDirS) {
        last_poll = now;
        if (f_.agent) (void)SyncFromVault();
        if (hangup || PolicyDirFingerprint(f_.policies) != fingerprint_) {
          if (Status s = Reload(/*run_new_now=*/false); !s.ok()) {
            Warn("policy reload failed, keeping the policies loaded before: %s", s.message());
          } else {
            RefreshNewest();  // new policies may have snapshots already
          }
        }
      }
      int64_t next = INT64_MAX;
      if (auto job = scheduler_.NextDue(&next)) {
        RunOne(*job);
        CheckRpo();
        continue;
      }
      MaybePrune();
      if (now - last_refresh_s_ >= kRefreshSnapshotsS) RefreshNewest();
      CheckRpo();
      clock_->SleepUntil(std::min(next, last_poll + kPollPolicyDirS));
    }
    Say("%s", std::string("stopping"));
    return kExitOk;
  }

 private:
  // Through a vault, the vault alerts (drvault's RPO monitor): the command
  // names a program on the vault's host, and one breach pages once.
  std::string AlertCommand(const Policy& p) const { return f_.agent ? "" : p.alert_command; }

  // Fetches this agent's policies into the policy directory; on failure
  // the policies fetched before stay in force.
  Status SyncFromVault() {
    auto synced = SyncPoliciesFromVault(url_, f_.policies);
    if (!synced.ok()) {
      Warn("cannot fetch policies from the vault (running those fetched before): %s",
           synced.status().message());
      return synced.status();
    }
    if (synced->changed)
      Say("%s", "fetched " + std::to_string(synced->policies) + " policies from the vault");
    return Status::OK();
  }

  RpoStatus Evaluate(const Policy& p, const PolicySource& src) {
    const std::string key = JobKey(p, src);
    const int64_t now = clock_->NowS();
    auto it = newest_.find(key);
    std::optional<int64_t> newest = it == newest_.end() ? std::nullopt : it->second;
    return EvaluateRpo(newest, p.rpo_s, LastExpectedSlot(p.schedule, JitterKey(key, f_.host), now),
                       now);
  }

  void UpdateNewest(const std::vector<Snapshot>& all) {
    for (const Policy& p : policies_) {
      for (const PolicySource& src : p.Sources()) {
        newest_[JobKey(p, src)] = NewestRecoveryPoint(all, GroupKeyOf(p, src, f_.host));
      }
    }
  }

  // The policy's same-city rules over this source's group, as `drctl
  // forget --policy` applies them.
  void ApplyRetention(const DueJob& job, const SnapshotGroupKey& group_key) {
    const RetentionRules& rules = job.policy.same_city;
    if (rules.empty() && rules.lock_for_s == 0) return;
    auto repo = OpenLocalRepo(url_);
    if (!repo.ok()) return Warn("retention skipped: %s", repo.status().message());
    auto all = (*repo)->ListSnapshots();
    if (!all.ok()) return Warn("retention skipped: %s", all.status().message());
    const SnapshotGroups groups = GroupSnapshots(*all, job.policy.name, f_.host);
    auto group = groups.find(group_key);
    if (group == groups.end()) return;
    auto decisions =
        ApplyGroupRetention(*(*repo)->store(), group->second, rules, NowUnixNs(), false);
    if (!decisions.ok()) return Warn("retention failed: %s", decisions.status().message());
    size_t forgotten = 0;
    for (const auto& d : *decisions) forgotten += !d.keep;
    Say("%s", job.key + ": retention (" + rules.Describe() + ") kept " +
                  std::to_string(decisions->size() - forgotten) + ", forgot " +
                  std::to_string(forgotten) + " snapshots");
  }

  RunFlags f_;
  std::string url_;
  Clock* clock_;
  Scheduler scheduler_;
  AlertTracker alerts_;
  std::vector<Policy> policies_;
  size_t policy_errors_ = 0;
  std::string fingerprint_;
  std::map<std::string, std::optional<int64_t>> newest_;  // job key -> newest good snapshot
  std::map<std::string, RpoState> rpo_;                   // last state shown
  int64_t prune_every_s_ = 0, last_prune_s_ = 0, last_refresh_s_ = 0;
};

}  // namespace

void AddRunCommand(CLI::App& app, GlobalOptions& g, Runner* run) {
  auto* cmd = app.add_subcommand(
      "run",
      "run the backup policies of this host (a service): drctl from --policies into a local "
      "repository, dragent those applied for it at its vault");
  auto f = std::make_shared<RunFlags>();
  cmd->add_option("--policies", f->policies,
                  "policy directory or file (env DR_POLICIES); drctl only")
      ->envname("DR_POLICIES");
  cmd->add_option("--state", f->state,
                  "state directory: scheduler state, job log, alert memory (default "
                  "$STATE_DIRECTORY, /var/lib/drbackup for root, else "
                  "~/.local/state/drbackup)");
  cmd->add_flag("--once", f->once,
                "run every job that is due now (or never ran) once, then exit (1 if any failed)");
  cmd->add_flag("--all", f->all, "with --once: run every job, due or not");
  cmd->add_option("--host", f->host, "this host's name for policy agents (default: host name)");
  cmd->add_option("--offsite", f->offsite,
                  "the off-site site's repository (rados://... or, for dragent, "
                  "vault://...), for policy drills with site: off-site");
  cmd->add_option("--prune-every", f->prune_every,
                  "prune the repository between jobs this often (default 24h; 0 disables)");
  cmd->callback([&g, run, f] {
    *run = [&g, f] {
      std::setvbuf(stdout, nullptr, _IOLBF, 0);  // journald and pipes see each line
      if (g.repo.empty())
        return Fail(
            Status::InvalidArgument("no repository given (use -r PATH or set DR_REPOSITORY)"));
      f->agent = IsVaultUrl(g.repo);
      if (f->agent && !f->policies.empty())
        return Fail(Status::InvalidArgument(
            "--policies: through a vault, the policies are those applied at the vault "
            "(drvault policy apply)"));
      if (!f->agent && f->policies.empty())
        return Fail(Status::InvalidArgument("no --policies DIR given (env DR_POLICIES)"));
      int64_t prune_every_s = 0;
      if (!f->agent && f->prune_every != "0") {
        auto d = ParseDuration(f->prune_every);
        if (!d.ok()) return Fail(Status::InvalidArgument("--prune-every: " + d.status().message()));
        prune_every_s = *d;
      }
      if (f->host.empty()) f->host = LocalHostName();
      if (f->state.empty()) f->state = DefaultStateDir();
      std::error_code ec;
      std::filesystem::create_directories(f->state, ec);
      if (ec) return Fail(Status::IOError("state directory " + f->state + ": " + ec.message()));
      auto lock = LockStateDir(f->state);
      if (!lock.ok()) return Fail(lock.status());
      if (f->agent) {
        f->policies = f->state + "/policies";
      } else if (auto repo = OpenLocalRepo(g.repo); !repo.ok()) {
        return Fail(repo.status());  // a typo in -r is not a job failure
      }
      RealClock clock;
      InstallSignals(&clock);
      PolicyRunner runner(*f, g.repo, &clock);
      if (Status s = runner.Start(prune_every_s); !s.ok()) return Fail(s);
      return f->once ? runner.Once() : runner.Serve();
    };
  });
}

}  // namespace dr::cli
