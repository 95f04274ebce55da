#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

#include "core/timefmt.h"

namespace dr {

bool ProgressReporter::StderrIsTerminal() { return ::isatty(STDERR_FILENO) == 1; }

ProgressReporter::ProgressReporter(const ProgressCounters* counters, std::string verb, bool enabled)
    : c_(counters),
      verb_(std::move(verb)),
      enabled_(enabled),
      start_(std::chrono::steady_clock::now()) {
  if (enabled_) thread_ = std::thread([this] { Run(); });
}

ProgressReporter::~ProgressReporter() {
  if (!enabled_) return;
  {
    std::lock_guard l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
}

std::string ProgressReporter::Line() const {
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  uint64_t done = c_->bytes_done.load(), total = c_->bytes_total.load();
  double rate = secs > 0 ? done / secs : 0;
  char buf[256];
  int n = std::snprintf(buf, sizeof buf, "[%d:%02d] %s: %llu files, %llu dirs, %s, %s/s",
                        static_cast<int>(secs) / 60, static_cast<int>(secs) % 60, verb_.c_str(),
                        static_cast<unsigned long long>(c_->files.load()),
                        static_cast<unsigned long long>(c_->dirs.load()),
                        HumanBytes(static_cast<double>(done)).c_str(), HumanBytes(rate).c_str());
  std::string line(buf, static_cast<size_t>(n));
  if (total > done && rate > 0) {
    int eta = static_cast<int>((total - done) / rate);
    std::snprintf(buf, sizeof buf, ", ETA %d:%02d", eta / 60, eta % 60);
    line += buf;
  }
  if (uint64_t e = c_->errors.load()) line += ", " + std::to_string(e) + " errors";
  return line;
}

void ProgressReporter::Run() {
  std::unique_lock l(mu_);
  while (!cv_.wait_for(l, std::chrono::seconds(1), [this] { return stop_; })) {
    std::fprintf(stderr, "\r\033[K%s", Line().c_str());
    std::fflush(stderr);
  }
}

}  // namespace dr
