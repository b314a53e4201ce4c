#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <climits>
#include <ctime>
#include <iostream>
#include <optional>
#include <tuple>
#include <unordered_map>

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
constexpr std::int64_t kHourMs = 3'600'000;

bool isTimeUnit(const std::string& b) { return b == "minute" || b == "hour" || b == "day"; }

// Minutes per bucket of a time unit.
std::int64_t minutesPer(const std::string& unit) {
  return unit == "day" ? 1440 : unit == "hour" ? 60 : 1;
}

std::string formatBucket(const std::string& unit, std::int64_t bucket) {
  const auto secs = static_cast<std::time_t>(bucket * minutesPer(unit) * 60);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  if (unit == "day")
    return fmt::format("{:04}-{:02}-{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, unit == "hour" ? 0 : tm.tm_min);
}

// A space for an hour without lines, else at least the lowest block, so that one line in
// an hour still shows next to a busy one. Each row is scaled to its own busiest hour.
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
    const auto level =
        static_cast<int>((static_cast<long double>(v) * 8 + static_cast<long double>(max) - 1) /
                         static_cast<long double>(max));
    out += kBars[std::clamp(level, 1, 8) - 1];
  }
  return out;
}

// One output row of the rollup query, aggregated in memory.
struct Group {
  std::vector<std::string> text;      // the non-time --by keys, in --by order
  std::vector<std::int64_t> buckets;  // the time --by keys, in --by order
  std::int64_t lines = 0, bytes = 0;
  std::array<std::int64_t, kSparkHours> hours{};
  bool counted = false;  // has minutes in --since..--until, not only in the sparkline's day
};

struct Query {
  std::vector<std::string> by;
  std::vector<WhereTerm> where;
  std::int64_t since = 0, until = INT64_MAX;
  bool spark = false;
  int top = 0;
  bool pretty = false;
};

// Owns a raw statement: the rollup scan reads up to millions of rows, where SQLiteCpp's
// per-column objects would cost more than the query itself.
struct RawStatement {
  sqlite3_stmt* stmt = nullptr;
  ~RawStatement() { sqlite3_finalize(stmt); }
};

// Answers from stats_minute with one range scan on its primary key (minute first),
// summing per group in a hash map: SQLite's GROUP BY would sort every row first, which is
// several times slower on the hundreds of thousands of rows a day of rollups can hold.
tl::expected<Table, std::string> queryRollup(SQLite::Database& conn, const Query& q) {
  std::vector<std::string> text_columns;
  for (const auto& b : q.by) {
    if (!isTimeUnit(b)) text_columns.push_back(b);
  }
  // Column names come from the fixed --by list only; user text only becomes parameters.
  const SqlCondition cond = whereToSql(
      q.where, [](std::string_view key) { return std::string(key); }, 3);
  // Grouping by the primary key's prefix (minute, then source) streams in key order
  // without a sort and folds many rows into one before they reach us: worth it for time
  // units and sources. Level and category are not a prefix: those rows come one by one.
  const bool prefix = std::all_of(text_columns.begin(), text_columns.end(),
                                  [](const std::string& c) { return c == "source"; });
  std::string sql = "SELECT ";
  for (const auto& c : text_columns) sql += c + ", ";
  sql += prefix ? "minute, sum(lines), sum(bytes)" : "minute, lines, bytes";
  sql += " FROM stats_minute WHERE minute >= ?1 AND minute < ?2";
  if (!cond.sql.empty()) sql += " AND " + cond.sql;
  if (prefix) sql += text_columns.empty() ? " GROUP BY minute" : " GROUP BY minute, source";

  // Whole minutes: the one holding --since counts, as does the one holding --until.
  const std::int64_t since_min = q.since / kMinuteMs;
  const std::int64_t until_min = q.until / kMinuteMs + (q.until % kMinuteMs != 0 ? 1 : 0);
  // The sparkline: the 24 clock hours that end with the one holding --until (or now). One
  // scan covers both ranges; rows only in the sparkline's day count for nothing else.
  const std::int64_t ref = q.until == INT64_MAX ? nowMillis() : q.until;
  const std::int64_t spark_hi = (ref + kHourMs - 1) / kHourMs * 60;
  const std::int64_t spark_lo = spark_hi - kSparkHours * 60;
  const std::int64_t lo = q.spark ? std::min(since_min, spark_lo) : since_min;
  const std::int64_t hi = q.spark ? std::max(until_min, spark_hi) : until_min;

  RawStatement st;
  sqlite3* db = conn.getHandle();
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st.stmt, nullptr) != SQLITE_OK) {
    return tl::unexpected(std::string(sqlite3_errmsg(db)));
  }
  sqlite3_bind_int64(st.stmt, 1, lo);
  sqlite3_bind_int64(st.stmt, 2, hi);
  for (std::size_t i = 0; i < cond.params.size(); ++i) {
    const auto& p = cond.params[i];
    sqlite3_bind_text(st.stmt, 3 + static_cast<int>(i), p.data(), static_cast<int>(p.size()),
                      SQLITE_STATIC);
  }
  const int ntext = static_cast<int>(text_columns.size());
  std::unordered_map<std::string, Group> groups;
  std::string key;
  int rc;
  while ((rc = sqlite3_step(st.stmt)) == SQLITE_ROW) {
    const std::int64_t minute = sqlite3_column_int64(st.stmt, ntext);
    key.clear();
    for (int c = 0; c < ntext; ++c) {
      const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st.stmt, c));
      key.append(p != nullptr ? p : "", static_cast<std::size_t>(sqlite3_column_bytes(st.stmt, c)));
      key += '\x1f';
    }
    for (const auto& b : q.by) {
      if (!isTimeUnit(b)) continue;
      const std::int64_t bucket = minute / minutesPer(b);
      key.append(reinterpret_cast<const char*>(&bucket), sizeof bucket);
    }
    auto [it, added] = groups.try_emplace(key);
    Group& g = it->second;
    if (added) {
      for (int c = 0; c < ntext; ++c) {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st.stmt, c));
        g.text.emplace_back(p != nullptr ? p : "");
      }
      for (const auto& b : q.by) {
        if (isTimeUnit(b)) g.buckets.push_back(minute / minutesPer(b));
      }
    }
    const std::int64_t lines = sqlite3_column_int64(st.stmt, ntext + 1);
    if (minute >= since_min && minute < until_min) {
      g.lines += lines;
      g.bytes += sqlite3_column_int64(st.stmt, ntext + 2);
      g.counted = true;
    }
    if (q.spark && minute >= spark_lo && minute < spark_hi) {
      g.hours[static_cast<std::size_t>((minute - spark_lo) / 60)] += lines;
    }
  }
  if (rc != SQLITE_DONE) return tl::unexpected(std::string(sqlite3_errmsg(db)));

  std::vector<Group> rows;
  for (auto& [k, g] : groups) {
    if (g.counted) rows.push_back(std::move(g));
  }
  // Without --by the answer is one total, zero included.
  if (q.by.empty() && rows.empty()) rows.emplace_back();
  // Busiest first (ties in key order, so that output is stable); --top keeps the busiest,
  // and time-grouped output is then shown in time order.
  std::sort(rows.begin(), rows.end(), [](const Group& a, const Group& b) {
    if (a.lines != b.lines) return a.lines > b.lines;
    return std::tie(a.text, a.buckets) < std::tie(b.text, b.buckets);
  });
  if (q.top > 0 && rows.size() > static_cast<std::size_t>(q.top)) {
    rows.resize(static_cast<std::size_t>(q.top));
  }
  if (std::any_of(q.by.begin(), q.by.end(), isTimeUnit)) {
    std::stable_sort(rows.begin(), rows.end(),
                     [](const Group& a, const Group& b) { return a.buckets < b.buckets; });
  }

  Table t;
  for (const auto& b : q.by) {
    t.headers.push_back(b);
    t.numeric.push_back(false);
  }
  t.headers.insert(t.headers.end(), {"lines", "bytes"});
  t.numeric.insert(t.numeric.end(), {true, true});
  if (q.spark) {
    t.headers.push_back("last_24h");
    t.numeric.push_back(false);
  }
  for (const auto& g : rows) {
    std::vector<std::string> cells;
    std::size_t ti = 0, bi = 0;
    for (const auto& b : q.by) {
      cells.push_back(isTimeUnit(b) ? formatBucket(b, g.buckets[bi++]) : g.text[ti++]);
    }
    cells.push_back(q.pretty ? thousands(g.lines) : std::to_string(g.lines));
    cells.push_back(q.pretty ? thousands(g.bytes) : std::to_string(g.bytes));
    // Last: its cells are wider in bytes than on screen, which only the last column may be.
    if (q.spark) cells.push_back(sparkline(g.hours));
    t.addRow(std::move(cells));
  }
  return t;
}

// Per-file questions need the events table (the rollup has no file column): a full scan,
// grouped by SQLite.
tl::expected<Table, std::string> queryEvents(SQLite::Database& conn, const Query& q) {
  // Fixed text only; absent fields are '' as in the rollup, so that filters mean the same.
  auto column = [](std::string_view key) -> std::string {
    if (key == "file") return "f.path";
    if (key == "source") return "f.source";
    return fmt::format("coalesce(e.{}, '')", key);
  };
  std::string select, group, time_order;
  for (std::size_t i = 0; i < q.by.size(); ++i) {
    const auto& b = q.by[i];
    const std::string expr =
        isTimeUnit(b) ? fmt::format("(e.ts / 60000) / {}", minutesPer(b)) : column(b);
    select += fmt::format("{} AS \"{}\", ", expr, b);
    group += (i ? ", " : "") + std::to_string(i + 1);
    if (isTimeUnit(b)) time_order += fmt::format("\"{}\", ", b);
  }
  const SqlCondition cond = whereToSql(q.where, column, 3);
  std::string sql = fmt::format(
      "SELECT {}count(*) AS lines, sum(coalesce(length(e.raw), 0) + 1) AS bytes "
      "FROM events e JOIN files f ON f.id = e.file_id "
      "WHERE coalesce(e.ts, 0) >= ?1 AND coalesce(e.ts, 0) < ?2{}",
      select, cond.sql.empty() ? "" : " AND " + cond.sql);
  if (!group.empty()) sql += " GROUP BY " + group;
  sql += " ORDER BY lines DESC";
  if (q.top > 0) sql += " LIMIT " + std::to_string(q.top);
  if (!time_order.empty()) {
    sql = fmt::format("SELECT * FROM ({}) ORDER BY {}lines DESC", sql, time_order);
  }

  Table t;
  for (const auto& b : q.by) {
    t.headers.push_back(b);
    t.numeric.push_back(false);
  }
  t.headers.insert(t.headers.end(), {"lines", "bytes"});
  t.numeric.insert(t.numeric.end(), {true, true});
  try {
    SQLite::Statement st(conn, sql);
    st.bind(1, q.since);
    st.bind(2, q.until);
    for (std::size_t i = 0; i < cond.params.size(); ++i) {
      st.bind(3 + static_cast<int>(i), cond.params[i]);
    }
    while (st.executeStep()) {
      std::vector<std::string> cells;
      std::vector<bool> nulls;
      for (std::size_t c = 0; c < q.by.size(); ++c) {
        const auto col = st.getColumn(static_cast<int>(c));
        if (isTimeUnit(q.by[c]) && !col.isNull()) {
          cells.push_back(formatBucket(q.by[c], col.getInt64()));
        } else {
          cells.push_back(col.getString());
        }
        nulls.push_back(col.isNull());
      }
      for (int c = 0; c < 2; ++c) {
        const auto v = st.getColumn(static_cast<int>(q.by.size()) + c).getInt64();
        cells.push_back(q.pretty ? thousands(v) : std::to_string(v));
        nulls.push_back(false);
      }
      t.addRow(std::move(cells), std::move(nulls));
    }
  } catch (const SQLite::Exception& e) {
    return tl::unexpected(std::string(e.what()));
  }
  return t;
}

int cmdStats(const StatsOptions& o) {
  Query q;
  q.by = o.by;
  q.top = o.top;
  q.pretty = o.format == Format::kTable;
  for (auto [text, out] : {std::pair{&o.since, &q.since}, std::pair{&o.until, &q.until}}) {
    if (text->empty()) continue;
    auto when = parseWhen(*text);
    if (!when) {
      fmt::print(stderr, "sqtail: {}\n", when.error());
      return 2;
    }
    *out = *when;
  }
  for (const auto& text : o.where) {
    auto terms = parseWhere(text);
    if (!terms) {
      fmt::print(stderr, "sqtail: {}\n", terms.error());
      return 2;
    }
    q.where.insert(q.where.end(), terms->begin(), terms->end());
  }
  for (const auto& b : o.by) {
    if (b != "level" && b != "category" && b != "source" && b != "file" && !isTimeUnit(b)) {
      fmt::print(stderr, "sqtail: --by {}: use level, category, source, file, minute, hour, day\n",
                 b);
      return 2;
    }
  }
  // The rollup answers everything but per-file questions.
  const bool from_events = std::find(o.by.begin(), o.by.end(), "file") != o.by.end() ||
                           std::any_of(q.where.begin(), q.where.end(),
                                       [](const WhereTerm& t) { return t.key == "file"; });
  const bool has_time = std::any_of(o.by.begin(), o.by.end(), isTimeUnit);
  const bool spark_wanted =
      o.format == Format::kTable && o.sparkline.value_or(isatty(STDOUT_FILENO) == 1);
  q.spark = spark_wanted && !has_time && !from_events;
  if (spark_wanted && !q.spark && o.sparkline.value_or(false)) {
    fmt::print(stderr, "sqtail: no sparkline: {}\n",
               has_time ? "the rows are already per time unit"
                        : "it comes from the rollup, which has no file column");
  }

  auto conn = openReadOnly(o.db);
  if (!conn) return 1;
  auto table = from_events ? queryEvents(*conn, q) : queryRollup(*conn, q);
  if (!table) {
    fmt::print(stderr, "sqtail: {}\n", table.error());
    return 1;
  }
  std::cout << render(*table, o.format);
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
  cmd->add_option("--by", o->stats.by, "level,category,source,file,minute,hour,day")
      ->delimiter(',');
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
      return withFormat(o->format, [&](Format f) {
        o->stats.format = f;
        if (o->sparkline && o->no_sparkline) {
          fmt::print(stderr, "sqtail: --sparkline and --no-sparkline exclude each other\n");
          return 2;
        }
        if (o->sparkline) o->stats.sparkline = true;
        if (o->no_sparkline) o->stats.sparkline = false;
        return cmdStats(o->stats);
      });
    };
  });
}

}  // namespace sqtail::cli
