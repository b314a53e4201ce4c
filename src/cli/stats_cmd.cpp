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
#include "sink/postgres/pg_sink.hpp"

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
  std::string pg;                 // --pg: the shared PostgreSQL database instead of --db
  std::string pg_schema = "sqtail";
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

std::int64_t floorDiv(std::int64_t a, std::int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}
std::int64_t ceilDiv(std::int64_t a, std::int64_t b) { return -floorDiv(-a, b); }

// A half-open range of epoch minutes.
struct Minutes {
  std::int64_t lo = 0, hi = 0;
  bool empty() const { return lo >= hi; }
  bool holds(std::int64_t m) const { return m >= lo && m < hi; }
};

// Sums rollup rows into groups, in memory. One scan is one range of one rollup table:
// stats_minute (a row per minute) or stats_hour (a row per hour, for whole hours only).
class RollupScanner {
 public:
  RollupScanner(sqlite3* db, const Query& q, std::int64_t spark_lo, std::int64_t spark_hi)
      : db_(db),
        q_(q),
        spark_{spark_lo, spark_hi},
        // Column names come from the fixed --by list only; user text only becomes parameters.
        cond_(whereToSql(
            q.where, [](std::string_view key) { return std::string(key); }, 3)) {
    for (const auto& b : q.by) {
      if (!isTimeUnit(b)) text_columns_.push_back(b);
    }
  }

  // Adds the rows of `table` with time in `range` (minutes, whole rows of the table): to the
  // totals where they fall in `counted`, and to the sparkline where they fall in its day and
  // `spark` is set.
  tl::expected<void, std::string> scan(std::string_view table, Minutes range, Minutes counted,
                                       bool spark) {
    if (range.empty()) return {};
    const bool hourly = table == "stats_hour";
    const std::int64_t unit = hourly ? 60 : 1;
    RawStatement& st = hourly ? hour_stmt_ : minute_stmt_;
    if (st.stmt == nullptr) {
      const std::string sql = selectSql(table, hourly ? "hour" : "minute");
      if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st.stmt, nullptr) != SQLITE_OK) {
        return tl::unexpected(std::string(sqlite3_errmsg(db_)));
      }
    }
    sqlite3_reset(st.stmt);
    sqlite3_bind_int64(st.stmt, 1, floorDiv(range.lo, unit));
    sqlite3_bind_int64(st.stmt, 2, ceilDiv(range.hi, unit));
    for (std::size_t i = 0; i < cond_.params.size(); ++i) {
      const auto& p = cond_.params[i];
      sqlite3_bind_text(st.stmt, 3 + static_cast<int>(i), p.data(), static_cast<int>(p.size()),
                        SQLITE_STATIC);
    }
    const int ntext = static_cast<int>(text_columns_.size());
    int rc;
    while ((rc = sqlite3_step(st.stmt)) == SQLITE_ROW) {
      const std::int64_t minute = sqlite3_column_int64(st.stmt, ntext) * unit;
      key_.clear();
      for (int c = 0; c < ntext; ++c) {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st.stmt, c));
        key_.append(p != nullptr ? p : "",
                    static_cast<std::size_t>(sqlite3_column_bytes(st.stmt, c)));
        key_ += '\x1f';
      }
      for (const auto& b : q_.by) {
        if (!isTimeUnit(b)) continue;
        const std::int64_t bucket = floorDiv(minute, minutesPer(b));
        key_.append(reinterpret_cast<const char*>(&bucket), sizeof bucket);
      }
      auto [it, added] = groups_.try_emplace(key_);
      Group& g = it->second;
      if (added) {
        for (int c = 0; c < ntext; ++c) {
          const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st.stmt, c));
          g.text.emplace_back(p != nullptr ? p : "");
        }
        for (const auto& b : q_.by) {
          if (isTimeUnit(b)) g.buckets.push_back(floorDiv(minute, minutesPer(b)));
        }
      }
      const std::int64_t lines = sqlite3_column_int64(st.stmt, ntext + 1);
      if (counted.holds(minute)) {
        g.lines += lines;
        g.bytes += sqlite3_column_int64(st.stmt, ntext + 2);
        g.counted = true;
      }
      if (spark && spark_.holds(minute)) {
        g.hours[static_cast<std::size_t>((minute - spark_.lo) / 60)] += lines;
      }
    }
    if (rc != SQLITE_DONE) return tl::unexpected(std::string(sqlite3_errmsg(db_)));
    return {};
  }

  std::unordered_map<std::string, Group>& groups() { return groups_; }

 private:
  std::string selectSql(std::string_view table, std::string_view time) const {
    // Grouping by the primary key's prefix (time, then source) streams in key order without
    // a sort and folds many rows into one before they reach us: worth it for time units and
    // sources. Level and category are not a prefix: those rows come one by one.
    const bool prefix = std::all_of(text_columns_.begin(), text_columns_.end(),
                                    [](const std::string& c) { return c == "source"; });
    std::string sql = "SELECT ";
    for (const auto& c : text_columns_) sql += c + ", ";
    sql += fmt::format("{}, {}", time, prefix ? "sum(lines), sum(bytes)" : "lines, bytes");
    sql += fmt::format(" FROM {} WHERE {} >= ?1 AND {} < ?2", table, time, time);
    if (!cond_.sql.empty()) sql += " AND " + cond_.sql;
    if (prefix) sql += fmt::format(" GROUP BY {}{}", time, text_columns_.empty() ? "" : ", source");
    return sql;
  }

  sqlite3* db_;
  const Query& q_;
  Minutes spark_;
  SqlCondition cond_;
  std::vector<std::string> text_columns_;
  RawStatement minute_stmt_, hour_stmt_;
  std::unordered_map<std::string, Group> groups_;
  std::string key_;
};

bool hasTable(sqlite3* db, const char* name) {
  RawStatement st;
  if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", -1,
                         &st.stmt, nullptr) != SQLITE_OK) {
    return false;
  }
  sqlite3_bind_text(st.stmt, 1, name, -1, SQLITE_STATIC);
  return sqlite3_step(st.stmt) == SQLITE_ROW;
}

// The output rows of a rollup query, from its groups: busiest first, --top, time order.
Table groupsTable(std::unordered_map<std::string, Group>& groups, const Query& q) {
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

// Answers from the rollups with range scans on their primary keys (time first), summing per
// group in a hash map: SQLite's GROUP BY would sort every row first, which is several times
// slower on the hundreds of thousands of rows a day of minute rollups can hold. The whole
// hours of the window come from stats_hour (about 60 times fewer rows), the partial hours at
// its edges from stats_minute; both count the same lines, so the sums are the ones
// stats_minute alone gives. --by minute, and a DB from before stats_hour, read only minutes.
tl::expected<Table, std::string> queryRollup(SQLite::Database& conn, const Query& q) {
  // Whole minutes: the one holding --since counts, as does the one holding --until.
  const Minutes window{floorDiv(q.since, kMinuteMs),
                       q.until == INT64_MAX ? INT64_MAX / kMinuteMs : ceilDiv(q.until, kMinuteMs)};
  // The sparkline: the 24 clock hours that end with the one holding --until (or now).
  const std::int64_t ref = q.until == INT64_MAX ? nowMillis() : q.until;
  const std::int64_t spark_hi = ceilDiv(ref, kHourMs) * 60;
  const Minutes spark{spark_hi - kSparkHours * 60, spark_hi};

  sqlite3* db = conn.getHandle();
  // One read transaction: every scan sees the same commit of a writer running meanwhile.
  sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
  RollupScanner scanner(db, q, spark.lo, spark.hi);
  // One scan may cover both the window and the sparkline's day; rows only in the sparkline's
  // day count for nothing else.
  auto cover = [&](Minutes a) {
    if (!q.spark) return a;
    return a.empty() ? spark : Minutes{std::min(a.lo, spark.lo), std::max(a.hi, spark.hi)};
  };
  const bool by_minute = std::find(q.by.begin(), q.by.end(), "minute") != q.by.end();
  tl::expected<void, std::string> done;
  if (by_minute || !hasTable(db, "stats_hour")) {
    done = scanner.scan("stats_minute", cover(window), window, q.spark);
  } else {
    const Minutes hours{ceilDiv(window.lo, 60) * 60, floorDiv(window.hi, 60) * 60};
    if (hours.empty()) {
      // No whole hour inside: minutes only (the sparkline's hours still come from hours).
      done = scanner.scan("stats_minute", window, window, false);
      if (done && q.spark) done = scanner.scan("stats_hour", spark, Minutes{}, true);
    } else {
      const Minutes head{window.lo, hours.lo}, tail{hours.hi, window.hi};
      done = scanner.scan("stats_hour", cover(hours), hours, q.spark);
      if (done) done = scanner.scan("stats_minute", head, head, false);
      if (done) done = scanner.scan("stats_minute", tail, tail, false);
    }
  }
  sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  if (!done) return tl::unexpected(done.error());
  return groupsTable(scanner.groups(), q);
}

// The SELECT list, GROUP BY and time-bucket order of a question over the events table, in
// SQLite's and PostgreSQL's common SQL; `column` names each --by key's expression.
struct GroupSql {
  std::string select, group, time_order;
};

template <class Column>
GroupSql groupSql(const Query& q, const Column& column) {
  GroupSql g;
  for (std::size_t i = 0; i < q.by.size(); ++i) {
    const auto& b = q.by[i];
    const std::string expr =
        isTimeUnit(b) ? fmt::format("(e.ts / 60000) / {}", minutesPer(b)) : column(b);
    g.select += fmt::format("{} AS \"{}\", ", expr, b);
    g.group += (i ? ", " : "") + std::to_string(i + 1);
    if (isTimeUnit(b)) g.time_order += fmt::format("\"{}\", ", b);
  }
  return g;
}

// GROUP BY, the biggest groups first (--top of them), then in time order when a time unit is
// among the keys.
std::string groupAndOrder(std::string sql, const Query& q, const GroupSql& g) {
  if (!g.group.empty()) sql += " GROUP BY " + g.group;
  sql += " ORDER BY lines DESC";
  if (q.top > 0) sql += " LIMIT " + std::to_string(q.top);
  if (!g.time_order.empty()) {
    sql = fmt::format("SELECT * FROM ({}) AS top ORDER BY {}lines DESC", sql, g.time_order);
  }
  return sql;
}

// The --by keys, then lines and bytes.
Table groupHeaders(const Query& q) {
  Table t;
  for (const auto& b : q.by) {
    t.headers.push_back(b);
    t.numeric.push_back(false);
  }
  t.headers.insert(t.headers.end(), {"lines", "bytes"});
  t.numeric.insert(t.numeric.end(), {true, true});
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
  const GroupSql g = groupSql(q, column);
  const SqlCondition cond = whereToSql(q.where, column, 3);
  std::string sql = fmt::format(
      "SELECT {}count(*) AS lines, sum(coalesce(length(e.raw), 0) + 1) AS bytes "
      "FROM events e JOIN files f ON f.id = e.file_id "
      "WHERE coalesce(e.ts, 0) >= ?1 AND coalesce(e.ts, 0) < ?2{}",
      g.select, cond.sql.empty() ? "" : " AND " + cond.sql);
  sql = groupAndOrder(std::move(sql), q, g);
  Table t = groupHeaders(q);
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

// ---- --pg: the same report from the shared PostgreSQL database (every host, or --by host) ----

// whereToSql numbers its placeholders ?N; PostgreSQL's are $N. The SQL around them is fixed
// text without '?', and the values are parameters, so every '?' is a placeholder.
std::string dollarParams(std::string sql) {
  std::replace(sql.begin(), sql.end(), '?', '$');
  return sql;
}

// The rollup, grouped by PostgreSQL: one result row per output row, with its window sums and
// (for the sparkline) its 24 hourly sums, so that only the answer crosses the network.
tl::expected<Table, std::string> queryPgRollup(sink::PgConnection& conn, const std::string& schema,
                                               const Query& q) {
  const Minutes window{floorDiv(q.since, kMinuteMs),
                       q.until == INT64_MAX ? INT64_MAX / kMinuteMs : ceilDiv(q.until, kMinuteMs)};
  const std::int64_t ref = q.until == INT64_MAX ? nowMillis() : q.until;
  const std::int64_t spark_hi = ceilDiv(ref, kHourMs) * 60;
  const Minutes spark{spark_hi - kSparkHours * 60, spark_hi};
  const Minutes scan =
      q.spark ? Minutes{std::min(window.lo, spark.lo), std::max(window.hi, spark.hi)} : window;
  auto column = [](std::string_view key) {
    return key == "host" ? std::string("host_id") : std::string(key);
  };
  // $1..$2 the window, $3..$4 the scan, then the filter's values, then (with the sparkline)
  // its first minute.
  const SqlCondition cond = whereToSql(q.where, column, 5);
  const std::string spark_param = fmt::format("${}::bigint", 5 + cond.params.size());
  std::string select, group;
  int n = 0;
  for (const auto& b : q.by) {
    if (isTimeUnit(b)) continue;
    select += column(b) + ", ";
    group += fmt::format("{}{}", n++ ? ", " : "", column(b));
  }
  for (const auto& b : q.by) {
    if (!isTimeUnit(b)) continue;
    select += fmt::format("minute / {}, ", minutesPer(b));
    group += fmt::format("{}minute / {}", n++ ? ", " : "", minutesPer(b));
  }
  const char* in_window = "minute >= $1::bigint AND minute < $2::bigint";
  std::string sql = fmt::format(
      "SELECT {0}coalesce(sum(lines) FILTER (WHERE {1}), 0)::bigint, "
      "coalesce(sum(bytes) FILTER (WHERE {1}), 0)::bigint, count(*) FILTER (WHERE {1})",
      select, in_window);
  if (q.spark) {
    for (int h = 0; h < kSparkHours; ++h) {
      sql += fmt::format(
          ", coalesce(sum(lines) FILTER (WHERE minute >= {0} + {1} AND minute < {0} + {2}), "
          "0)::bigint",
          spark_param, h * 60, (h + 1) * 60);
    }
  }
  sql += fmt::format(" FROM {}.stats_minute WHERE minute >= $3::bigint AND minute < $4::bigint",
                     schema);
  if (!cond.sql.empty()) sql += " AND " + dollarParams(cond.sql);
  if (!group.empty()) sql += " GROUP BY " + group;

  std::vector<std::string> params = {std::to_string(window.lo), std::to_string(window.hi),
                                     std::to_string(scan.lo), std::to_string(scan.hi)};
  params.insert(params.end(), cond.params.begin(), cond.params.end());
  if (q.spark) params.push_back(std::to_string(spark.lo));
  auto res = conn.query(sql, params);
  if (!res) return tl::unexpected(res.error().message);

  const int ntext = static_cast<int>(
      std::count_if(q.by.begin(), q.by.end(), [](const std::string& b) { return !isTimeUnit(b); }));
  const int ntime = static_cast<int>(q.by.size()) - ntext;
  std::unordered_map<std::string, Group> groups;
  for (int r = 0; r < res->rows(); ++r) {
    Group g;
    for (int c = 0; c < ntext; ++c) g.text.emplace_back(res->text(r, c));
    for (int c = ntext; c < ntext + ntime; ++c) g.buckets.push_back(res->int64(r, c));
    const int v = ntext + ntime;
    g.lines = res->int64(r, v);
    g.bytes = res->int64(r, v + 1);
    g.counted = res->int64(r, v + 2) > 0;
    if (q.spark) {
      for (int h = 0; h < kSparkHours; ++h) {
        g.hours[static_cast<std::size_t>(h)] = res->int64(r, v + 3 + h);
      }
    }
    groups.emplace(std::to_string(r), std::move(g));
  }
  return groupsTable(groups, q);
}

// Per-file questions from the shared events table. A file's source is on its checkpoint row
// (the newest one of its host and file id).
tl::expected<Table, std::string> queryPgEvents(sink::PgConnection& conn, const std::string& schema,
                                               const Query& q) {
  auto column = [](std::string_view key) -> std::string {
    if (key == "file") return "e.path";
    if (key == "source") return "coalesce(f.source, '')";
    if (key == "host") return "e.host_id";
    return fmt::format("coalesce(e.{}, '')", key);
  };
  const GroupSql g = groupSql(q, column);
  const SqlCondition cond = whereToSql(q.where, column, 3);
  std::string sql = fmt::format(
      "SELECT {0}count(*) AS lines, sum(coalesce(octet_length(e.raw), 0) + 1)::bigint AS bytes "
      "FROM {1}.events e LEFT JOIN (SELECT DISTINCT ON (host_id, file_id) host_id, file_id, "
      "source FROM {1}.sqtail_checkpoints ORDER BY host_id, file_id, last_seen DESC) f "
      "ON f.host_id = e.host_id AND f.file_id = e.file_id "
      "WHERE coalesce(e.ts, 0) >= $1::bigint AND coalesce(e.ts, 0) < $2::bigint{2}",
      g.select, schema, cond.sql.empty() ? "" : " AND " + dollarParams(cond.sql));
  sql = groupAndOrder(std::move(sql), q, g);
  std::vector<std::string> params = {std::to_string(q.since), std::to_string(q.until)};
  params.insert(params.end(), cond.params.begin(), cond.params.end());
  auto res = conn.query(sql, params);
  if (!res) return tl::unexpected(res.error().message);

  Table t = groupHeaders(q);
  const int nby = static_cast<int>(q.by.size());
  for (int r = 0; r < res->rows(); ++r) {
    std::vector<std::string> cells;
    std::vector<bool> nulls;
    for (int c = 0; c < nby; ++c) {
      const bool null = res->isNull(r, c);
      const auto& b = q.by[static_cast<std::size_t>(c)];
      cells.push_back(isTimeUnit(b) && !null ? formatBucket(b, res->int64(r, c))
                                             : std::string(res->text(r, c)));
      nulls.push_back(null);
    }
    for (int c = nby; c < nby + 2; ++c) {
      const auto v = res->int64(r, c);
      cells.push_back(q.pretty ? thousands(v) : std::to_string(v));
      nulls.push_back(false);
    }
    t.addRow(std::move(cells), std::move(nulls));
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
    if (b == "host" && o.pg.empty()) {
      fmt::print(stderr, "sqtail: --by host needs --pg (a SQLite stats DB holds one host)\n");
      return 2;
    }
    if (b != "level" && b != "category" && b != "source" && b != "file" && b != "host" &&
        !isTimeUnit(b)) {
      fmt::print(stderr,
                 "sqtail: --by {}: use level, category, source, file, host, minute, hour, day\n",
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

  if (!o.pg.empty()) {
    auto pg = sink::openPgForReports(o.pg, o.pg_schema);
    if (!pg) {
      fmt::print(stderr, "sqtail: {}\n", pg.error().message);
      return 1;
    }
    const std::string schema = pg->identifier(o.pg_schema);
    auto table = from_events ? queryPgEvents(*pg, schema, q) : queryPgRollup(*pg, schema, q);
    if (!table) {
      fmt::print(stderr, "sqtail: {}\n", table.error());
      return 1;
    }
    std::cout << render(*table, o.format);
    return 0;
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
  cmd->add_option("--by", o->stats.by, "level,category,source,file,host,minute,hour,day")
      ->delimiter(',');
  cmd->add_option("--pg", o->stats.pg,
                  "Report from this PostgreSQL database (libpq conninfo or URI), all hosts");
  cmd->add_option("--pg-schema", o->stats.pg_schema, "Its sqtail schema (default: sqtail)");
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
