#include "policies/time_zone.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <limits>
#include <string_view>

namespace dr {
namespace {

// Real zone files are under 5 KiB; anything near these limits is not one.
constexpr size_t kMaxFileBytes = 256 * 1024;
constexpr uint32_t kMaxTypes = 256;  // RFC 8536: type indices are one byte
constexpr uint32_t kMaxTransitions = 1 << 16;
constexpr size_t kMaxFooterBytes = 256;
// RFC 8536 3.2 wants offsets within -24:59:59..+25:59:59; bounding them
// keeps every later `t + offset` and `local - offset` far from overflow.
constexpr int32_t kMinOffset = -93599, kMaxOffset = 93599;
// Instants are clamped to about a million years either way, so the civil
// arithmetic below never overflows an int year.
constexpr int64_t kMaxAbsSeconds = int64_t{1} << 45;
constexpr int64_t kDay = 86400;

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

bool IsLeap(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

int DaysInMonth(int64_t y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// 1970-01-01 was a Thursday (4).
int WeekdayOfDays(int64_t days) { return static_cast<int>(days + 4 - FloorDiv(days + 4, 7) * 7); }

struct ZoneType {
  int32_t offset = 0;
  bool is_dst = false;
  std::string abbr;
};

// When a POSIX TZ rule switches: a day of the year and a time of day read
// in the local time in effect just before the switch.
struct RuleDate {
  enum Kind { kJulian1, kJulian0, kMonthWeekDay } kind = kMonthWeekDay;
  int day = 0, month = 0, week = 0, weekday = 0;
  int32_t time_s = 2 * 3600;

  // Local seconds (as if UTC) of the switch in `year`.
  int64_t LocalSeconds(int year) const {
    int64_t days;
    if (kind == kJulian1) {  // 1..365, Feb 29 never counted
      days = DaysFromCivil(year, 1, 1) + day - 1 + (IsLeap(year) && day >= 60 ? 1 : 0);
    } else if (kind == kJulian0) {  // 0..365, Feb 29 counted
      days = DaysFromCivil(year, 1, 1) + day;
    } else {  // weekday `weekday` of week `week` (5 = last) of `month`
      int64_t first = DaysFromCivil(year, month, 1);
      days = first + (weekday - WeekdayOfDays(first) + 7) % 7 + 7 * (week - 1);
      while (days >= first + DaysInMonth(year, month)) days -= 7;
    }
    return days * kDay + time_s;
  }
};

// The TZif footer (RFC 8536 3.3): a POSIX TZ string such as
// "CET-1CEST,M3.5.0,M10.5.0/3", which gives the rule after the last
// transition of the table.
struct PosixTz {
  ZoneType std_type, dst_type;
  bool has_dst = false;
  RuleDate start, end;

  const ZoneType& At(int64_t t) const {
    if (!has_dst) return std_type;
    // The latest switch at or before t among the neighbouring years decides;
    // this holds for southern-hemisphere rules (start after end) and for
    // "DST all year" rules, where a start and an end coincide and the
    // start wins.
    int year = CivilFromDays(FloorDiv(t + std_type.offset, kDay)).year;
    int64_t best = std::numeric_limits<int64_t>::min();
    bool dst = false;
    for (int y = year - 1; y <= year + 1; ++y) {
      int64_t e = end.LocalSeconds(y) - dst_type.offset;
      if (e <= t && e >= best) {
        best = e;
        dst = false;
      }
      int64_t s = start.LocalSeconds(y) - std_type.offset;
      if (s <= t && s >= best) {
        best = s;
        dst = true;
      }
    }
    return dst ? dst_type : std_type;
  }
};

class PosixParser {
 public:
  explicit PosixParser(std::string_view s) : s_(s) {}

  bool Parse(PosixTz* tz) {
    int32_t off;
    if (!Name(&tz->std_type.abbr) || !Offset(24, &off)) return false;
    tz->std_type.offset = -off;  // POSIX counts west of Greenwich as positive
    if (Done()) return true;
    tz->has_dst = true;
    tz->dst_type.is_dst = true;
    if (!Name(&tz->dst_type.abbr)) return false;
    tz->dst_type.offset = tz->std_type.offset + 3600;
    if (!Done() && Peek() != ',') {
      if (!Offset(24, &off)) return false;
      tz->dst_type.offset = -off;
    }
    if (tz->dst_type.offset < kMinOffset || tz->dst_type.offset > kMaxOffset) return false;
    if (Done()) {  // no rule: tzcode's default, the US rule
      tz->start = {RuleDate::kMonthWeekDay, 0, 3, 2, 0, 7200};
      tz->end = {RuleDate::kMonthWeekDay, 0, 11, 1, 0, 7200};
      return true;
    }
    return Eat(',') && Date(&tz->start) && Eat(',') && Date(&tz->end) && Done();
  }

 private:
  bool Done() const { return p_ == s_.size(); }
  char Peek() const { return Done() ? '\0' : s_[p_]; }
  bool Eat(char c) {
    if (Peek() != c) return false;
    ++p_;
    return true;
  }
  static bool IsDigit(char c) { return c >= '0' && c <= '9'; }
  static bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

  bool Name(std::string* out) {
    size_t begin = p_;
    if (Eat('<')) {
      begin = p_;
      while (!Done() && (IsAlpha(Peek()) || IsDigit(Peek()) || Peek() == '+' || Peek() == '-'))
        ++p_;
      *out = std::string(s_.substr(begin, p_ - begin));
      return out->size() >= 3 && Eat('>');
    }
    while (!Done() && IsAlpha(Peek())) ++p_;
    *out = std::string(s_.substr(begin, p_ - begin));
    return out->size() >= 3;
  }

  bool Number(int max, int* out) {
    if (!IsDigit(Peek())) return false;
    int v = 0;
    while (IsDigit(Peek())) {
      v = v * 10 + (s_[p_++] - '0');
      if (v > max) return false;
    }
    *out = v;
    return true;
  }

  // [+-]hh[:mm[:ss]] with hh <= max_hours, in seconds.
  bool Offset(int max_hours, int32_t* out) {
    int sign = 1;
    if (Eat('-')) {
      sign = -1;
    } else {
      (void)Eat('+');
    }
    int h, m = 0, s = 0;
    if (!Number(max_hours, &h)) return false;
    if (Eat(':')) {
      if (!Number(59, &m)) return false;
      if (Eat(':') && !Number(59, &s)) return false;
    }
    *out = sign * (h * 3600 + m * 60 + s);
    return true;
  }

  bool Date(RuleDate* d) {
    if (Eat('J')) {
      d->kind = RuleDate::kJulian1;
      if (!Number(365, &d->day) || d->day < 1) return false;
    } else if (Eat('M')) {
      d->kind = RuleDate::kMonthWeekDay;
      if (!Number(12, &d->month) || d->month < 1 || !Eat('.') || !Number(5, &d->week) ||
          d->week < 1 || !Eat('.') || !Number(6, &d->weekday)) {
        return false;
      }
    } else {
      d->kind = RuleDate::kJulian0;
      if (!Number(365, &d->day)) return false;
    }
    d->time_s = 7200;
    return !Eat('/') || Offset(167, &d->time_s);  // RFC 8536 3.3.1 allows -167..167 hours
  }

  std::string_view s_;
  size_t p_ = 0;
};

// Big-endian reads over the file bytes; every read is bounds-checked.
class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  size_t left() const { return b_.size() - p_; }
  bool Skip(uint64_t n) {
    if (n > left()) return false;
    p_ += n;
    return true;
  }
  bool Bytes(size_t n, std::string_view* out) {
    if (n > left()) return false;
    *out = b_.substr(p_, n);
    p_ += n;
    return true;
  }
  bool U8(uint8_t* v) {
    if (left() < 1) return false;
    *v = static_cast<uint8_t>(b_[p_++]);
    return true;
  }
  bool Be(int bytes, uint64_t* v) {
    if (left() < static_cast<size_t>(bytes)) return false;
    *v = 0;
    for (int i = 0; i < bytes; ++i) *v = (*v << 8) | static_cast<uint8_t>(b_[p_++]);
    return true;
  }

 private:
  std::string_view b_;
  size_t p_ = 0;
};

struct Header {
  char version = 0;
  uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

bool ReadHeader(Reader* r, Header* h) {
  std::string_view magic;
  if (!r->Bytes(4, &magic) || magic != "TZif") return false;
  uint8_t v;
  if (!r->U8(&v) || !r->Skip(15)) return false;
  h->version = static_cast<char>(v);
  uint32_t* fields[] = {&h->isutcnt, &h->isstdcnt, &h->leapcnt,
                        &h->timecnt, &h->typecnt,  &h->charcnt};
  for (uint32_t* f : fields) {
    uint64_t x;
    if (!r->Be(4, &x)) return false;
    *f = static_cast<uint32_t>(x);
  }
  return true;
}

uint64_t DataBlockSize(const Header& h, int time_bytes) {
  return uint64_t{h.timecnt} * time_bytes + h.timecnt + uint64_t{h.typecnt} * 6 + h.charcnt +
         uint64_t{h.leapcnt} * (time_bytes + 4) + h.isstdcnt + h.isutcnt;
}

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 255 || name[0] == '/') return false;
  if (name.find("..") != std::string::npos) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '-' || c == '+' || c == '.';
    if (!ok) return false;
  }
  return true;
}

Result<std::string> ReadZoneFile(const std::string& path, const std::string& what) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      return Status::InvalidArgument(what + ": unknown time zone (no file " + path + ")");
    }
    return Status::FromErrno(err, what + ": " + path);
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return Status::InvalidArgument(what + ": " + path + " is not a time zone file");
  }
  std::string data;
  char buf[8192];
  while (true) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return Status::FromErrno(err, what + ": " + path);
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > kMaxFileBytes) {
      close(fd);
      return Status::Corruption(what + ": " + path + " is too large for a time zone file");
    }
  }
  close(fd);
  return data;
}

}  // namespace

struct TimeZone::Data {
  std::string name;
  std::vector<int64_t> times;    // transition instants, strictly ascending
  std::vector<uint8_t> type_of;  // type index in effect from times[i]
  std::vector<ZoneType> types;   // at least one
  std::optional<PosixTz> footer;
  std::vector<int32_t> offsets;  // every offset the zone ever uses, for FromLocal

  const ZoneType& TypeAt(int64_t t) const {
    // RFC 8536 3.2: type 0 before the first transition; the footer after
    // the last one (and throughout when the table is empty).
    if (footer && (times.empty() || t > times.back())) return footer->At(t);
    auto it = std::upper_bound(times.begin(), times.end(), t);
    if (it == times.begin()) return types[0];
    return types[type_of[static_cast<size_t>(it - times.begin() - 1)]];
  }

  void CollectOffsets() {
    for (const ZoneType& t : types) offsets.push_back(t.offset);
    if (footer) {
      offsets.push_back(footer->std_type.offset);
      if (footer->has_dst) offsets.push_back(footer->dst_type.offset);
    }
    std::sort(offsets.begin(), offsets.end());
    offsets.erase(std::unique(offsets.begin(), offsets.end()), offsets.end());
  }

  static std::shared_ptr<const Data> Utc(const std::string& name) {
    auto d = std::make_shared<Data>();
    d->name = name;
    d->types.push_back({0, false, "UTC"});
    d->CollectOffsets();
    return d;
  }

  // Fills the table from a TZif file; a message saying what is wrong, or
  // empty when it is sound.
  std::string Parse(std::string_view file) {
    Reader r(file);
    Header h;
    if (!ReadHeader(&r, &h)) return "not a TZif file";
    int time_bytes = 4;
    if (h.version != 0) {
      if (h.version < '2') return "unknown TZif version";
      // The 32-bit block only serves old readers; the 64-bit one follows.
      if (!r.Skip(DataBlockSize(h, 4))) return "truncated version 1 data";
      if (!ReadHeader(&r, &h)) return "bad version 2 header";
      time_bytes = 8;
    }
    if (h.leapcnt != 0) return "leap-second zones (right/...) are not supported";
    if (h.typecnt == 0 || h.typecnt > kMaxTypes) return "bad number of local time types";
    if (h.timecnt > kMaxTransitions) return "too many transitions";
    if ((h.isstdcnt != 0 && h.isstdcnt != h.typecnt) ||
        (h.isutcnt != 0 && h.isutcnt != h.typecnt)) {
      return "bad indicator counts";
    }
    if (DataBlockSize(h, time_bytes) > r.left()) return "truncated data";
    for (uint32_t i = 0; i < h.timecnt; ++i) {
      uint64_t v = 0;
      (void)r.Be(time_bytes, &v);
      int64_t t =
          time_bytes == 8 ? static_cast<int64_t>(v) : static_cast<int64_t>(static_cast<int32_t>(v));
      if (!times.empty() && t <= times.back()) return "transition times not ascending";
      times.push_back(t);
    }
    for (uint32_t i = 0; i < h.timecnt; ++i) {
      uint8_t idx = 0;
      (void)r.U8(&idx);
      if (idx >= h.typecnt) return "transition type index out of range";
      type_of.push_back(idx);
    }
    std::vector<uint8_t> abbr_idx;
    for (uint32_t i = 0; i < h.typecnt; ++i) {
      uint64_t off = 0;
      uint8_t dst = 0, idx = 0;
      (void)r.Be(4, &off);
      (void)r.U8(&dst);
      (void)r.U8(&idx);
      int32_t offset = static_cast<int32_t>(static_cast<uint32_t>(off));
      if (offset < kMinOffset || offset > kMaxOffset || dst > 1) return "bad local time type";
      types.push_back({offset, dst == 1, ""});
      abbr_idx.push_back(idx);
    }
    std::string_view chars;
    (void)r.Bytes(h.charcnt, &chars);
    for (size_t i = 0; i < types.size(); ++i) {
      size_t nul = abbr_idx[i] < chars.size() ? chars.find('\0', abbr_idx[i]) : chars.npos;
      if (nul == chars.npos) return "bad time zone abbreviation";
      types[i].abbr = std::string(chars.substr(abbr_idx[i], nul - abbr_idx[i]));
    }
    (void)r.Skip(uint64_t{h.isstdcnt} + h.isutcnt);  // only zic needs them
    if (time_bytes == 8) {
      std::string_view rest;
      (void)r.Bytes(r.left(), &rest);
      if (rest.empty() || rest[0] != '\n') return "missing footer";
      size_t nl = rest.find('\n', 1);
      if (nl == rest.npos || nl - 1 > kMaxFooterBytes) return "bad footer";
      std::string_view tz = rest.substr(1, nl - 1);
      if (!tz.empty()) {
        PosixTz rule;
        if (!PosixParser(tz).Parse(&rule)) {
          std::string shown(tz);  // file bytes: keep the message one printable line
          for (char& c : shown) c = (c < ' ' || c > '~') ? '?' : c;
          return "bad footer rule \"" + shown + "\"";
        }
        if (rule.std_type.offset < kMinOffset || rule.std_type.offset > kMaxOffset) {
          return "bad footer offset";
        }
        footer = rule;
      }
    }
    CollectOffsets();
    return "";
  }
};

TimeZone::TimeZone() {
  static const auto* const kUtc = new std::shared_ptr<const Data>(Data::Utc("UTC"));
  data_ = *kUtc;
}

Result<TimeZone> TimeZone::Load(const std::string& name) {
  const char* dir = getenv("TZDIR");  // only read; nothing here sets the environment
  return LoadFrom(dir != nullptr && *dir != '\0' ? dir : "/usr/share/zoneinfo", name);
}

Result<TimeZone> TimeZone::LoadFrom(const std::string& dir, const std::string& name) {
  std::string what = "time zone \"" + name + "\"";
  if (!ValidName(name)) {
    return Status::InvalidArgument(what +
                                   ": not a zone name (like Europe/Berlin; no \"..\", no "
                                   "leading '/')");
  }
  TimeZone tz;
  if (name == "UTC" || name == "Etc/UTC") {
    if (name != "UTC") tz.data_ = Data::Utc(name);
    return tz;
  }
  std::string path = dir + "/" + name;
  ASSIGN_OR_RETURN(std::string bytes, ReadZoneFile(path, what));
  auto data = std::make_shared<Data>();
  data->name = name;
  std::string bad = data->Parse(bytes);
  if (!bad.empty()) return Status::Corruption(what + ": " + path + ": " + bad);
  tz.data_ = std::move(data);
  return tz;
}

const std::string& TimeZone::name() const { return data_->name; }

LocalTime TimeZone::ToLocal(int64_t unix_s) const {
  unix_s = std::clamp(unix_s, -kMaxAbsSeconds, kMaxAbsSeconds);
  const ZoneType& type = data_->TypeAt(unix_s);
  int64_t local = unix_s + type.offset;
  int64_t days = FloorDiv(local, kDay);
  int64_t secs = local - days * kDay;
  LocalTime out;
  out.civil = CivilFromDays(days);
  out.civil.hour = static_cast<int>(secs / 3600);
  out.civil.minute = static_cast<int>(secs / 60 % 60);
  out.civil.second = static_cast<int>(secs % 60);
  out.weekday = WeekdayOfDays(days);
  // ISO 8601: a week belongs to the year that holds its Thursday.
  int64_t thursday = days - (out.weekday + 6) % 7 + 3;
  out.iso_year = CivilFromDays(thursday).year;
  out.iso_week = static_cast<int>((thursday - DaysFromCivil(out.iso_year, 1, 1)) / 7 + 1);
  out.utc_offset_s = type.offset;
  out.abbreviation = type.abbr;
  return out;
}

std::vector<int64_t> TimeZone::FromLocal(const CivilTime& c) const {
  // An impossible reading (Feb 30, 24:00) is no instant at all.
  if (c.month < 1 || c.month > 12 || c.day < 1 || c.day > DaysInMonth(c.year, c.month) ||
      c.hour < 0 || c.hour > 23 || c.minute < 0 || c.minute > 59 || c.second < 0 || c.second > 59) {
    return {};
  }
  int64_t local =
      DaysFromCivil(c.year, c.month, c.day) * kDay + c.hour * 3600 + c.minute * 60 + c.second;
  if (local < -kMaxAbsSeconds || local > kMaxAbsSeconds) return {};
  // An instant t reads as `local` exactly when t = local - offset(t), so
  // trying each offset the zone uses finds every such instant.
  std::vector<int64_t> out;
  for (int32_t off : data_->offsets) {
    int64_t t = local - off;
    if (data_->TypeAt(t).offset == off) out.push_back(t);
  }
  std::sort(out.begin(), out.end());
  return out;
}

int64_t DaysFromCivil(int year, int month, int day) {
  // Howard Hinnant, "chrono-Compatible Low-Level Date Algorithms": count
  // from March 1 so the leap day is the last day of the (shifted) year.
  const int64_t y = int64_t{year} - (month <= 2);
  const int64_t era = FloorDiv(y, 400);
  const int64_t yoe = y - era * 400;                                                  // 0..399
  const int64_t doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;  // 0..365
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;                          // 0..146096
  return era * 146097 + doe - 719468;
}

CivilTime CivilFromDays(int64_t days) {
  const int64_t z = days + 719468;
  const int64_t era = FloorDiv(z, 146097);
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  CivilTime c;
  c.day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  c.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  c.year = static_cast<int>(yoe + era * 400 + (c.month <= 2));
  return c;
}

}  // namespace dr
