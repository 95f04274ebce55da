#include "replicator/hooks.h"

#include <sys/wait.h>

#include <cerrno>
#include <cstdlib>

namespace dr {

Status RunHook(const std::string& which, const std::string& command, const std::string& source) {
  ::setenv("DR_SOURCE", source.c_str(), 1);
  const int rc = std::system(command.c_str());
  if (rc == -1) return Status::FromErrno(errno, which + " hook");
  if (!WIFEXITED(rc) || WEXITSTATUS(rc) != 0)
    return Status::IOError(which + " hook '" + command + "' failed (exit status " +
                           std::to_string(WIFEXITED(rc) ? WEXITSTATUS(rc) : -1) + ")");
  return Status::OK();
}

}  // namespace dr
