// The SQL behind `sqtail usage`, and the local time zone it buckets days in.
// reportSql/totalsSql: any thread. useTimezone: the main thread, before others start.
//
// Days, weeks and months are computed by SQLite's 'localtime' modifier, which calls
// localtime_r, which follows $TZ once tzset() has read it: so one setenv + tzset makes the
// whole report use the zone, and `sqtail query` users can write the same expressions.
// ccusage buckets the same way (Intl.DateTimeFormat with the --timezone, default the system's,
// weeks starting on Sunday: apps/ccusage/src/_date-utils.ts).
#include <sys/stat.h>

#include <cstdlib>
#include <ctime>

#include <fmt/format.h>

#include "usage/usage.hpp"

namespace sqtail::usage {

namespace {

bool isTime(Group group) {
  return group == Group::kDay || group == Group::kWeek || group == Group::kMonth;
}

std::string_view groupExpr(Group group) {
  switch (group) {
    case Group::kDay:
      return "strftime('%Y-%m-%d', ts / 1000, 'unixepoch', 'localtime')";
    case Group::kWeek:
      // Back 6 days, then forward to a Sunday (or stay on one): the Sunday starting the week.
      return "date(ts / 1000, 'unixepoch', 'localtime', '-6 days', 'weekday 0')";
    case Group::kMonth:
      return "strftime('%Y-%m', ts / 1000, 'unixepoch', 'localtime')";
    case Group::kSession:
      return "session";
    case Group::kProject:
      return "project";
    case Group::kModel:
      return "model";
  }
  return "NULL";
}

std::string_view costExpr(CostMode mode) {
  switch (mode) {
    case CostMode::kAuto:
      return "coalesce(cost_record, cost_calc)";
    case CostMode::kCalculate:
      return "cost_calc";
    case CostMode::kDisplay:
      return "coalesce(cost_record, 0)";
  }
  return "cost_calc";
}

std::string sums(CostMode mode) {
  return fmt::format(
      "coalesce(sum(input_tokens), 0) AS input_tokens, "
      "coalesce(sum(output_tokens), 0) AS output_tokens, "
      "coalesce(sum(cache_creation_5m_tokens + cache_creation_1h_tokens), 0) "
      "AS cache_creation_tokens, "
      "coalesce(sum(cache_read_tokens), 0) AS cache_read_tokens, "
      "coalesce(sum(total), 0) AS total_tokens, "
      "total({}) AS cost_usd",
      costExpr(mode));
}

bool parseDate(std::string_view text, int& year, int& month, int& day) {
  std::string digits;
  if (text.size() == 10 && text[4] == '-' && text[7] == '-') {
    digits = std::string(text.substr(0, 4)) + std::string(text.substr(5, 2)) +
             std::string(text.substr(8, 2));
  } else if (text.size() == 8) {
    digits = std::string(text);
  } else {
    return false;
  }
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
  }
  year = std::stoi(digits.substr(0, 4));
  month = std::stoi(digits.substr(4, 2));
  day = std::stoi(digits.substr(6, 2));
  return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

}  // namespace

tl::expected<Group, std::string> parseGroup(std::string_view text) {
  for (Group group : {Group::kDay, Group::kWeek, Group::kMonth, Group::kSession, Group::kProject,
                      Group::kModel}) {
    if (text == groupName(group)) return group;
  }
  return tl::make_unexpected(
      fmt::format("--by {}: use day, week, month, session, project or model", text));
}

std::string_view groupName(Group group) {
  switch (group) {
    case Group::kDay:
      return "day";
    case Group::kWeek:
      return "week";
    case Group::kMonth:
      return "month";
    case Group::kSession:
      return "session";
    case Group::kProject:
      return "project";
    case Group::kModel:
      return "model";
  }
  return "?";
}

tl::expected<CostMode, std::string> parseCostMode(std::string_view text) {
  if (text == "auto") return CostMode::kAuto;
  if (text == "calculate") return CostMode::kCalculate;
  if (text == "display") return CostMode::kDisplay;
  return tl::make_unexpected(fmt::format("--mode {}: use auto, calculate or display", text));
}

std::string reportSql(const ReportSpec& spec) {
  std::string select;
  std::string group_by;
  std::string time_order;
  std::string other_order;
  bool by_model = false;
  for (std::size_t i = 0; i < spec.by.size(); ++i) {
    const Group group = spec.by[i];
    by_model = by_model || group == Group::kModel;
    select += fmt::format("{} AS \"{}\", ", groupExpr(group), groupName(group));
    group_by += fmt::format("{}{}", i ? ", " : "", i + 1);
    (isTime(group) ? time_order : other_order) += fmt::format(", {}", i + 1);
  }
  std::string sql =
      fmt::format("SELECT {}{} FROM usage WHERE ts >= ?1 AND ts < ?2", select, sums(spec.mode));
  // ccusage: <synthetic> and model-less entries count in the totals, never in a model's row.
  if (by_model) sql += " AND model <> ''";
  if (!group_by.empty()) sql += " GROUP BY " + group_by;
  // Time ascending, then the costliest first, then the names for a stable order.
  std::string order = time_order.empty() ? "" : time_order.substr(2) + ", ";
  order += "cost_usd DESC";
  order += other_order;
  sql += " ORDER BY " + order;
  return sql;
}

std::string totalsSql(const ReportSpec& spec) {
  return fmt::format("SELECT {} FROM usage WHERE ts >= ?1 AND ts < ?2", sums(spec.mode));
}

tl::expected<void, std::string> useTimezone(std::string_view name) {
  if (name.empty() || name == "local") return {};
  // An IANA name is a relative path in the tz database; refuse anything else (a POSIX rule
  // string, "../x") rather than let glibc quietly use UTC.
  const bool plausible = name.front() != '/' && name.find("..") == std::string_view::npos &&
                         name.find_first_of(",<>") == std::string_view::npos;
  const char* tzdir = std::getenv("TZDIR");
  const std::string file = fmt::format(
      "{}/{}", tzdir != nullptr && *tzdir != '\0' ? tzdir : "/usr/share/zoneinfo", name);
  struct stat st {};
  if (!plausible || ::stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return tl::make_unexpected(fmt::format(
        "unknown time zone '{}': use an IANA name such as UTC, Europe/Paris or Asia/Tokyo", name));
  }
  ::setenv("TZ", std::string(name).c_str(), 1);
  ::tzset();
  return {};
}

std::optional<std::int64_t> localDayStart(std::string_view date, int days_after) {
  int year = 0, month = 0, day = 0;
  if (!parseDate(date, year, month, day)) return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_isdst = -1;
  if (std::mktime(&tm) == static_cast<std::time_t>(-1) || tm.tm_mday != day) {
    return std::nullopt;  // 2026-02-30
  }
  // mktime normalizes a day past the month's end, and finds midnight across DST changes.
  tm = std::tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day + days_after;
  tm.tm_isdst = -1;
  const std::time_t t = std::mktime(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  return static_cast<std::int64_t>(t) * 1000;
}

}  // namespace sqtail::usage
