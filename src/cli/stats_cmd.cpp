#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <ctime>
#include <iostream>

#include <fmt/core.h>

#include "cli/command.hpp"
#include "cli/table.hpp"

namespace sqtail::cli {

namespace {

struct StatsOptions {
  std::string db;
  std::vector<std::string> by;
  std::string since, until;
  Format format = Format::kTable;
  int top = 0;
};

int cmdStats(const StatsOptions& o) {
  auto conn = openReadOnly(o.db);
  if (!conn) return 1;
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
  const bool by_file = std::find(o.by.begin(), o.by.end(), "file") != o.by.end();
  // Rollups answer everything but per-file questions; those need the events table.
  const std::string minute = by_file ? "(e.ts / 60000)" : "minute";
  std::vector<std::string> exprs;
  bool time_order = false;
  for (const auto& b : o.by) {
    if (b == "level" || b == "category") {
      exprs.push_back(by_file ? fmt::format("coalesce(e.{}, '')", b) : b);
    } else if (b == "source") {
      exprs.push_back(by_file ? "f.source" : "source");
    } else if (b == "file") {
      exprs.push_back("f.path");
    } else if (b == "minute" || b == "hour" || b == "day") {
      const char* fmt = b == "day" ? "%Y-%m-%d" : b == "hour" ? "%Y-%m-%d %H:00" : "%Y-%m-%d %H:%M";
      const int per = b == "day" ? 1440 : b == "hour" ? 60 : 1;
      exprs.push_back(fmt::format("strftime('{}', ({} / {}) * {} * 60, 'unixepoch')", fmt, minute,
                                  per, per));
      time_order = true;
    } else {
      fmt::print(stderr, "sqtail: --by {}: use level, category, source, file, minute, hour, day\n", b);
      return 2;
    }
  }
  std::string select, group;
  for (std::size_t i = 0; i < exprs.size(); ++i) {
    select += exprs[i] + " AS \"" + o.by[i] + "\", ";
    group += (i ? ", " : "") + std::to_string(i + 1);
  }
  std::string sql;
  if (by_file) {
    sql = fmt::format(
        "SELECT {}count(*) AS lines, sum(coalesce(length(e.raw), 0) + 1) AS bytes "
        "FROM events e JOIN files f ON f.id = e.file_id WHERE coalesce(e.ts, 0) >= ?1 AND "
        "coalesce(e.ts, 0) < ?2",
        select);
  } else {
    sql = fmt::format(
        "SELECT {}sum(lines) AS lines, sum(bytes) AS bytes FROM stats_minute "
        "WHERE minute >= ?1 / 60000 AND minute < (?2 + 59999) / 60000",
        select);
  }
  if (!group.empty()) sql += " GROUP BY " + group;
  sql += time_order ? " ORDER BY 1" : " ORDER BY lines DESC";
  if (o.top > 0) sql += " LIMIT " + std::to_string(o.top);

  Table t;
  for (const auto& b : o.by) {
    t.headers.push_back(b);
    t.numeric.push_back(false);
  }
  t.headers.insert(t.headers.end(), {"lines", "bytes"});
  t.numeric.insert(t.numeric.end(), {true, true});
  const bool pretty = o.format == Format::kTable;
  try {
    SQLite::Statement st(*conn, sql);
    st.bind(1, since);
    st.bind(2, until);
    while (st.executeStep()) {
      std::vector<std::string> cells;
      for (std::size_t c = 0; c < o.by.size(); ++c) cells.push_back(st.getColumn(static_cast<int>(c)).getString());
      for (std::size_t c = o.by.size(); c < o.by.size() + 2; ++c) {
        auto v = st.getColumn(static_cast<int>(c)).getInt64();
        cells.push_back(pretty ? thousands(v) : std::to_string(v));
      }
      t.addRow(std::move(cells));
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
  };
  auto o = std::make_shared<Opts>();
  o->stats.db = "sqtail.db";
  cmd->add_option("--db", o->stats.db, "SQLite database file");
  cmd->add_option("--by", o->stats.by, "level,category,source,file,minute,hour,day")->delimiter(',');
  cmd->add_option("--since", o->stats.since, "A duration ago (15m, 24h, 7d) or a timestamp");
  cmd->add_option("--until", o->stats.until, "A duration ago or a timestamp");
  cmd->add_option("--format", o->format, "table|json|csv|tsv");
  cmd->add_option("--top", o->stats.top, "At most this many rows");
  cmd->callback([&action, o] {
    action = [o] {
      auto f = parseFormat(o->format);
      if (!f) {
        fmt::print(stderr, "sqtail: {}\n", f.error());
        return 2;
      }
      o->stats.format = *f;
      return cmdStats(o->stats);
    };
  });
}

}  // namespace sqtail::cli
