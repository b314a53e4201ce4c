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

}  // namespace
}  // namespace sqtail::test
