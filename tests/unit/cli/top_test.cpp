// `sqtail top`'s model: Prometheus text in, rates from two looks, a screen that fits the window.
#include "cli/top.hpp"

#include <algorithm>
#include <cmath>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>

namespace sqtail::cli::top {
namespace {

constexpr const char* kScrape1 = R"(# HELP sqtail_lines_read_total Complete lines read.
# TYPE sqtail_lines_read_total counter
sqtail_lines_read_total{source="app"} 100
sqtail_lines_read_total{source="web"} 0
sqtail_bytes_read_total{source="app"} 10000
sqtail_files_tracked{source="app"} 2
sqtail_rejects_total{reason="invalid_json"} 1
sqtail_records_committed_total{sink="sqlite"} 90
sqtail_batches_committed_total{sink="sqlite"} 9
sqtail_commit_failures_total{sink="sqlite"} 0
sqtail_commit_lag_seconds_bucket{sink="sqlite",le="+Inf"} 9
sqtail_commit_lag_seconds_sum{sink="sqlite"} 4.5
sqtail_commit_lag_seconds_count{sink="sqlite"} 9
sqtail_process_cpu_seconds_total 1.5
sqtail_buffered_bytes 2048
sqtail_buffer_cap_bytes 3.3554432e+07
sqtail_build_info{version="0.1.0"} 1
)";

constexpr const char* kScrape2 = R"(sqtail_lines_read_total{source="app"} 300
sqtail_lines_read_total{source="web"} 0
sqtail_bytes_read_total{source="app"} 30000
sqtail_files_tracked{source="app"} 2
sqtail_rejects_total{reason="invalid_json"} 5
sqtail_records_committed_total{sink="sqlite"} 290
sqtail_batches_committed_total{sink="sqlite"} 11
sqtail_commit_failures_total{sink="sqlite"} 3
sqtail_commit_lag_seconds_sum{sink="sqlite"} 5.5
sqtail_commit_lag_seconds_count{sink="sqlite"} 11
sqtail_process_cpu_seconds_total 2.5
)";

Snapshot scrape(const char* text, double at) {
  Snapshot s;
  s.at = at;
  s.origin = "http://127.0.0.1:9099";
  s.metrics = metricsFacts(parsePrometheus(text));
  return s;
}

// The line of `screen` that starts with `first` (a row's first cell), split into its cells.
std::vector<std::string> rowOf(const std::vector<Line>& screen, const std::string& first) {
  for (const Line& l : screen) {
    if (l.text.rfind(first + " ", 0) != 0) continue;
    std::vector<std::string> cells;
    // Cells are separated by two spaces or more; "10.0 KiB/s" is one cell.
    std::string rest = l.text;
    std::regex sep("  +");
    for (std::sregex_token_iterator it(rest.begin(), rest.end(), sep, -1), end; it != end; ++it) {
      std::string c = *it;
      if (!c.empty() && c.front() == ' ') c.erase(0, c.find_first_not_of(' '));
      if (!c.empty()) cells.push_back(c);
    }
    return cells;
  }
  return {};
}

std::string stripEscapes(const std::string& text) {
  return std::regex_replace(text, std::regex("\x1b\\[[0-9;?]*[A-Za-z]"), "\n");
}

TEST(TopPrometheus, ReadsNamesLabelsValuesAndEscapes) {
  const auto samples = parsePrometheus(
      "# HELP x y\n"
      "a_total 3\n"
      "b{k=\"v\\\"q\\\\\",le=\"+Inf\"} +Inf\n"
      "c{} 1e-06 1700000000000\r\n"
      "not a sample\n"
      "d{k=\"unterminated} 1\n"
      "e NaN\n");
  ASSERT_EQ(samples.size(), 4u);
  EXPECT_EQ(samples[0].name, "a_total");
  EXPECT_EQ(samples[0].value, 3);
  EXPECT_EQ(samples[1].label("k"), "v\"q\\");
  EXPECT_EQ(samples[1].label("le"), "+Inf");
  EXPECT_TRUE(std::isinf(samples[1].value));
  EXPECT_EQ(samples[2].name, "c");
  EXPECT_DOUBLE_EQ(samples[2].value, 1e-6);
  EXPECT_EQ(samples[3].name, "e");
  EXPECT_TRUE(std::isnan(samples[3].value));
  EXPECT_EQ(samples[0].label("nope"), "");
}

TEST(TopPrometheus, SumsFamiliesPerSourceAndSink) {
  const MetricsFacts f = metricsFacts(parsePrometheus(kScrape1));
  ASSERT_EQ(f.sources.size(), 2u);
  EXPECT_EQ(f.sources.at("app").lines, 100);
  EXPECT_EQ(f.sources.at("app").bytes, 10000);
  EXPECT_EQ(f.sources.at("app").files, 2);
  EXPECT_EQ(f.rejects.at("invalid_json"), 1);
  EXPECT_EQ(f.sinks.at("sqlite").records, 90);
  EXPECT_EQ(f.sinks.at("sqlite").lag_sum, 4.5);
  EXPECT_EQ(f.sinks.at("sqlite").lag_count, 9);  // not the _bucket line
  EXPECT_EQ(f.buffer_cap, 33554432);
  EXPECT_EQ(f.version, "0.1.0");
}

TEST(TopCompose, RatesComeFromTwoScrapes) {
  const Snapshot a = scrape(kScrape1, 10), b = scrape(kScrape2, 12);
  const auto first = compose(nullptr, a, {});
  EXPECT_EQ(rowOf(first, "app"), (std::vector<std::string>{"app", "2", "-", "-", "-", "-"}));

  const auto screen = compose(&a, b, {});
  EXPECT_EQ(rowOf(screen, "app"),
            (std::vector<std::string>{"app", "2", "100", "9.8 KiB/s", "-", "-"}));
  EXPECT_EQ(rowOf(screen, "web"), (std::vector<std::string>{"web", "0", "0", "0 B/s", "-", "-"}));
  // 200 records and 2 batches in 2 s; the two new batches waited 1 s together.
  EXPECT_EQ(rowOf(screen, "sqlite"),
            (std::vector<std::string>{"sqlite", "100", "1", "500ms", "-", "3"}));
  bool alert = false, rejects = false, cpu = false;
  for (const Line& l : screen) {
    if (l.text.rfind("sqlite", 0) == 0) alert = l.style == Line::Style::kAlert;
    if (l.text.find("invalid_json 5 (2/s)") != std::string::npos) rejects = true;
    if (l.text.find("cpu 50%") != std::string::npos) cpu = true;
  }
  EXPECT_TRUE(alert) << "new commit failures since the last look are shown as an alert";
  EXPECT_TRUE(rejects);
  EXPECT_TRUE(cpu);
}

TEST(TopCompose, ACounterThatWentBackMeansARestart) {
  const Snapshot a = scrape(kScrape2, 10), b = scrape(kScrape1, 11);
  EXPECT_EQ(rowOf(compose(&a, b, {}), "app")[2], "100");
}

TEST(TopCompose, TheDbAloneGivesLagRejectsAndTheBusiestFiles) {
  Snapshot a;
  a.at = 0;
  a.origin = "s.db";
  a.db.emplace();
  a.db->files[1] = {"/l/a.jsonl", "app", "active", 10, 1000, 0, 1};
  a.db->files[2] = {"/l/b.jsonl", "app", "active", 0, 1000, 500, 0};
  a.db->last_minute["app"] = {120, 6000};
  a.db->minute_window_seconds = 60;
  // No earlier look: the rollup of the last minute.
  auto first = compose(nullptr, a, {});
  EXPECT_EQ(rowOf(first, "app"),
            (std::vector<std::string>{"app", "2", "2", "100 B/s", "500 B", "1"}));
  EXPECT_EQ(rowOf(first, "sqlite")[1], "2");
  // The file furthest behind first while nothing moves.
  std::size_t a_at = 0, b_at = 0;
  for (std::size_t i = 0; i < first.size(); ++i) {
    if (first[i].text.rfind("/l/a.jsonl", 0) == 0) a_at = i;
    if (first[i].text.rfind("/l/b.jsonl", 0) == 0) b_at = i;
  }
  EXPECT_LT(b_at, a_at);

  // A second look: the committed offsets moved. b was truncated and read again from 0.
  Snapshot b = a;
  b.at = 2;
  b.db->files[1].lines = 50;
  b.db->files[1].offset = 5000;
  b.db->files[2].lines = 4;
  b.db->files[2].offset = 400;
  b.db->files[2].lag = 0;
  b.db->files[3] = {"/l/c.jsonl", "web", "active", 2, 200, 0, 0};
  const auto screen = compose(&a, b, {});
  EXPECT_EQ(rowOf(screen, "app"),
            (std::vector<std::string>{"app", "2", "22", "2.1 KiB/s", "0 B", "1"}));
  EXPECT_EQ(rowOf(screen, "web"),
            (std::vector<std::string>{"web", "1", "1", "100 B/s", "0 B", "0"}));
  EXPECT_EQ(rowOf(screen, "/l/a.jsonl"),
            (std::vector<std::string>{"/l/a.jsonl", "20", "2.0 KiB/s", "0 B"}));
  EXPECT_EQ(rowOf(screen, "/l/b.jsonl"),
            (std::vector<std::string>{"/l/b.jsonl", "2", "200 B/s", "0 B"}));
  EXPECT_EQ(rowOf(screen, "sqlite")[1], "23");
}

TEST(TopCompose, SaysWhatIsMissingInsteadOfShowingZeros) {
  Snapshot s;
  s.origin = "http://127.0.0.1:1";
  s.notes.push_back("endpoint http://127.0.0.1:1: Connection; showing the DB");
  s.notes.push_back("no database at 'sqtail.db' (--db names it)");
  const auto screen = compose(nullptr, s, {});
  ASSERT_EQ(screen.size(), 3u);
  EXPECT_EQ(screen[1].style, Line::Style::kAlert);
  EXPECT_NE(screen[2].text.find("no database"), std::string::npos);
}

TEST(TopRender, TheScreenFitsTheWindow) {
  Snapshot a = scrape(kScrape1, 0);
  a.db.emplace();
  for (int i = 0; i < 50; ++i) {
    a.db->files[i] = {"/very/long/path/to/some/service/logs/" + std::to_string(i) + ".jsonl",
                      "app",
                      "active",
                      1,
                      1,
                      1,
                      0};
  }
  ViewOptions o;
  o.max_files = 50;
  o.clock = "12:00:00";
  const auto screen = compose(nullptr, a, o);
  ASSERT_GT(screen.size(), 24u);
  for (const Line& l : screen) {
    EXPECT_LE(l.text.size(), 80u) << "'" << l.text << "' is wider than an 80-column terminal";
  }
  const std::string out = renderTerminal(screen, 40, 10);
  // Rows 1..10 are placed, and no row after them.
  EXPECT_NE(out.find("\x1b[10;1H"), std::string::npos);
  EXPECT_EQ(out.find("\x1b[11;1H"), std::string::npos);
  std::istringstream in(stripEscapes(out));
  for (std::string line; std::getline(in, line);) EXPECT_LE(line.size(), 40u) << line;
  EXPECT_NE(renderTerminal(screen, 40, 40).find("...ng/path/to/some/service/logs/"),
            std::string::npos)
      << "long paths keep their end";

  const std::string plain = renderPlain(screen);
  EXPECT_EQ(plain.find('\x1b'), std::string::npos);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), '\n'), static_cast<long>(screen.size()));
  const std::string cut = renderPlain(screen, 30, 5);
  EXPECT_EQ(std::count(cut.begin(), cut.end(), '\n'), 5);
}

TEST(TopRender, ShortScreensClearWhatIsBelowThem) {
  const std::string out = renderTerminal({{"a", Line::Style::kPlain}}, 80, 24);
  EXPECT_NE(out.find("\x1b[2;1H\x1b[J"), std::string::npos);
}

TEST(TopFormat, ColumnsCountCodePoints) {
  EXPECT_EQ(fitColumns("h\xc3\xa9llo", 2), "h\xc3\xa9");
  EXPECT_EQ(fitColumns("abc", 10), "abc");
  EXPECT_EQ(fitColumns("abc", 0), "");
  EXPECT_EQ(humanBytes(0), "0 B");
  EXPECT_EQ(humanBytes(1536, "/s"), "1.5 KiB/s");
  EXPECT_EQ(humanRate(0), "0");
  EXPECT_EQ(humanRate(0.5), "0.5");
  EXPECT_EQ(humanRate(3), "3");
  EXPECT_EQ(humanRate(12345.6), "12,346");
}

}  // namespace
}  // namespace sqtail::cli::top
