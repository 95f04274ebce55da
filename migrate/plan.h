// A migration plan (docs/migration.md): the inventory of departmental
// systems a migration team moves into the government cloud, in waves. Parsed
// from YAML; every mistake is one line "FILE:LINE:COLUMN: FIELD: what is
// wrong", and unknown keys are mistakes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace dr {

// Shell commands run around a cutover; any may be empty (not run).
struct MigrationHooks {
  std::string quiesce;       // at the source: stop the application or freeze it
  std::string start;         // at the target: start the system there
  std::string health_check;  // at the target: exit 0 when the system serves
  std::string rollback;      // at the source: undo the quiesce after a failed cutover
};

struct MigrationSystem {
  std::string name;  // [a-z0-9][a-z0-9._-]{0,63}, unique in the plan
  std::string department, kind, cloud;
  int wave = 1;  // >= 1; waves are migrated in order
  // Sources on the source host, absolute: file trees, and at most one disk
  // image or block device.
  std::vector<std::string> paths;
  std::string image, device;
  // Targets: file trees land below `directory` at their own paths (the
  // cloud host's root, or a directory standing for it); the block source
  // goes to `image_target` (a file) or `rbd` (rbd://POOL/IMAGE?...).
  std::string directory;
  std::string image_target, rbd;
  // Through vaults: the enrolled agent at the source host whose captures
  // the target applies; snapshots any other agent wrote are never applied.
  std::string source_agent;
  int64_t window_start_ns = 0, window_end_ns = 0;  // 0/0: cut over any time
  MigrationHooks hooks;

  bool HasFiles() const { return !paths.empty(); }
  bool HasBlock() const { return !image.empty() || !device.empty(); }
  const std::string& BlockSource() const { return image.empty() ? device : image; }
  const std::string& BlockTarget() const { return rbd.empty() ? image_target : rbd; }
};

struct MigrationPlan {
  std::string name;  // the migration's name (same rule as a system's)
  // Where drctl's syncs travel: a directory or rados:// URL. Empty in a plan
  // run only through vaults (dragent: each agent names its own vault).
  std::string repository;
  std::string state_dir;                 // where each system's phase and history are kept
  std::vector<MigrationSystem> systems;  // in the order written
  std::string file;

  // The system called `name`, or nullptr.
  const MigrationSystem* Find(std::string_view name) const;
  // The systems of `wave`, in plan order.
  std::vector<const MigrationSystem*> Wave(int wave) const;
};

Result<MigrationPlan> ParseMigrationPlan(std::string_view yaml, const std::string& file);
// Reads and parses the plan at `path` (a regular file of at most 1 MiB).
Result<MigrationPlan> LoadMigrationPlan(const std::string& path);

}  // namespace dr
