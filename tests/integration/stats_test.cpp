// `sqtail stats` on the real binary: a generated log set with known counts per source,
// level, category and time, queried with --by, --where, --since/--until, every --format and
// the sparkline column.
#include <algorithm>
#include <array>
#include <chrono>
#include <ctime>
#include <functional>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include <gtest/gtest.h>

#include "harness.hpp"

namespace sqtail::test {
namespace {

constexpr std::int64_t kHourMs = 3'600'000;

struct Line {
  std::string source, level, category;  // category "" is absent from the JSON
  std::int64_t ts;
  std::string text;  // the JSONL line with its newline
};

std::int64_t wallMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string iso(std::int64_t ms) {
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::vector<std::vector<std::string>> parseCsv(const std::string& text, char sep = ',') {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::string cell;
    std::istringstream l(line);
    while (std::getline(l, cell, sep)) cells.push_back(cell);
    if (!line.empty() && line.back() == sep) cells.emplace_back();
    rows.push_back(std::move(cells));
  }
  return rows;
}

class Stats : public ::testing::Test {
 protected:
  void SetUp() override {
    now_ = wallMs();
    // Known groups, each at a known age. The sources are two config sections.
    add("api", "error", "engine", 30, now_ - 10 * 60'000);
    add("api", "error", "engine", 3, now_ - 5 * kHourMs);
    add("api", "info", "engine", 20, now_ - 10 * 60'000);
    add("api", "warn", "db", 10, now_ - 3 * kHourMs);
    add("worker", "error", "engine", 5, now_ - 48 * kHourMs);
    add("worker", "info", "", 7, now_ - 10 * 60'000);
    add("worker", "debug", "db|pool,x", 4, now_ - 20 * 60'000);  // separators in a value
    for (const auto& source : {"api", "worker"}) {
      std::string text;
      for (const auto& l : lines_) {
        if (l.source == source) text += l.text;
      }
      writeText(dir_ / fmt::format("logs/{}/app.jsonl", source), text);
    }
    writeText(dir_ / "s.toml",
              "[[source]]\nname = \"api\"\npaths = [\"logs/api/*.jsonl\"]\n"
              "[[source]]\nname = \"worker\"\npaths = [\"logs/worker/*.jsonl\"]\n");
    ASSERT_EQ(runSqtail({"run", "--once", "--db", "s.db", "-c", "s.toml"}, dir_.path()), 0);
  }

  void add(const std::string& source, const std::string& level, const std::string& category, int n,
           std::int64_t ts) {
    for (int i = 0; i < n; ++i) {
      const std::int64_t t = ts + i;  // distinct, same minute
      std::string cat = category.empty() ? "" : fmt::format(R"("category":"{}",)", category);
      std::string text = fmt::format(R"({{"ts":{},"level":"{}",{}"message":"{} {}"}})"
                                     "\n",
                                     t, level, cat, source, i);
      lines_.push_back({source, level, category, t, std::move(text)});
    }
  }

  // Rows the test data predicts: key columns from `key`, then lines and bytes, busiest first.
  std::vector<std::vector<std::string>> expect(const std::function<std::string(const Line&)>& key,
                                               const std::function<bool(const Line&)>& keep) {
    std::map<std::string, std::pair<std::int64_t, std::int64_t>> groups;
    for (const auto& l : lines_) {
      if (!keep(l)) continue;
      auto& g = groups[key(l)];
      g.first += 1;
      g.second += static_cast<std::int64_t>(l.text.size());
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& [k, g] : groups) {
      // An empty key is the one total row of a query without --by.
      auto cells = k.empty() ? std::vector<std::string>{} : parseCsv(k)[0];
      cells.push_back(std::to_string(g.first));
      cells.push_back(std::to_string(g.second));
      rows.push_back(std::move(cells));
    }
    std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
      return std::stoll(a[a.size() - 2]) > std::stoll(b[b.size() - 2]);
    });
    return rows;
  }

  // Runs `sqtail stats --db s.db ARGS`; returns stdout, expecting exit code `want`.
  std::string stats(std::vector<std::string> args, int want = 0, std::string* err = nullptr) {
    args.insert(args.begin(), {"stats", "--db", "s.db"});
    auto p = Process::start(args, dir_.path(), dir_.path());
    EXPECT_EQ(p.wait(30s), want) << fmt::format("{}", fmt::join(args, " ")) << "\n"
                                 << p.stderrText();
    if (err != nullptr) *err = p.stderrText();
    return readFile(p.stdoutPath());
  }

  // CSV rows without the header, compared as a set where counts tie.
  std::vector<std::vector<std::string>> csv(std::vector<std::string> args) {
    args.insert(args.end(), {"--format", "csv"});
    auto rows = parseCsv(stats(args));
    EXPECT_FALSE(rows.empty());
    if (!rows.empty()) rows.erase(rows.begin());
    return rows;
  }

  static void expectSameRows(std::vector<std::vector<std::string>> got,
                             std::vector<std::vector<std::string>> want) {
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    EXPECT_EQ(got, want);
  }

  TempDir dir_;
  std::int64_t now_ = 0;
  std::vector<Line> lines_;
};

auto all = [](const Line&) { return true; };
auto byLevel = [](const Line& l) { return l.level; };

TEST_F(Stats, GroupedCountsMatchTheData) {
  expectSameRows(csv({"--by", "level"}), expect(byLevel, all));
  expectSameRows(csv({"--by", "source,level"}),
                 expect([](const Line& l) { return l.source + "," + l.level; }, all));
  // Busiest first: error has 38 lines, more than any other level.
  EXPECT_EQ(csv({"--by", "level"})[0][0], "error");
  // No --by: one total row.
  expectSameRows(csv({}), expect([](const Line&) { return std::string(); }, all));
  // --top keeps the busiest rows.
  auto top = csv({"--by", "level", "--top", "2"});
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0][0], "error");
  EXPECT_EQ(top[1][0], "info");
}

TEST_F(Stats, WhereFiltersWithBoundValues) {
  expectSameRows(
      csv({"--by", "source,level", "--where", "level=error,category=engine"}),
      expect([](const Line& l) { return l.source + "," + l.level; },
             [](const Line& l) { return l.level == "error" && l.category == "engine"; }));
  expectSameRows(csv({"--by", "level", "--where", "level!=info"}),
                 expect(byLevel, [](const Line& l) { return l.level != "info"; }));
  expectSameRows(
      csv({"--by", "level", "--where", "level=warn|info"}),
      expect(byLevel, [](const Line& l) { return l.level == "warn" || l.level == "info"; }));
  expectSameRows(
      csv({"--by", "level", "--where", "level!=warn|info"}),
      expect(byLevel, [](const Line& l) { return l.level != "warn" && l.level != "info"; }));
  // An empty value is an absent field; a value with escaped separators matches as written.
  expectSameRows(csv({"--by", "source", "--where", "category="}),
                 expect([](const Line& l) { return l.source; },
                        [](const Line& l) { return l.category.empty(); }));
  expectSameRows(csv({"--by", "level", "--where", R"(category=db\|pool\,x)"}),
                 expect(byLevel, [](const Line& l) { return l.category == "db|pool,x"; }));
  // Repeated --where options are ANDed.
  expectSameRows(
      csv({"--by", "level", "--where", "source=api", "--where", "level!=error"}),
      expect(byLevel, [](const Line& l) { return l.source == "api" && l.level != "error"; }));
  // `file` reads the events table, and combines with the rest.
  const std::string api_file = dir_ / "logs/api/app.jsonl";
  expectSameRows(csv({"--by", "file,level", "--where", "file=" + api_file + ",level=error"}),
                 expect([&](const Line& l) { return api_file + "," + l.level; },
                        [](const Line& l) { return l.source == "api" && l.level == "error"; }));
  // SQL in a value is only ever a value: nothing matches and the DB is untouched.
  EXPECT_TRUE(csv({"--by", "level", "--where", "category=x' OR 1 --"}).empty());
  EXPECT_TRUE(csv({"--by", "level", "--where", "level=error\"); DROP TABLE events; --"}).empty());
  Db db(dir_ / "s.db");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), static_cast<std::int64_t>(lines_.size()));
}

TEST_F(Stats, WhereRefusesUnknownKeysClearly) {
  std::string err;
  EXPECT_EQ(stats({"--where", "lvl=error"}, 2, &err), "");
  EXPECT_NE(err.find("--where: unknown key 'lvl': use level, category, source or file"),
            std::string::npos)
      << err;
  stats({"--where", "message=boom"}, 2, &err);
  EXPECT_NE(err.find("unknown key 'message'"), std::string::npos) << err;
  stats({"--where", "level"}, 2, &err);
  EXPECT_NE(err.find("has no '=' or '!='"), std::string::npos) << err;
}

TEST_F(Stats, SinceAndUntil) {
  expectSameRows(csv({"--by", "level", "--since", "1h"}),
                 expect(byLevel, [&](const Line& l) { return l.ts >= now_ - kHourMs; }));
  // Whole minutes at the edges; the groups are hours apart, so the edges fall between them.
  expectSameRows(csv({"--by", "source,level", "--since", "1d", "--until", "2h"}),
                 expect([](const Line& l) { return l.source + "," + l.level; },
                        [&](const Line& l) {
                          return l.ts >= now_ - 24 * kHourMs && l.ts < now_ - 2 * kHourMs;
                        }));
  expectSameRows(csv({"--by", "level", "--until", iso(now_ - 24 * kHourMs)}),
                 expect(byLevel, [&](const Line& l) { return l.ts < now_ - 24 * kHourMs; }));
  std::string err;
  stats({"--since", "yesterday"}, 2, &err);
  EXPECT_NE(err.find("neither a duration"), std::string::npos) << err;
}

TEST_F(Stats, TimeUnitsAreInTimeOrder) {
  auto rows = csv({"--by", "hour", "--since", "1d"});
  ASSERT_GE(rows.size(), 3u);
  EXPECT_TRUE(std::is_sorted(rows.begin(), rows.end()));
  std::int64_t total = 0;
  for (const auto& r : rows) total += std::stoll(r[1]);
  EXPECT_EQ(total, static_cast<std::int64_t>(
                       std::count_if(lines_.begin(), lines_.end(),
                                     [&](const Line& l) { return l.ts >= now_ - 24 * kHourMs; })));
}

TEST_F(Stats, JsonTsvAndTableFormats) {
  const std::string json = stats({"--by", "level", "--where", "level=warn", "--format", "json"});
  const auto warn = expect(byLevel, [](const Line& l) { return l.level == "warn"; });
  EXPECT_EQ(json, fmt::format("[\n {{\"level\": \"warn\", \"lines\": {}, \"bytes\": {}}}\n]\n",
                              warn[0][1], warn[0][2]));
  EXPECT_EQ(stats({"--by", "level", "--where", "level=nope", "--format", "json"}), "[]\n");
  const auto tsv = parseCsv(stats({"--by", "level", "--format", "tsv"}), '\t');
  ASSERT_FALSE(tsv.empty());
  EXPECT_EQ(tsv[0], (std::vector<std::string>{"level", "lines", "bytes"}));
  // A table is aligned, with thousands separators; stdout is a file here, so no sparkline.
  const std::string table = stats({"--by", "level", "--where", "level=error"});
  const auto error = expect(byLevel, [](const Line& l) { return l.level == "error"; });
  const std::int64_t bytes = std::stoll(error[0][2]);
  ASSERT_GE(bytes, 1000);  // so that the separator shows
  EXPECT_NE(table.find(fmt::format("{},{:03}", bytes / 1000, bytes % 1000)), std::string::npos)
      << table;
  EXPECT_EQ(table.find("last_24h"), std::string::npos) << table;
}

TEST_F(Stats, SparklineShowsTheLast24HoursPerRow) {
  // --until pins the window, so the test does not depend on the hour it runs in.
  const std::int64_t until = now_ + 60'000;
  const std::string table =
      stats({"--by", "level", "--sparkline", "--until", iso(until), "--where", "source=api"});
  const auto rows = parseCsv(table, '\n');
  ASSERT_GE(rows.size(), 2u) << table;
  EXPECT_NE(rows[0][0].find("last_24h"), std::string::npos) << table;
  // Bucket 23 is the hour holding --until; each row is scaled to its own busiest hour.
  const std::int64_t end_hour = (until / 1000 + 3599) / 3600;
  auto bucket = [&](std::int64_t ts) {
    return static_cast<int>(23 - (end_hour - 1 - ts / kHourMs));
  };
  std::map<std::string, std::array<std::int64_t, 24>> want;
  for (const auto& l : lines_) {
    if (l.source != "api" || l.ts < (end_hour - 24) * kHourMs) continue;
    want[l.level][static_cast<std::size_t>(bucket(l.ts))] += 1;
  }
  const char* bars[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  for (const auto& [level, hours] : want) {
    const std::int64_t max = *std::max_element(hours.begin(), hours.end());
    std::string spark;
    for (std::int64_t v : hours)
      spark += v == 0 ? std::string(" ") : bars[(v * 8 + max - 1) / max - 1];
    while (!spark.empty() && spark.back() == ' ') spark.pop_back();
    bool found = false;
    for (const auto& r : rows) {
      const std::string& line = r[0];
      if (line.rfind(level + " ", 0) == 0) {
        found = true;
        EXPECT_TRUE(line.size() >= spark.size() &&
                    line.compare(line.size() - spark.size(), spark.size(), spark) == 0)
            << "level " << level << ": want sparkline '" << spark << "' in\n"
            << table;
      }
    }
    EXPECT_TRUE(found) << level << "\n" << table;
  }
  // Error has 30 lines in one hour and 3 in another: the full and the lowest block.
  EXPECT_NE(table.find("▁"), std::string::npos) << table;
  EXPECT_NE(table.find("█"), std::string::npos) << table;

  // Not for machine formats, not per time unit, not from the events table.
  EXPECT_EQ(stats({"--by", "level", "--sparkline", "--format", "csv"}).find("last_24h"),
            std::string::npos);
  std::string err;
  EXPECT_EQ(stats({"--by", "hour", "--sparkline"}, 0, &err).find("last_24h"), std::string::npos);
  EXPECT_NE(err.find("no sparkline"), std::string::npos) << err;
  EXPECT_EQ(stats({"--by", "file", "--sparkline"}).find("last_24h"), std::string::npos);
  EXPECT_EQ(stats({"--by", "level", "--sparkline", "--no-sparkline"}, 2), "");
}

// stats_hour: the writer keeps it equal to stats_minute summed per hour, the migration fills
// it from an older DB, rollup_retention prunes it with its minutes, and `stats` reading whole
// hours from it and the edges from stats_minute answers exactly as stats_minute alone does.
class StatsHours : public Stats {
 protected:
  // 2026-01-10T00:00:00Z: fixed times, so that the windows' edges fall where the test says.
  static constexpr std::int64_t kBase = 1'768'003'200'000;

  void SetUp() override {
    // Two sources, three levels, four categories, a line every 37 s over 7 hours (hours 0-6
    // after kBase), in two runs so that the second one's upserts add to the first's.
    writeText(dir_ / "logs/api/app.jsonl", "");
    writeText(dir_ / "logs/worker/app.jsonl", "");
    const std::pair<std::int64_t, std::int64_t> runs[] = {{5'000, 3 * kHourMs},
                                                          {3 * kHourMs + 5'000, 7 * kHourMs}};
    for (const auto& [from, to] : runs) {
      std::string text[2];
      for (std::int64_t t = from; t < to; t += 37'000) {
        const int i = static_cast<int>(t / 37'000);
        const std::string source = i % 3 == 0 ? "worker" : "api";
        const char* levels[] = {"info", "warn", "error"};
        const char* categories[] = {"engine", "db", "http", ""};
        const std::string category = categories[(i / 2) % 4];
        std::string cat = category.empty() ? "" : fmt::format(R"("category":"{}",)", category);
        std::string line = fmt::format(R"({{"ts":{},"level":"{}",{}"message":"m {}"}})"
                                       "\n",
                                       kBase + t, levels[i % 3], cat, i);
        lines_.push_back({source, levels[i % 3], category, kBase + t, line});
        text[source == "api" ? 0 : 1] += line;
      }
      appendText(dir_ / "logs/api/app.jsonl", text[0]);
      appendText(dir_ / "logs/worker/app.jsonl", text[1]);
      writeText(dir_ / "s.toml",
                "batch_max_rows = 100\n"
                "[[source]]\nname = \"api\"\npaths = [\"logs/api/*.jsonl\"]\n"
                "[[source]]\nname = \"worker\"\npaths = [\"logs/worker/*.jsonl\"]\n");
      ASSERT_EQ(runSqtail({"run", "--once", "--db", "s.db", "-c", "s.toml"}, dir_.path()), 0);
    }
  }

  static std::string at(std::int64_t minutes, std::int64_t seconds = 0) {
    return iso(kBase + minutes * 60'000 + seconds * 1000);
  }

  // `stats --by BY,minute` summed over its minute column: the answer from stats_minute alone.
  std::vector<std::vector<std::string>> fromMinutes(const std::string& by,
                                                    std::vector<std::string> window) {
    std::vector<std::string> args{"--by", by.empty() ? "minute" : by + ",minute"};
    args.insert(args.end(), window.begin(), window.end());
    const auto rows = csv(args);
    const std::size_t minute_col =
        by.empty() ? 0 : static_cast<std::size_t>(std::count(by.begin(), by.end(), ',') + 1);
    std::map<std::vector<std::string>, std::pair<std::int64_t, std::int64_t>> sums;
    for (auto r : rows) {
      const std::int64_t lines = std::stoll(r[r.size() - 2]), bytes = std::stoll(r.back());
      r.resize(r.size() - 2);
      r.erase(r.begin() + static_cast<std::ptrdiff_t>(minute_col));
      sums[r].first += lines;
      sums[r].second += bytes;
    }
    if (by.empty() && sums.empty()) sums[{}] = {0, 0};  // the one total row, zero included
    std::vector<std::vector<std::string>> out;
    for (const auto& [key, v] : sums) {
      auto row = key;
      row.push_back(std::to_string(v.first));
      row.push_back(std::to_string(v.second));
      out.push_back(std::move(row));
    }
    return out;
  }
};

TEST_F(StatsHours, WriterKeepsHoursEqualToMinutesSummed) {
  Db db(dir_ / "s.db");
  const std::string by_hour =
      "SELECT minute / 60, source, category, level, sum(lines), sum(bytes) FROM stats_minute "
      "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4";
  const auto want = db.rows(by_hour);
  ASSERT_GE(want.size(), 7u * 2);
  EXPECT_EQ(db.rows("SELECT hour, source, category, level, lines, bytes FROM stats_hour "
                    "ORDER BY 1, 2, 3, 4"),
            want);
  EXPECT_EQ(db.scalar("SELECT sum(lines) FROM stats_hour"),
            static_cast<std::int64_t>(lines_.size()));
}

TEST_F(StatsHours, RaggedWindowsAnswerAsTheMinutesDo) {
  // [since, until) pairs (minutes and seconds after kBase; "" leaves the bound out): edges
  // inside hours, on hours, a second before and after one, both in one hour, one minute.
  const std::vector<std::pair<std::string, std::string>> windows = {
      {at(17, 45), at(4 * 60 + 42, 10)},
      {at(60), at(180)},
      {at(59, 59), at(300, 1)},
      {at(60), at(119, 59)},
      {at(130), at(170)},
      {at(90, 10), at(90, 50)},
      {at(213, 33), ""},
      {"", at(142, 22)},
      {"", ""},
      {at(-30), at(7 * 60 + 30)},
      {at(360), at(365)},
      {at(0), at(420)},
  };
  const std::vector<std::string> bys = {"",    "level",      "source,category",      "hour",
                                        "day", "level,hour", "category,source,level"};
  for (const auto& [since, until] : windows) {
    std::vector<std::string> window;
    if (!since.empty()) window.insert(window.end(), {"--since", since});
    if (!until.empty()) window.insert(window.end(), {"--until", until});
    for (const auto& by : bys) {
      std::vector<std::string> args = window;
      if (!by.empty()) args.insert(args.begin(), {"--by", by});
      const auto got = csv(args);
      SCOPED_TRACE(fmt::format("--by '{}' --since '{}' --until '{}'", by, since, until));
      expectSameRows(got, fromMinutes(by, window));
    }
  }
}

TEST_F(StatsHours, RaggedWindowsMatchTheLines) {
  auto minuteOf = [](std::int64_t ms) { return ms / 60'000; };
  // since/until in seconds after kBase.
  for (auto [since_s, until_s] : std::vector<std::pair<std::int64_t, std::int64_t>>{
           {17 * 60 + 45, 282 * 60 + 10}, {3600, 3 * 3600}, {3599, 5 * 3600 + 1}, {7800, 10200}}) {
    const std::int64_t since = kBase + since_s * 1000, until = kBase + until_s * 1000;
    SCOPED_TRACE(fmt::format("{} .. {}", iso(since), iso(until)));
    auto in = [&](const Line& l) {
      return minuteOf(l.ts) >= minuteOf(since) && minuteOf(l.ts) < (until + 59'999) / 60'000;
    };
    expectSameRows(csv({"--by", "level,source", "--since", iso(since), "--until", iso(until)}),
                   expect([](const Line& l) { return l.level + "," + l.source; }, in));
    expectSameRows(csv({"--since", iso(since), "--until", iso(until)}),
                   expect([](const Line&) { return std::string(); }, in));
  }
}

// Drops stats_hour and steps the schema back, as a DB from before it; returns "" or the error.
std::string makeOlderDb(const std::string& path) {
  sqlite3* db = nullptr;
  std::string error;
  if (sqlite3_open(path.c_str(), &db) == SQLITE_OK) {
    char* msg = nullptr;
    if (sqlite3_exec(db, "DROP TABLE stats_hour; PRAGMA user_version = 3;", nullptr, nullptr,
                     &msg) != SQLITE_OK) {
      error = msg != nullptr ? msg : "exec failed";
    }
    sqlite3_free(msg);
  } else {
    error = sqlite3_errmsg(db);
  }
  sqlite3_close(db);
  return error;
}

TEST_F(StatsHours, AnOlderDbAnswersFromMinutesAndItsMigrationFillsHours) {
  const auto before = csv({"--by", "source,level", "--since", at(17, 45), "--until", at(250, 5)});
  ASSERT_EQ(makeOlderDb(dir_ / "s.db"), "");
  // `stats` opens the DB read-only and never migrates it: minutes alone answer alike.
  expectSameRows(csv({"--by", "source,level", "--since", at(17, 45), "--until", at(250, 5)}),
                 before);
  // The next `run` migrates it, filling stats_hour from the minutes counted so far.
  ASSERT_EQ(runSqtail({"run", "--once", "--db", "s.db", "-c", "s.toml"}, dir_.path()), 0);
  Db db(dir_ / "s.db");
  EXPECT_EQ(db.scalar("PRAGMA user_version"), 4);
  EXPECT_EQ(db.rows("SELECT hour, source, category, level, lines, bytes FROM stats_hour "
                    "ORDER BY 1, 2, 3, 4"),
            db.rows("SELECT minute / 60, source, category, level, sum(lines), sum(bytes) "
                    "FROM stats_minute GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"));
  expectSameRows(csv({"--by", "source,level", "--since", at(17, 45), "--until", at(250, 5)}),
                 before);
}

TEST_F(StatsHours, RollupRetentionPrunesWholeHoursFromBoth) {
  // Everything in the DB is older than a day; lines from 30 minutes ago stay.
  const std::int64_t recent = wallMs() - 30 * 60'000;
  std::string text;
  for (int i = 0; i < 10; ++i) {
    text += fmt::format(R"({{"ts":{},"level":"info","message":"recent {}"}})"
                        "\n",
                        recent + i * 1000, i);
  }
  appendText(dir_ / "logs/api/app.jsonl", text);
  writeText(dir_ / "r.toml",
            "rollup_retention = \"1d\"\n"
            "[[source]]\nname = \"api\"\npaths = [\"logs/api/*.jsonl\"]\n"
            "[[source]]\nname = \"worker\"\npaths = [\"logs/worker/*.jsonl\"]\n");
  ASSERT_EQ(runSqtail({"run", "--once", "--db", "s.db", "-c", "r.toml"}, dir_.path()), 0);
  Db db(dir_ / "s.db");
  EXPECT_EQ(db.scalar("SELECT sum(lines) FROM stats_minute"), 10);
  EXPECT_EQ(db.scalar("SELECT sum(lines) FROM stats_hour"), 10);
  EXPECT_EQ(db.scalar(fmt::format("SELECT count(*) FROM stats_hour WHERE hour < {}",
                                  kBase / kHourMs + 24)),
            0);
}

}  // namespace
}  // namespace sqtail::test
