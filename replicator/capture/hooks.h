// Consistency hooks: shell commands an operator gives to quiesce a source
// before it is captured (freeze a file system, flush a database) and to let
// it go again afterwards.
#pragma once

#include <string>

#include "core/status.h"

namespace dr {

// Runs `command` with /bin/sh, with DR_SOURCE set to `source`. `which`
// ("pre", "post") names the hook in the error when the command fails.
Status RunHook(const std::string& which, const std::string& command, const std::string& source);

// A pre-hook and a post-hook around one capture. Begin runs the pre-hook;
// once it succeeded, the post-hook runs exactly once: at End, or when the
// capture is abandoned (destruction), so a frozen source is always thawed.
// Either command may be empty.
class CaptureHooks {
 public:
  CaptureHooks(std::string pre, std::string post, std::string source)
      : pre_(std::move(pre)), post_(std::move(post)), source_(std::move(source)) {}
  ~CaptureHooks() { (void)End(); }
  CaptureHooks(const CaptureHooks&) = delete;
  CaptureHooks& operator=(const CaptureHooks&) = delete;

  Status Begin();
  Status End();
  bool has_pre_hook() const { return !pre_.empty(); }
  // The consistency of a source read live between the hooks.
  const char* LiveConsistency() const {
    return has_pre_hook() ? "hooks (pre-hook before reading, post-hook after)"
                          : "none (read while in use)";
  }

 private:
  std::string pre_, post_, source_;
  bool post_due_ = false;
};

}  // namespace dr
