#include "sink/files/time_zone.hpp"

#include <algorithm>
#include <cerrno>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "sys/sys.hpp"

namespace sqtail::sink {

namespace {

constexpr std::int64_t kDay = 86400;
constexpr std::size_t kMaxTzifBytes = 256 * 1024;  // real files are 0.1-4 KiB

std::int64_t floorDiv(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

bool isLeap(std::int32_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

std::uint32_t monthDays(std::int32_t y, std::uint32_t m) {
  static constexpr std::uint32_t kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && isLeap(y) ? 29 : kDays[m - 1];
}

// One end of a POSIX TZ daylight-saving rule: "Mm.w.d", "Jn" or "n", with its local time.
struct RuleDate {
  enum class Kind { kMonthWeekDay, kJulianNoLeap, kJulianZero } kind = Kind::kMonthWeekDay;
  std::uint32_t month = 0, week = 0, weekday = 0, day = 0;
  std::int32_t time = 2 * 3600;  // seconds after local midnight (may be negative or > 24h)

  // Seconds since the epoch of this date's local midnight plus `time`, as if local = UTC.
  std::int64_t localSeconds(std::int32_t year) const {
    std::int64_t days = 0;
    switch (kind) {
      case Kind::kJulianNoLeap:  // 1..365, February 29 never counted
        days = daysFromCivil(year, 1, 1) + day - 1 + (isLeap(year) && day >= 60 ? 1 : 0);
        break;
      case Kind::kJulianZero:  // 0..365
        days = daysFromCivil(year, 1, 1) + day;
        break;
      case Kind::kMonthWeekDay: {
        const std::int64_t first = daysFromCivil(year, month, 1);
        const std::int64_t first_wd = ((first % 7) + 11) % 7;  // 1970-01-01 was a Thursday (4)
        std::int64_t mday = 1 + (static_cast<std::int64_t>(weekday) - first_wd + 7) % 7 +
                            (static_cast<std::int64_t>(week) - 1) * 7;
        while (mday > monthDays(year, month)) mday -= 7;  // week 5: the last such weekday
        days = first + mday - 1;
        break;
      }
    }
    return days * kDay + time;
  }
};

// "std offset [dst [offset] [,start[/time],end[/time]]]" (POSIX, with RFC 8536's extensions).
struct PosixRule {
  std::int32_t std_off = 0;  // seconds east of UTC
  std::int32_t dst_off = 0;
  bool has_dst = false;
  RuleDate start, end;

  std::int32_t offsetAt(std::int64_t t) const {
    if (!has_dst) return std_off;
    std::int32_t y;
    std::uint32_t m, d;
    civilFromDays(floorDiv(t + std_off, kDay), y, m, d);
    const std::int64_t begin = start.localSeconds(y) - std_off;  // switched in standard time
    const std::int64_t finish = end.localSeconds(y) - dst_off;   // switched in daylight time
    const bool in_dst = begin < finish ? (t >= begin && t < finish) : !(t >= finish && t < begin);
    return in_dst ? dst_off : std_off;
  }
};

class PosixParser {
 public:
  explicit PosixParser(std::string_view s) : s_(s) {}

  std::optional<PosixRule> parse() {
    PosixRule r;
    if (!name()) return std::nullopt;
    auto off = offset();
    if (!off) return std::nullopt;
    r.std_off = -*off;  // POSIX offsets count west of UTC
    if (done()) return r;
    if (!name()) return std::nullopt;
    r.has_dst = true;
    r.dst_off = r.std_off + 3600;
    if (!done() && peek() != ',') {
      auto dst = offset();
      if (!dst) return std::nullopt;
      r.dst_off = -*dst;
    }
    if (done()) {  // no rule given: POSIX leaves it to the implementation; use the US one
      r.start = RuleDate{RuleDate::Kind::kMonthWeekDay, 3, 2, 0, 0, 2 * 3600};
      r.end = RuleDate{RuleDate::Kind::kMonthWeekDay, 11, 1, 0, 0, 2 * 3600};
      return r;
    }
    if (!eat(',') || !date(r.start) || !eat(',') || !date(r.end) || !done()) return std::nullopt;
    return r;
  }

 private:
  bool done() const { return i_ >= s_.size(); }
  char peek() const { return done() ? '\0' : s_[i_]; }
  bool eat(char c) {
    if (peek() != c) return false;
    ++i_;
    return true;
  }
  static bool isDigit(char c) { return c >= '0' && c <= '9'; }
  static bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

  bool name() {
    std::size_t n = 0;
    if (eat('<')) {
      while (!done() && peek() != '>') ++i_, ++n;
      return eat('>') && n >= 3;
    }
    while (isAlpha(peek())) ++i_, ++n;
    return n >= 3;
  }
  std::optional<std::int32_t> number(std::int32_t max) {
    if (!isDigit(peek())) return std::nullopt;
    std::int32_t v = 0;
    while (isDigit(peek())) {
      v = v * 10 + (s_[i_++] - '0');
      if (v > max) return std::nullopt;
    }
    return v;
  }
  // [+-]hh[:mm[:ss]], hours up to 167 (RFC 8536 allows it in rule times).
  std::optional<std::int32_t> offset() {
    std::int32_t sign = 1;
    if (eat('-')) {
      sign = -1;
    } else {
      eat('+');
    }
    auto h = number(167);
    if (!h) return std::nullopt;
    std::int32_t secs = *h * 3600;
    if (eat(':')) {
      auto m = number(59);
      if (!m) return std::nullopt;
      secs += *m * 60;
      if (eat(':')) {
        auto s = number(59);
        if (!s) return std::nullopt;
        secs += *s;
      }
    }
    return sign * secs;
  }
  bool date(RuleDate& d) {
    if (eat('M')) {
      auto m = number(12);
      if (!m || *m < 1 || !eat('.')) return false;
      auto w = number(5);
      if (!w || *w < 1 || !eat('.')) return false;
      auto wd = number(6);
      if (!wd) return false;
      d = RuleDate{RuleDate::Kind::kMonthWeekDay,
                   static_cast<std::uint32_t>(*m),
                   static_cast<std::uint32_t>(*w),
                   static_cast<std::uint32_t>(*wd),
                   0,
                   2 * 3600};
    } else if (eat('J')) {
      auto n = number(365);
      if (!n || *n < 1) return false;
      d = RuleDate{RuleDate::Kind::kJulianNoLeap,  0,       0, 0,
                   static_cast<std::uint32_t>(*n), 2 * 3600};
    } else {
      auto n = number(365);
      if (!n) return false;
      d = RuleDate{RuleDate::Kind::kJulianZero, 0, 0, 0, static_cast<std::uint32_t>(*n), 2 * 3600};
    }
    if (eat('/')) {
      auto t = offset();
      if (!t) return false;
      d.time = *t;
    }
    return true;
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

// Big-endian reads with bounds checks over the TZif bytes.
class Reader {
 public:
  explicit Reader(std::string_view data) : d_(data) {}
  bool has(std::size_t n) const { return d_.size() - pos_ >= n; }
  std::uint64_t be(std::size_t n) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(d_[pos_ + i]);
    pos_ += n;
    return v;
  }
  void skip(std::size_t n) { pos_ += n; }
  std::size_t pos() const { return pos_; }
  std::string_view rest() const { return d_.substr(pos_); }

 private:
  std::string_view d_;
  std::size_t pos_ = 0;
};

struct Counts {
  std::uint64_t isut, isstd, leap, time, type, chars;
};

bool header(Reader& r, char& version, Counts& c) {
  if (!r.has(44) || r.rest().substr(0, 4) != "TZif") return false;
  version = r.rest()[4];
  r.skip(20);
  c = {r.be(4), r.be(4), r.be(4), r.be(4), r.be(4), r.be(4)};
  return c.type >= 1 && c.type <= 256 && c.time <= 100000 && c.chars <= 100000 && c.leap <= 100000;
}

std::size_t blockBytes(const Counts& c, std::size_t time_size) {
  return c.time * time_size + c.time + c.type * 6 + c.chars + c.leap * (time_size + 4) + c.isstd +
         c.isut;
}

bool validName(std::string_view name) {
  if (name.empty() || name.front() == '/' || name.size() > 255) return false;
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t slash = name.find('/', start);
    if (slash == std::string_view::npos) slash = name.size();
    std::string_view part = name.substr(start, slash - start);
    if (part.empty() || part == "." || part == "..") return false;
    for (char c : part) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-' || c == '+' || c == '.';
      if (!ok) return false;
    }
    start = slash + 1;
  }
  return true;
}

// "+02:00", "-0530", "+05": seconds east of UTC.
std::optional<std::int32_t> fixedOffset(std::string_view s) {
  if (s.size() < 3 || (s[0] != '+' && s[0] != '-')) return std::nullopt;
  const std::int32_t sign = s[0] == '-' ? -1 : 1;
  std::string digits;
  for (std::size_t i = 1; i < s.size(); ++i) {
    if (s[i] == ':' && i == 3) continue;
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    digits += s[i];
  }
  if (digits.size() != 2 && digits.size() != 4) return std::nullopt;
  if (s.size() > 3 && s[3] == ':' && digits.size() != 4) return std::nullopt;
  const std::int32_t h = (digits[0] - '0') * 10 + (digits[1] - '0');
  const std::int32_t m = digits.size() == 4 ? (digits[2] - '0') * 10 + (digits[3] - '0') : 0;
  if (h > 23 || m > 59) return std::nullopt;
  return sign * (h * 3600 + m * 60);
}

}  // namespace

struct TimeZone::Rules {
  std::vector<std::int64_t> transitions;  // ascending UTC seconds
  std::vector<std::int32_t> offsets;      // offset in effect from transitions[i]
  std::int32_t initial = 0;               // before the first transition
  std::optional<PosixRule> after;         // after the last transition (the TZif footer)

  std::int32_t offsetAt(std::int64_t t) const {
    if (transitions.empty() || t < transitions.front()) {
      return transitions.empty() && after ? after->offsetAt(t) : initial;
    }
    if (t >= transitions.back() && after) return after->offsetAt(t);
    const auto it = std::upper_bound(transitions.begin(), transitions.end(), t);
    return offsets[static_cast<std::size_t>(it - transitions.begin()) - 1];
  }
};

std::int64_t daysFromCivil(std::int32_t y, std::uint32_t m, std::uint32_t d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::uint32_t yoe = static_cast<std::uint32_t>(y - era * 400);
  const std::uint32_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const std::uint32_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civilFromDays(std::int64_t z, std::int32_t& y, std::uint32_t& m, std::uint32_t& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::uint32_t doe = static_cast<std::uint32_t>(z - era * 146097);
  const std::uint32_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::uint32_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::uint32_t mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<std::int32_t>(static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2));
}

tl::expected<TimeZone, std::string> TimeZone::load(std::string_view spec,
                                                   const std::string& zoneinfo_dir) {
  TimeZone tz;
  tz.name_ = std::string(spec);
  if (spec.empty() || spec == "UTC" || spec == "utc" || spec == "Z") {
    tz.name_ = "UTC";
    return tz;
  }
  if (spec[0] == '+' || spec[0] == '-') {
    auto off = fixedOffset(spec);
    if (!off) {
      return tl::unexpected(
          fmt::format("timezone '{}': a fixed offset is +HH:MM, +HHMM or +HH (hours < 24)", spec));
    }
    tz.fixed_ = *off;
    return tz;
  }
  if (!validName(spec)) {
    return tl::unexpected(fmt::format(
        "timezone '{}': not UTC, a fixed offset (+02:00) or an IANA name (Europe/Berlin)", spec));
  }

  const std::string path = zoneinfo_dir + "/" + std::string(spec);
  auto fd = sys::openRead(path);
  if (!fd) return tl::unexpected(fmt::format("timezone '{}': {}", spec, fd.error().message()));
  auto st = sys::fstat(fd->get());
  if (!st) return tl::unexpected(fmt::format("timezone '{}': {}", spec, st.error().message()));
  if (!S_ISREG(st->st_mode) || static_cast<std::size_t>(st->st_size) > kMaxTzifBytes) {
    return tl::unexpected(fmt::format("timezone '{}': {} is not a TZif file", spec, path));
  }
  std::string data(static_cast<std::size_t>(st->st_size), '\0');
  auto n = sys::preadFull(fd->get(), data.data(), data.size(), 0);
  if (!n) return tl::unexpected(fmt::format("timezone '{}': {}", spec, n.error().message()));
  data.resize(*n);

  const auto bad = [&](std::string_view why) {
    return tl::unexpected(
        fmt::format("timezone '{}': {} is not a usable TZif file ({})", spec, path, why));
  };
  Reader r(data);
  char version = 0;
  Counts c{};
  if (!header(r, version, c)) return bad("bad header");
  if (version < '2') return bad("version 1 has no 64-bit data");
  if (!r.has(blockBytes(c, 4))) return bad("truncated");
  r.skip(blockBytes(c, 4));  // the 32-bit block: the 64-bit one follows
  if (!header(r, version, c) || !r.has(blockBytes(c, 8))) return bad("truncated 64-bit block");

  auto rules = std::make_shared<Rules>();
  rules->transitions.reserve(c.time);
  for (std::uint64_t i = 0; i < c.time; ++i) {
    rules->transitions.push_back(static_cast<std::int64_t>(r.be(8)));
  }
  std::vector<std::uint8_t> idx;
  for (std::uint64_t i = 0; i < c.time; ++i) idx.push_back(static_cast<std::uint8_t>(r.be(1)));
  std::vector<std::int32_t> type_off;
  for (std::uint64_t i = 0; i < c.type; ++i) {
    type_off.push_back(static_cast<std::int32_t>(static_cast<std::uint32_t>(r.be(4))));
    r.skip(2);  // isdst, abbreviation index
  }
  r.skip(c.chars + c.leap * 12 + c.isstd + c.isut);
  for (std::uint8_t i : idx) {
    if (i >= type_off.size()) return bad("type index out of range");
    rules->offsets.push_back(type_off[i]);
  }
  if (!std::is_sorted(rules->transitions.begin(), rules->transitions.end())) {
    return bad("transitions out of order");
  }
  rules->initial = type_off[0];

  std::string_view footer = r.rest();
  if (footer.size() >= 2 && footer.front() == '\n') {
    footer.remove_prefix(1);
    footer = footer.substr(0, footer.find('\n'));
    if (!footer.empty()) {
      rules->after = PosixParser(footer).parse();
      if (!rules->after) return bad(fmt::format("footer rule '{}' not understood", footer));
    }
  }
  tz.rules_ = std::move(rules);
  return tz;
}

std::int32_t TimeZone::offsetAt(std::int64_t epoch_s) const {
  return rules_ ? rules_->offsetAt(epoch_s) : fixed_;
}

CivilHour TimeZone::civil(std::int64_t epoch_ms) const {
  const std::int64_t secs = floorDiv(epoch_ms, 1000);
  const std::int64_t local = secs + offsetAt(secs);
  const std::int64_t days = floorDiv(local, kDay);
  CivilHour out{};
  civilFromDays(days, out.year, out.month, out.day);
  out.hour = static_cast<std::uint32_t>((local - days * kDay) / 3600);
  return out;
}

}  // namespace sqtail::sink
