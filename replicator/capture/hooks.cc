#include "replicator/capture/hooks.h"

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

Status CaptureHooks::Begin() {
  if (!pre_.empty()) RETURN_IF_ERROR(RunHook("pre", pre_, source_));
  post_due_ = !post_.empty();
  return Status::OK();
}

Status CaptureHooks::End() {
  if (!post_due_) return Status::OK();
  post_due_ = false;
  return RunHook("post", post_, source_);
}

}  // namespace dr
