// The jobs of the policy service (cmd_run.cc): one backup of a policy
// source, or one scheduled drill. Neither fails as a whole: a failure is a
// job record saying so.
#pragma once

#include <string>

#include "policies/job_log.h"
#include "policies/scheduler.h"

namespace dr::cli {

struct RunFlags {
  std::string policies, state, host, prune_every = "24h";
  std::string offsite;  // the off-site site's repository, for drills that name it
  bool once = false, all = false;
  bool agent = false;  // the repository is a vault: dragent run
};

// One backup of one policy source. `*suspicion` says why a snapshot written
// into a local repository looks like ransomware at work (empty when it does
// not); a vault weighs what is sent to it.
JobRecord RunBackupJob(const std::string& url, const DueJob& job, const std::string& host,
                       std::string* snapshot_group_paths, std::string* suspicion);

// One scheduled drill (a policy's `drills:` entry): the newest snapshot of
// the policy at the drill's site, restored into STATE/drill-sandbox/, checked
// against the drill's rto and the policy's rpo, reported under STATE/drills/
// and recorded in the site's drill history.
JobRecord RunDrillJob(const std::string& url, const RunFlags& f, const DueJob& job);

}  // namespace dr::cli
