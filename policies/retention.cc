#include "policies/retention.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "policies/duration.h"

namespace dr {
namespace {

constexpr int64_t kNsPerS = 1000000000;

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// A calendar bucket rule: its name in reasons, its count in the rules, and
// the local bucket a time falls in.
struct BucketRule {
  const char* name;
  int RetentionRules::*count;
  std::string (*bucket)(const LocalTime&);
};

// Buckets are spelled as the reasons show them.
std::string HourBucket(const LocalTime& t) {
  char buf[64];
  snprintf(buf, sizeof buf, "%04d-%02d-%02d %02dh", t.civil.year, t.civil.month, t.civil.day,
           t.civil.hour);
  return buf;
}
std::string DayBucket(const LocalTime& t) {
  char buf[64];
  snprintf(buf, sizeof buf, "%04d-%02d-%02d", t.civil.year, t.civil.month, t.civil.day);
  return buf;
}
std::string WeekBucket(const LocalTime& t) {
  char buf[64];
  snprintf(buf, sizeof buf, "%04d-W%02d", t.iso_year, t.iso_week);
  return buf;
}
std::string MonthBucket(const LocalTime& t) {
  char buf[64];
  snprintf(buf, sizeof buf, "%04d-%02d", t.civil.year, t.civil.month);
  return buf;
}
std::string YearBucket(const LocalTime& t) {
  char buf[64];
  snprintf(buf, sizeof buf, "%04d", t.civil.year);
  return buf;
}

const BucketRule kBucketRules[] = {
    {"hourly", &RetentionRules::hourly, HourBucket},
    {"daily", &RetentionRules::daily, DayBucket},
    {"weekly", &RetentionRules::weekly, WeekBucket},
    {"monthly", &RetentionRules::monthly, MonthBucket},
    {"yearly", &RetentionRules::yearly, YearBucket},
};

std::string CountText(int n) { return n < 0 ? "all" : std::to_string(n); }

// "2027-01-01T00:00:00Z": whole seconds are enough to say until when.
std::string UtcSeconds(int64_t ns) {
  int64_t s = FloorDiv(ns, kNsPerS);
  int64_t days = FloorDiv(s, 86400), rest = s - days * 86400;
  CivilTime c = CivilFromDays(days);
  char buf[64];
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", c.year, c.month, c.day,
           static_cast<int>(rest / 3600), static_cast<int>(rest / 60 % 60),
           static_cast<int>(rest % 60));
  return buf;
}

}  // namespace

bool RetentionRules::empty() const {
  return last == 0 && hourly == 0 && daily == 0 && weekly == 0 && monthly == 0 && yearly == 0 &&
         within_s == 0 && tags.empty();
}

std::string RetentionRules::Describe() const {
  std::vector<std::string> parts;
  if (last != 0) parts.push_back("last " + CountText(last));
  for (const BucketRule& r : kBucketRules) {
    if (this->*r.count != 0) parts.push_back(std::string(r.name) + " " + CountText(this->*r.count));
  }
  if (within_s != 0) parts.push_back("within " + FormatDuration(within_s));
  for (const std::string& tag : tags) parts.push_back("tag " + tag);
  if (parts.empty()) parts.push_back("no rules");
  if (lock_for_s != 0) parts.push_back("lock-for " + FormatDuration(lock_for_s));
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

std::vector<RetentionDecision> ApplyRetention(std::vector<RetentionInput> snapshots,
                                              const RetentionRules& rules, int64_t now_ns) {
  // Newest first; equal times by ascending id, so "newest" and the snapshot
  // a bucket keeps never depend on the order the caller listed them in.
  std::sort(snapshots.begin(), snapshots.end(),
            [](const RetentionInput& a, const RetentionInput& b) {
              if (a.time_ns != b.time_ns) return a.time_ns > b.time_ns;
              return a.id < b.id;
            });
  std::vector<RetentionDecision> out(snapshots.size());
  for (size_t i = 0; i < snapshots.size(); ++i) {
    out[i].id = snapshots[i].id;
    out[i].time_ns = snapshots[i].time_ns;
  }
  auto keep = [&out](size_t i, std::string reason) { out[i].reasons.push_back(std::move(reason)); };

  if (rules.empty()) {
    for (size_t i = 0; i < out.size(); ++i) keep(i, "no rules");
  } else {
    if (rules.last != 0) {
      size_t n = rules.last < 0 ? out.size() : std::min<size_t>(rules.last, out.size());
      for (size_t i = 0; i < n; ++i) keep(i, "last " + std::to_string(i + 1));
    }
    std::vector<LocalTime> local;
    for (const BucketRule& r : kBucketRules) {
      int count = rules.*r.count;
      if (count == 0) continue;
      if (local.empty()) {
        for (const RetentionInput& s : snapshots) {
          local.push_back(rules.zone.ToLocal(FloorDiv(s.time_ns, kNsPerS)));
        }
      }
      // The first (newest) snapshot met in each bucket stands for it; a set
      // rather than "differs from the previous" so a bucket met again after
      // a zone's clock stepped back is not counted twice.
      std::set<std::string> seen;
      for (size_t i = 0; i < out.size() && count != 0; ++i) {
        std::string bucket = r.bucket(local[i]);
        if (!seen.insert(bucket).second) continue;
        keep(i, std::string(r.name) + " " + bucket);
        if (count > 0) --count;
      }
    }
    if (rules.within_s > 0) {
      // 128-bit: a window of centuries in nanoseconds does not fit 64 bits.
      __int128 window = static_cast<__int128>(rules.within_s) * kNsPerS;
      for (size_t i = 0; i < out.size(); ++i) {
        if (static_cast<__int128>(now_ns) - snapshots[i].time_ns < window) {
          keep(i, "within " + FormatDuration(rules.within_s));
        }
      }
    }
    std::set<std::string> tags_done;
    for (const std::string& tag : rules.tags) {
      if (!tags_done.insert(tag).second) continue;
      for (size_t i = 0; i < out.size(); ++i) {
        const auto& have = snapshots[i].tags;
        if (std::find(have.begin(), have.end(), tag) != have.end()) keep(i, "tag " + tag);
      }
    }
  }
  for (size_t i = 0; i < out.size(); ++i) {
    const std::optional<int64_t>& until = snapshots[i].locked_until_ns;
    if (until && *until > now_ns) keep(i, "locked until " + UtcSeconds(*until));
  }
  // No rule set may forget everything; with no rules all is kept anyway.
  if (!out.empty() && !rules.empty()) keep(0, "newest");
  for (RetentionDecision& d : out) d.keep = !d.reasons.empty();
  return out;
}

}  // namespace dr
