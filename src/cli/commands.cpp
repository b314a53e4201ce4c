#include "cli/commands.hpp"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <optional>

#include <CLI/CLI.hpp>
#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/core.h>

#include "app/run.hpp"
#include "cli/table.hpp"
#include "config/config.hpp"
#include "parse/extractor.hpp"
#include "sink/sqlite/sqlite_sink.hpp"

namespace sqtail::cli {

namespace {

constexpr const char* kExamples = R"(Examples:
  sqtail run --db stats.db 'logs/**/*.jsonl'          tail forever (inotify), Ctrl-C to stop
  sqtail run --once --db stats.db 'logs/**/*.jsonl'   backfill to EOF, commit, exit
  sqtail run --config conf/sqtail.toml                sources and settings from a file
  sqtail files --db stats.db                          tracked files, offsets, lag
  sqtail stats --db stats.db --by level,category --since 1h
  sqtail query --db stats.db "SELECT level, count(*) FROM events GROUP BY 1"
)";

std::int64_t nowMillis() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// "15m" (ago), or an RFC 3339 timestamp, to epoch ms.
tl::expected<std::int64_t, std::string> parseWhen(const std::string& text) {
  if (auto ts = parse::parseRfc3339(text)) return *ts;
  if (auto d = config::parseDuration(text)) return nowMillis() - d->count();
  return tl::unexpected(fmt::format(
      "'{}' is neither a duration (15m, 24h, 7d) nor a timestamp (2026-11-22T10:00:00Z)", text));
}

// Opens the DB read-only, refusing a missing file rather than creating one.
std::optional<SQLite::Database> openReadOnly(const std::string& db) {
  struct stat st{};
  if (::stat(db.c_str(), &st) != 0) {
    fmt::print(stderr, "sqtail: no database at '{}' (run `sqtail run --db {} ...` first)\n", db, db);
    return std::nullopt;
  }
  try {
    SQLite::Database conn(db, SQLite::OPEN_READONLY);
    conn.setBusyTimeout(5000);
    return conn;
  } catch (const SQLite::Exception& e) {
    fmt::print(stderr, "sqtail: cannot open '{}': {}\n", db, e.what());
    return std::nullopt;
  }
}

void printTable(const Table& t, Format f) { std::cout << render(t, f); }

struct Denied {
  std::string what;
};

// Refuses everything but reading: writes, ATTACH, state-changing pragmas, extensions.
int readOnlyAuthorizer(void* ctx, int action, const char* a1, const char* a2, const char*,
                       const char*) {
  auto* denied = static_cast<Denied*>(ctx);
  switch (action) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_RECURSIVE:
      return SQLITE_OK;
    case SQLITE_FUNCTION:
      if (a2 != nullptr && std::string_view(a2) == "load_extension") {
        denied->what = "load_extension()";
        return SQLITE_DENY;
      }
      return SQLITE_OK;
    case SQLITE_PRAGMA: {
      static constexpr std::string_view kReadable[] = {
          "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
          "database_list", "user_version", "page_count", "page_size", "freelist_count",
          "compile_options", "foreign_key_list", "function_list", "pragma_list", "schema_version"};
      const std::string_view name = a1 != nullptr ? a1 : "";
      if (a2 == nullptr && std::find(std::begin(kReadable), std::end(kReadable), name) != std::end(kReadable)) {
        return SQLITE_OK;
      }
      denied->what = fmt::format("PRAGMA {}", name);
      return SQLITE_DENY;
    }
    case SQLITE_ATTACH:
      denied->what = "ATTACH";
      return SQLITE_DENY;
    default:
      denied->what = "writing (INSERT, UPDATE, DELETE, CREATE, DROP, ...)";
      return SQLITE_DENY;
  }
}

int cmdQuery(const std::string& db, const std::string& sql, Format format) {
  auto conn = openReadOnly(db);
  if (!conn) return 1;
  Denied denied;
  sqlite3_set_authorizer(conn->getHandle(), readOnlyAuthorizer, &denied);
  try {
    SQLite::Statement st(*conn, sql);
    Table t;
    const int cols = st.getColumnCount();
    for (int c = 0; c < cols; ++c) {
      t.headers.emplace_back(st.getColumnName(c));
      t.numeric.push_back(false);
    }
    while (st.executeStep()) {
      std::vector<std::string> cells;
      std::vector<bool> nulls;
      for (int c = 0; c < cols; ++c) {
        auto col = st.getColumn(c);
        if (col.isInteger() || col.isFloat()) t.numeric[static_cast<std::size_t>(c)] = true;
        nulls.push_back(col.isNull());
        if (col.isBlob()) {
          cells.push_back(fmt::format("<blob {} bytes>", col.getBytes()));
        } else {
          cells.emplace_back(col.isNull() ? "" : col.getString());
        }
      }
      t.addRow(std::move(cells), std::move(nulls));
    }
    printTable(t, format);
  } catch (const SQLite::Exception& e) {
    if (!denied.what.empty()) {
      fmt::print(stderr, "sqtail: query refused: sqtail query is read-only; {} is not allowed\n",
                 denied.what);
    } else {
      fmt::print(stderr, "sqtail: query failed: {}\n", e.what());
    }
    return 1;
  }
  return 0;
}

std::string isoMillis(std::int64_t ms) {
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int cmdFiles(const std::string& db, Format format) {
  auto conn = openReadOnly(db);
  if (!conn) return 1;
  struct Row {
    std::string path, source, state;
    std::int64_t size, offset, lag, lines, rejects, truncations;
    std::optional<std::int64_t> last_event;
  };
  std::vector<Row> rows;
  try {
    SQLite::Statement st(*conn,
                         "SELECT path, source, state, size, offset, lines, rejects, truncations, "
                         "last_event_ts, dev, inode FROM files");
    while (st.executeStep()) {
      Row r{st.getColumn(0).getString(), st.getColumn(1).getString(), st.getColumn(2).getString(),
            st.getColumn(3).getInt64(), st.getColumn(4).getInt64(), 0,
            st.getColumn(5).getInt64(), st.getColumn(6).getInt64(), st.getColumn(7).getInt64(),
            std::nullopt};
      if (!st.getColumn(8).isNull()) r.last_event = st.getColumn(8).getInt64();
      // Lag against the file as it is now, when the path still names the same file.
      struct stat now{};
      if (r.state == "active" && ::stat(r.path.c_str(), &now) == 0 &&
          static_cast<std::int64_t>(now.st_ino) == st.getColumn(10).getInt64()) {
        r.size = now.st_size;
      }
      r.lag = std::max<std::int64_t>(0, r.size - r.offset);
      rows.push_back(std::move(r));
    }
  } catch (const SQLite::Exception& e) {
    fmt::print(stderr, "sqtail: {}\n", e.what());
    return 1;
  }
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return a.lag != b.lag ? a.lag > b.lag : a.path < b.path;
  });
  Table t;
  t.headers = {"path", "source", "state", "size", "offset", "lag_bytes", "lines", "rejects",
               "truncations", "last_event"};
  t.numeric = {false, false, false, true, true, true, true, true, true, false};
  const bool pretty = format == Format::kTable;
  auto num = [&](std::int64_t v) { return pretty ? thousands(v) : std::to_string(v); };
  for (const auto& r : rows) {
    t.addRow({r.path, r.source, r.state, num(r.size), num(r.offset), num(r.lag), num(r.lines),
              num(r.rejects), num(r.truncations), r.last_event ? isoMillis(*r.last_event) : ""},
             {false, false, false, false, false, false, false, false, false, !r.last_event});
  }
  printTable(t, format);
  return 0;
}

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
  printTable(t, o.format);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sqtail: tails JSONL logs into a SQLite stats DB, exactly once."};
  app.footer(kExamples);
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("sqtail ") + SQTAIL_VERSION);

  // run
  auto* run = app.add_subcommand("run", "Tail files into the DB (until SIGINT/SIGTERM, or --once)");
  std::string config_path, db, flush, read_from, source_name = "default";
  std::vector<std::string> patterns, excludes;
  bool once = false, no_raw = false, progress = false, no_progress = false;
  run->add_option("patterns", patterns, "Globs of files to tail ('**' matches any depth)");
  run->add_option("-c,--config", config_path, "TOML config file (see conf/sqtail.toml)");
  run->add_option("--db", db, "SQLite database file (default: sqtail.db)");
  run->add_flag("--once", once, "Read every file to its end, commit, exit");
  run->add_option("--flush-interval", flush, "Commit at least this often (default 1s)");
  run->add_flag("--no-raw", no_raw, "Do not keep the whole line in events.raw");
  run->add_option("--exclude", excludes, "Globs to skip (a name without '/' matches file names)");
  run->add_option("--read-from", read_from, "head|tail: where files new to the DB start")
      ->check(CLI::IsMember({"head", "tail"}));
  run->add_option("--source-name", source_name, "Source name for the patterns given here");
  run->add_flag("--progress", progress, "Draw a progress line (default with --once on a terminal)");
  run->add_flag("--no-progress", no_progress, "Never draw a progress line");

  // files
  auto* files = app.add_subcommand("files", "Tracked files: state, offset, size, lag");
  std::string files_db = "sqtail.db", files_format = "table";
  files->add_option("--db", files_db, "SQLite database file");
  files->add_option("--format", files_format, "table|json|csv|tsv");

  // stats
  auto* stats = app.add_subcommand("stats", "Line and byte counts grouped by level, category, ...");
  StatsOptions so;
  so.db = "sqtail.db";
  std::string stats_format = "table";
  stats->add_option("--db", so.db, "SQLite database file");
  stats->add_option("--by", so.by, "level,category,source,file,minute,hour,day")->delimiter(',');
  stats->add_option("--since", so.since, "A duration ago (15m, 24h, 7d) or a timestamp");
  stats->add_option("--until", so.until, "A duration ago or a timestamp");
  stats->add_option("--format", stats_format, "table|json|csv|tsv");
  stats->add_option("--top", so.top, "At most this many rows");

  // query
  auto* query = app.add_subcommand("query", "Run one read-only SQL query");
  std::string query_db = "sqtail.db", sql, query_format = "table";
  query->add_option("sql", sql, "The SELECT to run")->required();
  query->add_option("--db", query_db, "SQLite database file");
  query->add_option("--format", query_format, "table|json|csv|tsv");

  auto* version = app.add_subcommand("version", "Print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  auto format = [](const std::string& f) -> std::optional<Format> {
    auto r = parseFormat(f);
    if (!r) {
      fmt::print(stderr, "sqtail: {}\n", r.error());
      return std::nullopt;
    }
    return *r;
  };

  if (version->parsed()) {
    fmt::print("sqtail {} (SQLite {}, schema {})\n", SQTAIL_VERSION, sqlite3_libversion(),
               sink::kSchemaVersion);
    return 0;
  }
  if (files->parsed()) {
    auto f = format(files_format);
    return f ? cmdFiles(files_db, *f) : 2;
  }
  if (stats->parsed()) {
    auto f = format(stats_format);
    if (!f) return 2;
    so.format = *f;
    return cmdStats(so);
  }
  if (query->parsed()) {
    auto f = format(query_format);
    return f ? cmdQuery(query_db, sql, *f) : 2;
  }

  // run: the file first, then the command line over it.
  config::Config cfg;
  if (!config_path.empty()) {
    auto loaded = config::loadFile(config_path);
    if (!loaded) {
      fmt::print(stderr, "sqtail: {}\n", loaded.error().message);
      return 2;
    }
    cfg = std::move(*loaded);
  }
  if (!db.empty()) cfg.db = db;
  if (!flush.empty()) {
    auto d = config::parseDuration(flush);
    if (!d || d->count() <= 0) {
      fmt::print(stderr, "sqtail: --flush-interval '{}': expected a duration like 1s or 250ms\n", flush);
      return 2;
    }
    cfg.flush_interval = *d;
  }
  if (no_raw) cfg.store_raw = false;
  if (!patterns.empty()) {
    config::Source src;
    src.name = source_name;
    src.paths = patterns;
    src.exclude = excludes;
    if (read_from == "tail") src.read_from = config::ReadFrom::kTail;
    cfg.sources.push_back(std::move(src));
  } else if (!excludes.empty() || !read_from.empty()) {
    for (auto& s : cfg.sources) {
      s.exclude.insert(s.exclude.end(), excludes.begin(), excludes.end());
      if (read_from == "tail") s.read_from = config::ReadFrom::kTail;
      if (read_from == "head") s.read_from = config::ReadFrom::kHead;
    }
  }
  app::RunOptions ro;
  ro.once = once;
  ro.progress = !no_progress && (progress || (once && isatty(STDERR_FILENO)));
  return app::run(cfg, ro);
}

}  // namespace sqtail::cli
