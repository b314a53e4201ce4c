#include <unistd.h>

#include <algorithm>
#include <array>
#include <climits>
#include <iostream>
#include <map>
#include <optional>

#include <fmt/core.h>

#include "cli/command.hpp"
#include "cli/table.hpp"
#include "cli/where.hpp"

namespace sqtail::cli {

namespace {

struct StatsOptions {
  std::string db;
  std::vector<std::string> by;
  std::string since, until;
  std::vector<std::string> where;  // each one a --where filter; all of them ANDed
  Format format = Format::kTable;
  int top = 0;
  std::optional<bool> sparkline;  // unset: on when stdout is a terminal
};

constexpr int kSparkHours = 24;
constexpr std::int64_t kMinuteMs = 60'000;

bool isTimeUnit(const std::string& b) { return b == "minute" || b == "hour" || b == "day"; }

// The bar for `value` on a scale whose top is `max`: a space for nothing, else at least the
// lowest block, so that one line in an hour still shows.
std::string sparkline(const std::array<std::int64_t, kSparkHours>& hours) {
  static constexpr const char* kBars[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  const std::int64_t max = *std::max_element(hours.begin(), hours.end());
  std::string out;
  for (std::int64_t v : hours) {
    if (v <= 0 || max <= 0) {
      out += ' ';
      continue;
    }
    // Ceiling of v * 8 / max, in 1..8; long double keeps huge counts from overflowing.
    const auto level = static_cast<int>(
        (static_cast<long double>(v) * 8 + static_cast<long double>(max) - 1) /
        static_cast<long double>(max));
    out += kBars[std::clamp(level, 1, 8) - 1];
  }
  return out;
}

// Binds the --where values after the fixed parameters.
void bindParams(SQLite::Statement& st, const std::vector<std::string>& params, int first) {
  for (std::size_t i = 0; i < params.size(); ++i) {
    st.bind(first + static_cast<int>(i), params[i]);
  }
}

std::string rowKey(const std::vector<std::string>& cells, std::size_t n) {
  std::string key;
  for (std::size_t i = 0; i < n; ++i) {
    key += cells[i];
    key += '\x1f';
  }
  return key;
}

int cmdStats(const StatsOptions& o) {
  std::int64_t since = 0, until = INT64_MAX;
  for (auto [text, out] : {std::pair{&o.since, &since}, std::pair{&o.until, &until}}) {
    if (text->empty()) continue;
    auto when = parseWhen(*text);
    if (!when) {
      fmt::print(stderr, "sqtail: {}\n", when.error());
      return 2;
    }
    *out = *when;
  }
  std::vector<WhereTerm> where;
  for (const auto& text : o.where) {
    auto terms = parseWhere(text);
    if (!terms) {
      fmt::print(stderr, "sqtail: {}\n", terms.error());
      return 2;
    }
    where.insert(where.end(), terms->begin(), terms->end());
  }
  for (const auto& b : o.by) {
    if (b != "level" && b != "category" && b != "source" && b != "file" && !isTimeUnit(b)) {
      fmt::print(stderr, "sqtail: --by {}: use level, category, source, file, minute, hour, day\n",
                 b);
      return 2;
    }
  }
  // The rollup answers everything but per-file questions; those need the events table.
  const bool from_events =
      std::find(o.by.begin(), o.by.end(), "file") != o.by.end() ||
      std::any_of(where.begin(), where.end(), [](const WhereTerm& t) { return t.key == "file"; });
  const bool has_time = std::any_of(o.by.begin(), o.by.end(), isTimeUnit);
  // Column expressions come from this fixed table only; user text only ever becomes a
  // bound parameter. Absent fields are '' in the rollup, so events match that.
  auto column = [from_events](std::string_view key) -> std::string {
    if (key == "file") return "f.path";
    if (key == "source") return from_events ? "f.source" : "source";
    return from_events ? fmt::format("coalesce(e.{}, '')", key) : std::string(key);
  };
  const std::string minute = from_events ? "(e.ts / 60000)" : "minute";
  std::vector<std::string> exprs;
  std::string time_order;
  for (std::size_t i = 0; i < o.by.size(); ++i) {
    const auto& b = o.by[i];
    if (isTimeUnit(b)) {
      const char* f = b == "day" ? "%Y-%m-%d" : b == "hour" ? "%Y-%m-%d %H:00" : "%Y-%m-%d %H:%M";
      const int per = b == "day" ? 1440 : b == "hour" ? 60 : 1;
      exprs.push_back(fmt::format("strftime('{}', ({} / {}) * {} * 60, 'unixepoch')", f, minute,
                                  per, per));
      time_order += fmt::format("\"{}\", ", b);
    } else {
      exprs.push_back(column(b));
    }
  }
  std::string select, group;
  for (std::size_t i = 0; i < exprs.size(); ++i) {
    select += exprs[i] + " AS \"" + o.by[i] + "\", ";
    group += (i ? ", " : "") + std::to_string(i + 1);
  }
  const SqlCondition cond = whereToSql(where, column, 3);
  const std::string and_where = cond.sql.empty() ? "" : " AND " + cond.sql;
  std::string sql;
  if (from_events) {
    sql = fmt::format(
        "SELECT {}count(*) AS lines, sum(coalesce(length(e.raw), 0) + 1) AS bytes "
        "FROM events e JOIN files f ON f.id = e.file_id "
        "WHERE coalesce(e.ts, 0) >= ?1 AND coalesce(e.ts, 0) < ?2{}",
        select, and_where);
  } else {
    // Whole minutes: the one holding --since counts, as does the one holding --until.
    sql = fmt::format(
        "SELECT {}sum(lines) AS lines, sum(bytes) AS bytes FROM stats_minute "
        "WHERE minute >= ?1 AND minute < ?2{}",
        select, and_where);
  }
  if (!group.empty()) sql += " GROUP BY " + group;
  // --top keeps the busiest rows; time-grouped output is then shown in time order.
  sql += " ORDER BY lines DESC";
  if (o.top > 0) sql += " LIMIT " + std::to_string(o.top);
  if (!time_order.empty()) sql = fmt::format("SELECT * FROM ({}) ORDER BY {}lines DESC", sql, time_order);

  const bool spark_wanted = o.format == Format::kTable &&
                            o.sparkline.value_or(isatty(STDOUT_FILENO) == 1);
  const bool spark = spark_wanted && !has_time && !from_events;
  if (spark_wanted && !spark && o.sparkline.value_or(false)) {
    fmt::print(stderr, "sqtail: no sparkline: {}\n",
               has_time ? "the rows are already per time unit"
                        : "it comes from the rollup, which has no file column");
  }

  auto conn = openReadOnly(o.db);
  if (!conn) return 1;
  Table t;
  for (const auto& b : o.by) {
    t.headers.push_back(b);
    t.numeric.push_back(false);
  }
  t.headers.insert(t.headers.end(), {"lines", "bytes"});
  t.numeric.insert(t.numeric.end(), {true, true});
  const bool pretty = o.format == Format::kTable;
  const std::size_t keys = o.by.size();
  try {
    SQLite::Statement st(*conn, sql);
    if (from_events) {
      st.bind(1, since);
      st.bind(2, until);
    } else {
      st.bind(1, since / kMinuteMs);
      // Rounded up, without overflowing for "no --until".
      st.bind(2, until / kMinuteMs + (until % kMinuteMs != 0 ? 1 : 0));
    }
    bindParams(st, cond.params, 3);
    while (st.executeStep()) {
      std::vector<std::string> cells;
      std::vector<bool> nulls;
      for (std::size_t c = 0; c < keys; ++c) {
        const auto col = st.getColumn(static_cast<int>(c));
        cells.push_back(col.getString());
        nulls.push_back(col.isNull());
      }
      for (std::size_t c = keys; c < keys + 2; ++c) {
        auto v = st.getColumn(static_cast<int>(c)).getInt64();
        cells.push_back(pretty ? thousands(v) : std::to_string(v));
        nulls.push_back(false);
      }
      t.addRow(std::move(cells), std::move(nulls));
    }
    if (spark && !t.rows.empty()) {
      // The 24 clock hours that end with the one holding --until (or now).
      const std::int64_t ref = until == INT64_MAX ? nowMillis() : until;
      const std::int64_t end_min = (ref + 3'599'999) / 3'600'000 * 60;
      const std::int64_t start_min = end_min - kSparkHours * 60;
      std::string key_select, key_group;
      for (std::size_t i = 0; i < keys; ++i) {
        key_select += exprs[i] + ", ";
        key_group += std::to_string(i + 1) + ", ";
      }
      SQLite::Statement hs(
          *conn, fmt::format("SELECT {}(minute - ?1) / 60, sum(lines) FROM stats_minute "
                             "WHERE minute >= ?1 AND minute < ?2{} GROUP BY {}{}",
                             key_select, and_where, key_group, keys + 1));
      hs.bind(1, start_min);
      hs.bind(2, end_min);
      bindParams(hs, cond.params, 3);
      std::map<std::string, std::array<std::int64_t, kSparkHours>> per_row;
      while (hs.executeStep()) {
        std::vector<std::string> k;
        for (std::size_t c = 0; c < keys; ++c) k.push_back(hs.getColumn(static_cast<int>(c)).getString());
        const auto hour = hs.getColumn(static_cast<int>(keys)).getInt64();
        if (hour < 0 || hour >= kSparkHours) continue;
        auto [it, added] = per_row.try_emplace(rowKey(k, keys));
        if (added) it->second.fill(0);
        it->second[static_cast<std::size_t>(hour)] += hs.getColumn(static_cast<int>(keys) + 1).getInt64();
      }
      t.headers.push_back("last_24h");
      t.numeric.push_back(false);
      for (std::size_t r = 0; r < t.rows.size(); ++r) {
        auto it = per_row.find(rowKey(t.rows[r], keys));
        std::array<std::int64_t, kSparkHours> none{};
        t.rows[r].push_back(sparkline(it != per_row.end() ? it->second : none));
        t.nulls[r].push_back(false);
      }
    }
  } catch (const SQLite::Exception& e) {
    fmt::print(stderr, "sqtail: {}\n", e.what());
    return 1;
  }
  std::cout << render(t, o.format);
  return 0;
}

}  // namespace

void addStatsCommand(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("stats", "Line and byte counts grouped by level, category, ...");
  struct Opts {
    StatsOptions stats;
    std::string format = "table";
    bool sparkline = false, no_sparkline = false;
  };
  auto o = std::make_shared<Opts>();
  o->stats.db = "sqtail.db";
  cmd->add_option("--db", o->stats.db, "SQLite database file");
  cmd->add_option("--by", o->stats.by, "level,category,source,file,minute,hour,day")->delimiter(',');
  cmd->add_option("--since", o->stats.since, "A duration ago (15m, 24h, 7d) or a timestamp");
  cmd->add_option("--until", o->stats.until, "A duration ago or a timestamp");
  cmd->add_option("--where", o->stats.where,
                  "Filter: level=error,category=engine; key!=v; key=a|b (keys: level, category, "
                  "source, file)")
      ->allow_extra_args(false);
  cmd->add_option("--format", o->format, "table|json|csv|tsv");
  cmd->add_option("--top", o->stats.top, "Only the N rows with the most lines");
  cmd->add_flag("--sparkline", o->sparkline,
                "Add the last 24 hours per row (default: when stdout is a terminal)");
  cmd->add_flag("--no-sparkline", o->no_sparkline, "Never add the sparkline column");
  cmd->callback([&action, o] {
    action = [o] {
      auto f = parseFormat(o->format);
      if (!f) {
        fmt::print(stderr, "sqtail: {}\n", f.error());
        return 2;
      }
      o->stats.format = *f;
      if (o->sparkline && o->no_sparkline) {
        fmt::print(stderr, "sqtail: --sparkline and --no-sparkline exclude each other\n");
        return 2;
      }
      if (o->sparkline) o->stats.sparkline = true;
      if (o->no_sparkline) o->stats.sparkline = false;
      return cmdStats(o->stats);
    };
  });
}

}  // namespace sqtail::cli
