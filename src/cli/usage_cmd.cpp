// `sqtail usage`: token and cost totals of agent sessions (the claude-code preset's usage
// table), grouped like `ccusage daily|weekly|monthly|session`. Main thread only.
//
// Declared for cli/command.hpp:
//   void addUsageCommand(CLI::App& app, Action& action);
#include <algorithm>
#include <iostream>
#include <limits>
#include <memory>
#include <tuple>

#include <fmt/core.h>

#include "cli/command.hpp"
#include "cli/table.hpp"
#include "usage/usage.hpp"

namespace sqtail::cli {

namespace {

struct UsageOptions {
  std::string db = "sqtail.db";
  std::vector<std::string> by{"day"};
  std::string since, until;
  std::string timezone;
  std::string format = "table";
  std::string mode = "auto";
};

constexpr const char* kColumns[] = {"input_tokens",      "output_tokens", "cache_creation_tokens",
                                    "cache_read_tokens", "total_tokens",  "cost_usd"};
constexpr int kCostColumn = 5;

// "2026-01-15" / "20260115" (a local day in --timezone), else a duration ago or a timestamp.
tl::expected<std::int64_t, std::string> parseBound(const std::string& text, bool until) {
  if (auto day = usage::localDayStart(text, until ? 1 : 0)) return *day;
  return parseWhen(text);
}

std::string dollars(double value, bool pretty) {
  if (!pretty) return fmt::format("{}", value);  // shortest exact form, as JSON.stringify
  const auto cents = static_cast<long long>(value * 100 + (value < 0 ? -0.5 : 0.5));
  const long long abs_cents = cents < 0 ? -cents : cents;
  return fmt::format("{}${}.{:02}", cents < 0 ? "-" : "", thousands(abs_cents / 100),
                     abs_cents % 100);
}

int cmdUsage(const UsageOptions& o) {
  auto format = parseFormat(o.format);
  auto mode = usage::parseCostMode(o.mode);
  if (!format || !mode) {
    fmt::print(stderr, "sqtail: {}\n", !format ? format.error() : mode.error());
    return 2;
  }
  usage::ReportSpec spec;
  spec.mode = *mode;
  for (const auto& b : o.by) {
    auto group = usage::parseGroup(b);
    if (!group) {
      fmt::print(stderr, "sqtail: {}\n", group.error());
      return 2;
    }
    if (std::find(spec.by.begin(), spec.by.end(), *group) != spec.by.end()) {
      fmt::print(stderr, "sqtail: --by {} given twice\n", b);
      return 2;
    }
    spec.by.push_back(*group);
  }
  // Before the bounds: a bare date is a day in this zone.
  if (auto tz = usage::useTimezone(o.timezone); !tz) {
    fmt::print(stderr, "sqtail: --timezone: {}\n", tz.error());
    return 2;
  }
  std::int64_t since = std::numeric_limits<std::int64_t>::min();
  std::int64_t until = usage::kNoLimit;
  for (auto [text, out, is_until] :
       {std::tuple{&o.since, &since, false}, std::tuple{&o.until, &until, true}}) {
    if (text->empty()) continue;
    auto when = parseBound(*text, is_until);
    if (!when) {
      fmt::print(stderr, "sqtail: {} (or a date: 2026-01-15)\n", when.error());
      return 2;
    }
    *out = *when;
  }

  auto conn = openReadOnly(o.db);
  if (!conn) return 1;
  const bool pretty = *format == Format::kTable;
  Table t;
  for (const auto group : spec.by) {
    t.headers.emplace_back(usage::groupName(group));
    t.numeric.push_back(false);
  }
  for (const char* column : kColumns) {
    t.headers.emplace_back(column);
    t.numeric.push_back(true);
  }
  const int groups = static_cast<int>(spec.by.size());
  auto addRow = [&](SQLite::Statement& st, int first_value, std::vector<std::string> cells) {
    for (int c = 0; c < 6; ++c) {
      const auto column = st.getColumn(first_value + c);
      if (c == kCostColumn) {
        cells.push_back(dollars(column.getDouble(), pretty));
      } else {
        const auto v = column.getInt64();
        cells.push_back(pretty ? thousands(v) : std::to_string(v));
      }
    }
    t.addRow(std::move(cells));
  };
  try {
    if (!conn->tableExists("usage")) {
      fmt::print(stderr,
                 "sqtail: '{}' has no usage table: tail Claude Code logs with the claude-code "
                 "preset first\n",
                 o.db);
      return 1;
    }
    SQLite::Statement rows(*conn, usage::reportSql(spec));
    rows.bind(1, since);
    rows.bind(2, until);
    while (rows.executeStep()) {
      std::vector<std::string> cells;
      for (int c = 0; c < groups; ++c) cells.push_back(rows.getColumn(c).getString());
      addRow(rows, groups, std::move(cells));
    }
    // The table ends with the totals; CSV and JSON stay pure rows for machines (sum them).
    if (pretty && groups > 0) {
      SQLite::Statement totals(*conn, usage::totalsSql(spec));
      totals.bind(1, since);
      totals.bind(2, until);
      if (totals.executeStep()) {
        std::vector<std::string> cells(static_cast<std::size_t>(groups));
        cells[0] = "Total";
        addRow(totals, 0, std::move(cells));
      }
    }
  } catch (const SQLite::Exception& e) {
    fmt::print(stderr, "sqtail: {}\n", e.what());
    return 1;
  }
  std::cout << render(t, *format);
  return 0;
}

}  // namespace

void addUsageCommand(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand(
      "usage", "Agent token usage and cost by day, week, month, session, project or model");
  auto o = std::make_shared<UsageOptions>();
  cmd->add_option("--db", o->db, "SQLite database file");
  cmd->add_option("--by", o->by, "day,week,month,session,project,model (default: day)")
      ->delimiter(',');
  cmd->add_option("--since", o->since, "A date (2026-01-15), a duration ago (7d) or a timestamp");
  cmd->add_option("--until", o->until, "Up to and including this date, or before this time");
  cmd->add_option("--timezone", o->timezone,
                  "IANA zone for days, weeks and months (default: the system's)");
  cmd->add_option("--format", o->format, "table|json|csv|tsv");
  cmd->add_option("--mode", o->mode,
                  "auto (costUSD when logged, else calculated), calculate, display");
  cmd->callback([&action, o] { action = [o] { return cmdUsage(*o); }; });
}

}  // namespace sqtail::cli
