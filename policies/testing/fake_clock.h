// A Clock for tests: time moves only when the test (or a SleepUntil) moves
// it, so scheduler decisions can be checked second by second.
#pragma once

#include <algorithm>
#include <cstdint>

#include "policies/scheduler.h"

namespace dr::testing {

class FakeClock : public Clock {
 public:
  explicit FakeClock(int64_t now_s) : now_(now_s) {}
  int64_t NowS() override { return now_; }
  // Sleeping is jumping ahead.
  void SleepUntil(int64_t s) override { now_ = std::max(now_, s); }
  void Wake() override {}
  void Set(int64_t s) { now_ = s; }
  void Advance(int64_t d) { now_ += d; }

 private:
  int64_t now_;
};

}  // namespace dr::testing
