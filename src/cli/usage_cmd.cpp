// `sqtail usage`: token and cost totals of agent sessions (the claude-code preset's usage
// table), grouped like `ccusage daily|weekly|monthly|session`. Main thread only.
//
// Declared for cli/command.hpp:
//   void addUsageCommand(CLI::App& app, Action& action);
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <tuple>

#include <fmt/core.h>

#include "cli/command.hpp"
#include "cli/table.hpp"
#include "sink/postgres/pg_sink.hpp"
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
  std::string pg;  // --pg: the shared PostgreSQL database instead of --db
  std::string pg_schema = "sqtail";
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

// ---- --pg: the same report from the shared PostgreSQL database (every host, or --by host) ----

// The IANA name of the zone days are counted in: --timezone, else the process's ($TZ, the
// system's configured zone), else UTC. PostgreSQL needs the name; localtime_r does not.
std::string zoneName(const std::string& option) {
  if (!option.empty() && option != "local") return option;
  auto afterZoneinfo = [](std::string_view v) {
    const auto p = v.find("zoneinfo/");
    return std::string(p == std::string_view::npos ? v : v.substr(p + 9));
  };
  if (const char* tz = std::getenv("TZ"); tz != nullptr && *tz != '\0') {
    return afterZoneinfo(tz[0] == ':' ? tz + 1 : tz);
  }
  std::ifstream debian("/etc/timezone");
  if (std::string line; std::getline(debian, line) && !line.empty()) return line;
  std::error_code ec;
  const auto link = std::filesystem::read_symlink("/etc/localtime", ec);
  if (!ec) return afterZoneinfo(link.string());
  return "UTC";
}

// usage::reportSql in PostgreSQL's words: the same columns, rules and order, plus `host`. The
// session's TimeZone makes to_timestamp()'s dates local, as 'localtime' does in SQLite.
std::string pgGroupExpr(std::string_view name) {
  if (name == "day") return "to_char(to_timestamp(ts / 1000.0), 'YYYY-MM-DD')";
  // The Sunday that starts the week (as ccusage): a day later, back to Monday, a day back.
  if (name == "week") {
    return "to_char(date_trunc('week', to_timestamp(ts / 1000.0) + interval '1 day') - "
           "interval '1 day', 'YYYY-MM-DD')";
  }
  if (name == "month") return "to_char(to_timestamp(ts / 1000.0), 'YYYY-MM')";
  if (name == "host") return "host_id";
  return std::string(name);  // session, project, model: columns
}

std::string pgSums(usage::CostMode mode) {
  const char* cost = mode == usage::CostMode::kCalculate ? "cost_calc"
                     : mode == usage::CostMode::kDisplay ? "coalesce(cost_record, 0)"
                                                         : "coalesce(cost_record, cost_calc)";
  return fmt::format(
      "coalesce(sum(input_tokens), 0)::bigint AS input_tokens, "
      "coalesce(sum(output_tokens), 0)::bigint AS output_tokens, "
      "coalesce(sum(cache_creation_5m_tokens + cache_creation_1h_tokens), 0)::bigint "
      "AS cache_creation_tokens, "
      "coalesce(sum(cache_read_tokens), 0)::bigint AS cache_read_tokens, "
      "coalesce(sum(total), 0)::bigint AS total_tokens, "
      "coalesce(sum({}), 0)::float8 AS cost_usd",
      cost);
}

int usageFromPg(const UsageOptions& o, const std::vector<std::string>& by, usage::CostMode mode,
                std::int64_t since, std::int64_t until, Format format) {
  auto conn = sink::openPgForReports(o.pg, o.pg_schema);
  if (!conn) {
    fmt::print(stderr, "sqtail: {}\n", conn.error().message);
    return 1;
  }
  const std::string zone = zoneName(o.timezone);
  if (auto r = conn->exec("SET TIME ZONE " + conn->literal(zone)); !r) {
    fmt::print(stderr, "sqtail: time zone '{}': {}\n", zone, r.error().message);
    return 1;
  }
  const std::string table = conn->identifier(o.pg_schema) + ".usage";
  std::string select, group_by, time_order, other_order;
  bool by_model = false;
  for (std::size_t i = 0; i < by.size(); ++i) {
    const std::string& name = by[i];
    by_model = by_model || name == "model";
    select += fmt::format("{} AS \"{}\", ", pgGroupExpr(name), name);
    group_by += fmt::format("{}{}", i ? ", " : "", i + 1);
    const bool time = name == "day" || name == "week" || name == "month";
    (time ? time_order : other_order) += fmt::format(", {}", i + 1);
  }
  std::string sql = fmt::format("SELECT {}{} FROM {} WHERE ts >= $1::bigint AND ts < $2::bigint",
                                select, pgSums(mode), table);
  if (by_model) sql += " AND model <> ''";
  if (!group_by.empty()) sql += " GROUP BY " + group_by;
  sql += " ORDER BY " + (time_order.empty() ? "" : time_order.substr(2) + ", ") + "cost_usd DESC" +
         other_order;
  const std::vector<std::string> params = {std::to_string(since), std::to_string(until)};

  const bool pretty = format == Format::kTable;
  Table t;
  for (const auto& name : by) {
    t.headers.push_back(name);
    t.numeric.push_back(false);
  }
  for (const char* column : kColumns) {
    t.headers.emplace_back(column);
    t.numeric.push_back(true);
  }
  const int groups = static_cast<int>(by.size());
  auto addRow = [&](const sink::PgResult& res, int row, int first_value,
                    std::vector<std::string> cells) {
    for (int c = 0; c < 6; ++c) {
      if (c == kCostColumn) {
        cells.push_back(dollars(res.float64(row, first_value + c), pretty));
      } else {
        const auto v = res.int64(row, first_value + c);
        cells.push_back(pretty ? thousands(v) : std::to_string(v));
      }
    }
    t.addRow(std::move(cells));
  };
  auto rows = conn->query(sql, params);
  if (!rows) {
    fmt::print(stderr, "sqtail: {}\n", rows.error().message);
    return 1;
  }
  for (int r = 0; r < rows->rows(); ++r) {
    std::vector<std::string> cells;
    for (int c = 0; c < groups; ++c) cells.emplace_back(rows->text(r, c));
    addRow(*rows, r, groups, std::move(cells));
  }
  // The table ends with the totals; CSV and JSON stay pure rows for machines (sum them).
  if (pretty && groups > 0) {
    auto totals =
        conn->query(fmt::format("SELECT {} FROM {} WHERE ts >= $1::bigint AND ts < $2::bigint",
                                pgSums(mode), table),
                    params);
    if (!totals) {
      fmt::print(stderr, "sqtail: {}\n", totals.error().message);
      return 1;
    }
    std::vector<std::string> cells(static_cast<std::size_t>(groups));
    cells[0] = "Total";
    addRow(*totals, 0, 0, std::move(cells));
  }
  std::cout << render(t, format);
  return 0;
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
  std::vector<std::string> names;  // the --by list as given, `host` included (--pg only)
  for (const auto& b : o.by) {
    if (b == "host") {
      if (o.pg.empty()) {
        fmt::print(stderr, "sqtail: --by host needs --pg (a SQLite stats DB holds one host)\n");
        return 2;
      }
      if (std::find(names.begin(), names.end(), b) != names.end()) {
        fmt::print(stderr, "sqtail: --by {} given twice\n", b);
        return 2;
      }
      names.push_back(b);
      continue;
    }
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
    names.emplace_back(usage::groupName(*group));
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

  if (!o.pg.empty()) return usageFromPg(o, names, spec.mode, since, until, *format);
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
  cmd->add_option("--by", o->by, "day,week,month,session,project,model,host (default: day)")
      ->delimiter(',');
  cmd->add_option("--pg", o->pg,
                  "Report from this PostgreSQL database (libpq conninfo or URI), all hosts");
  cmd->add_option("--pg-schema", o->pg_schema, "Its sqtail schema (default: sqtail)");
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
