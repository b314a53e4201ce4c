// Owns turning an epoch time into local civil time for the file sink's {date} and {hour}:
// UTC, a fixed offset, or an IANA zone read once from its TZif file. Immutable after load():
// any thread may call a loaded zone (no TZ variable, no localtime_r).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace sqtail::sink {

// Year, month (1-12), day (1-31) and hour (0-23) of a local time.
struct CivilHour {
  std::int32_t year;
  std::uint32_t month, day, hour;
};

class TimeZone {
 public:
  TimeZone() = default;  // UTC

  // "UTC" (or "Z", ""), a fixed offset "+02:00" / "-0530" / "+05", or an IANA name such as
  // "Europe/Berlin" read from `zoneinfo_dir`. The error names the spec and why.
  static tl::expected<TimeZone, std::string> load(
      std::string_view spec, const std::string& zoneinfo_dir = "/usr/share/zoneinfo");

  // Seconds east of UTC in effect at `epoch_s`.
  std::int32_t offsetAt(std::int64_t epoch_s) const;
  CivilHour civil(std::int64_t epoch_ms) const;
  const std::string& name() const { return name_; }

  struct Rules;  // TZif transitions and the POSIX rule after them (time_zone.cpp)

 private:
  std::string name_ = "UTC";
  std::int32_t fixed_ = 0;              // used when rules_ is null
  std::shared_ptr<const Rules> rules_;  // shared by copies: immutable
};

// Proleptic Gregorian calendar helpers (H. Hinnant's algorithms), exposed for tests.
std::int64_t daysFromCivil(std::int32_t y, std::uint32_t m, std::uint32_t d);
void civilFromDays(std::int64_t days, std::int32_t& y, std::uint32_t& m, std::uint32_t& d);

}  // namespace sqtail::sink
