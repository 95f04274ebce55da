// Live progress for long operations: counters updated by the workers, and a
// reporter thread that redraws one line on a terminal about once a second.
// Quiet when stderr is not a terminal (scripts, cron) unless forced.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace dr {

struct ProgressCounters {
  std::atomic<uint64_t> files{0};
  std::atomic<uint64_t> dirs{0};
  std::atomic<uint64_t> bytes_done{0};   // bytes processed (read, restored, verified)
  std::atomic<uint64_t> bytes_total{0};  // estimate for the ETA; 0 = unknown
  std::atomic<uint64_t> errors{0};
};

class ProgressReporter {
 public:
  // `verb` starts the line ("backup", "restore"). Draws only if `enabled`.
  ProgressReporter(const ProgressCounters* counters, std::string verb, bool enabled);
  ~ProgressReporter();  // stops and clears the line
  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;

  // True when stderr is a terminal.
  static bool StderrIsTerminal();

 private:
  void Run();
  std::string Line() const;

  const ProgressCounters* c_;
  std::string verb_;
  bool enabled_;
  std::chrono::steady_clock::time_point start_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace dr
