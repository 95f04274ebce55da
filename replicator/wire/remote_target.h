// RemoteTarget: a BackupTarget that is a vault session. Chunk ids are asked
// in batches ("which of these do you lack?", a few batches in flight so the
// reader does not wait for round trips); only the missing chunks are
// compressed and sent, within the vault's credit. Commit returns once the
// vault says the snapshot is durable there.
#pragma once

#include "catalog/repo_keys.h"

#include <memory>

#include "replicator/capture/backup_target.h"
#include "replicator/wire/vault_client.h"

namespace dr {

// InvalidArgument when the vault's welcome lacks repository parameters (the
// session is not one that may back up).
Result<std::unique_ptr<BackupTarget>> MakeRemoteTarget(std::shared_ptr<VaultClient> client,
                                                       int threads);

}  // namespace dr

namespace dr {

// Where a backup goes, opened from a repository URL: a local repository
// (dir://, rados://) or a vault session (vault://). Owns what the target
// uses; `vault` is set for a vault session (its wire statistics).
struct OpenedTarget {
  std::unique_ptr<Repository> repo;
  std::shared_ptr<VaultClient> vault;
  std::unique_ptr<BackupTarget> target;  // last: destroyed before what it uses
};
Result<OpenedTarget> OpenBackupTarget(const std::string& url, int threads,
                                      const KeySource& keys = {});

}  // namespace dr
