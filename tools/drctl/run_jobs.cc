#include "tools/drctl/run_jobs.h"

#include <filesystem>

#include "core/timefmt.h"
#include "policies/snapshot_groups.h"
#include "replicator/capture/backup.h"
#include "replicator/capture/block_backup.h"
#include "replicator/wire/remote_target.h"
#include "replicator/wire/vault_client.h"
#include "replicator/wire/vault_store.h"
#include "tools/drctl/cli.h"

namespace dr::cli {

namespace {

// The job log record of `job` (a backup source or a drill), started now.
JobRecord StartJobRecord(const DueJob& job, std::string source) {
  JobRecord rec;
  rec.policy = job.policy.name;
  rec.source = std::move(source);
  rec.attempt = job.attempt;
  rec.start_ns = NowUnixNs();
  return rec;
}

JobRecord FailedJobRecord(JobRecord rec, const Status& why) {
  rec.end_ns = NowUnixNs();
  rec.result = JobResult::kFailed;
  rec.error = why.message();
  return rec;
}

}  // namespace

JobRecord RunBackupJob(const std::string& url, const DueJob& job, const std::string& host,
                       std::string* snapshot_group_paths, std::string* suspicion) {
  JobRecord rec = StartJobRecord(job, job.source.Label());
  auto finish = [&](const Status& s) { return FailedJobRecord(std::move(rec), s); };
  // Opened fresh for every job: a repository that was unreachable for the
  // last job may be back, and nothing stale is carried between jobs.
  auto keys = KeySourceFromEnvironment();
  if (!keys.ok()) return finish(keys.status());
  auto opened = OpenBackupTarget(url, 0, *keys);
  if (!opened.ok()) return finish(opened.status());
  const Policy& p = job.policy;
  Result<BackupResult> r = Status::InvalidArgument("no source");
  if (job.source.kind == PolicySource::Kind::kFiles) {
    BackupOptions o;
    o.paths = job.source.paths;
    o.excludes = p.excludes;
    o.one_file_system = p.one_file_system;
    o.btrfs_snapshot = p.btrfs_snapshot;
    o.tags = p.tags;
    o.policy = p.name;
    o.host = host;
    o.pre_hook = p.pre_hook;
    o.post_hook = p.post_hook;
    r = RunBackup(*opened->target, o);
  } else {
    BlockBackupOptions o;
    o.source = job.source.paths.front();
    o.tags = p.tags;
    o.policy = p.name;
    o.host = host;
    o.pre_hook = p.pre_hook;
    o.post_hook = p.post_hook;
    r = RunBlockBackup(*opened->target, o);
  }
  if (!r.ok()) return finish(r.status());
  const Snapshot& s = r->snapshot;
  rec.end_ns = NowUnixNs();
  rec.result = s.partial ? JobResult::kPartial : JobResult::kOk;
  rec.bytes_read = s.stats.bytes_read;
  rec.bytes_new = s.stats.bytes_added;
  rec.snapshot = s.id.Hex();
  if (s.partial && !r->warnings.empty()) {
    rec.error = std::to_string(r->warnings.size()) + " warnings, first: " + r->warnings.front();
  }
  *snapshot_group_paths = JoinedPaths(s.paths);
  if (opened->repo) {
    if (auto change = WatchLocalBackup(*opened->repo, s); change && change->verdict.suspicious) {
      *suspicion = DescribeSuspicion(*change);
    }
  }
  return rec;
}

JobRecord RunDrillJob(const std::string& url, const RunFlags& f, const DueJob& job) {
  const DrillSpec& d = *job.drill;
  JobRecord rec = StartJobRecord(job, "drill:" + d.name);
  auto finish = [&](const Status& s) { return FailedJobRecord(std::move(rec), s); };
  const std::string site_url = d.site == "off-site" ? f.offsite : url;
  if (site_url.empty()) {
    return finish(Status::InvalidArgument(
        "drill " + d.name + " restores from the off-site site: give run --offsite URL"));
  }
  auto keys = KeySourceFromEnvironment();
  if (!keys.ok()) return finish(keys.status());
  auto repo = OpenRepositoryAt(site_url, "restore", *keys);
  if (!repo.ok()) return finish(repo.status());
  auto all = (*repo)->ListSnapshots();
  if (!all.ok()) return finish(all.status());
  std::optional<Snapshot> newest;
  for (Snapshot& s : OfHost(std::move(all).value(), f.agent ? "" : f.host)) {
    if (s.policy == job.policy.name) newest = std::move(s);  // oldest first
  }
  if (!newest) {
    return finish(Status::NotFound("no snapshot of policy " + job.policy.name + " at " +
                                   RepositoryUrlForDisplay(site_url) + " to drill"));
  }
  const Snapshot& chosen = *newest;
  DrillOptions o;
  const std::string tag = job.policy.name + "-" + d.name;
  o.sandbox = f.state + "/drill-sandbox/" + tag;
  o.checks = d.checks;
  o.site = d.site;
  o.repository = RepositoryUrlForDisplay(site_url);
  o.operator_name = "scheduled (" + f.host + ")";
  if (d.rto_s > 0) o.rto_objective_s = d.rto_s;
  if (job.policy.rpo_s > 0) o.rpo_objective_s = job.policy.rpo_s;
  std::error_code ec;
  std::filesystem::create_directories(f.state + "/drills", ec);
  std::filesystem::create_directories(f.state + "/drill-sandbox", ec);
  const std::string prefix =
      f.state + "/drills/" + tag + "-" + std::to_string(rec.start_ns / 1000000000);
  auto run = RunAndRecordDrill(**repo, chosen, o, f.state + "/catalog.db", prefix);
  if (!run.ok()) return finish(run.status());
  rec.end_ns = NowUnixNs();
  rec.snapshot = run->report.snapshot_id;
  rec.bytes_read = run->report.bytes;
  if (run->report.passed) {
    rec.result = run->warnings.empty() ? JobResult::kOk : JobResult::kPartial;
    if (!run->warnings.empty()) rec.error = run->warnings.front();
  } else {
    rec.result = JobResult::kFailed;
    rec.error = "drill failed (report " + run->report_prefix + ".html)";
    if (!run->report.problems.empty())
      rec.error += ": " + run->report.problems.front();
    else if (!run->report.verdict.empty())
      rec.error += ": " + run->report.verdict.front();
  }
  return rec;
}

}  // namespace dr::cli
