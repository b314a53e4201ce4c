#include <cmath>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "obs/registry.hpp"
#include "text_format.hpp"

namespace sqtail::obs {
namespace {

constexpr std::string_view kSinkReason[] = {"sink", "reason"};
constexpr std::string_view kPath[] = {"path"};
constexpr double kBounds[] = {0.5, 1, 2.5};

// A table of its own, so that the expected text stays short and exact.
constexpr MetricSpec kTable[] = {
    {MetricId{0}, "t_events_total", MetricType::kCounter, "Events seen.\nA \\ in help.",
     kSinkReason, kNoBuckets},
    {MetricId{1}, "t_temperature", MetricType::kGauge, "Temperature.", kNoLabels, kNoBuckets},
    {MetricId{2}, "t_latency_seconds", MetricType::kHistogram, "Latency.", kPath, kBounds},
    {MetricId{3}, "t_busy_seconds_total", MetricType::kCounter, "Busy time.", kNoLabels, kNoBuckets,
     1e-6},
    {MetricId{4}, "t_open_files", MetricType::kGauge, "Nothing yet.", kPath, kNoBuckets},
};

TEST(Exposition, ExactTextForEveryType) {
  Registry registry(kTable);
  registry.counter(MetricId{0}, {"sqlite", "bad_json"}).add(3);
  registry.counter(MetricId{0}, {"sqlite", "a\\b\"c\nd"}).inc();
  registry.gauge(MetricId{1}).set(-2.5);
  const Histogram h = registry.histogram(MetricId{2}, {"/var/log/x.jsonl"});
  h.observe(0.25);
  h.observe(0.5);  // le is inclusive: this is in the 0.5 bucket
  h.observe(2);
  h.observe(100);
  registry.counter(MetricId{3}).add(1'500'000);  // microseconds

  EXPECT_EQ(registry.scrape(),
            "# HELP t_events_total Events seen.\\nA \\\\ in help.\n"
            "# TYPE t_events_total counter\n"
            "t_events_total{sink=\"sqlite\",reason=\"bad_json\"} 3\n"
            "t_events_total{sink=\"sqlite\",reason=\"a\\\\b\\\"c\\nd\"} 1\n"
            "# HELP t_temperature Temperature.\n"
            "# TYPE t_temperature gauge\n"
            "t_temperature -2.5\n"
            "# HELP t_latency_seconds Latency.\n"
            "# TYPE t_latency_seconds histogram\n"
            "t_latency_seconds_bucket{path=\"/var/log/x.jsonl\",le=\"0.5\"} 2\n"
            "t_latency_seconds_bucket{path=\"/var/log/x.jsonl\",le=\"1\"} 2\n"
            "t_latency_seconds_bucket{path=\"/var/log/x.jsonl\",le=\"2.5\"} 3\n"
            "t_latency_seconds_bucket{path=\"/var/log/x.jsonl\",le=\"+Inf\"} 4\n"
            "t_latency_seconds_sum{path=\"/var/log/x.jsonl\"} 102.75\n"
            "t_latency_seconds_count{path=\"/var/log/x.jsonl\"} 4\n"
            "# HELP t_busy_seconds_total Busy time.\n"
            "# TYPE t_busy_seconds_total counter\n"
            "t_busy_seconds_total 1.5\n"
            "# HELP t_open_files Nothing yet.\n"
            "# TYPE t_open_files gauge\n");
}

TEST(Exposition, UnlabelledHistogramAndSpecialValues) {
  constexpr MetricSpec table[] = {
      {MetricId{0}, "u_rows", MetricType::kHistogram, "Rows.", kNoLabels, kBounds},
      {MetricId{1}, "u_ratio", MetricType::kGauge, "Ratio.", kNoLabels, kNoBuckets},
      {MetricId{2}, "u_big", MetricType::kGauge, "Big.", kNoLabels, kNoBuckets},
  };
  Registry registry(table);
  registry.gauge(MetricId{1}).set(NAN);
  registry.gauge(MetricId{2}).set(1234567890);
  EXPECT_EQ(registry.scrape(),
            "# HELP u_rows Rows.\n"
            "# TYPE u_rows histogram\n"
            "u_rows_bucket{le=\"0.5\"} 0\n"
            "u_rows_bucket{le=\"1\"} 0\n"
            "u_rows_bucket{le=\"2.5\"} 0\n"
            "u_rows_bucket{le=\"+Inf\"} 0\n"
            "u_rows_sum 0\n"
            "u_rows_count 0\n"
            "# HELP u_ratio Ratio.\n"
            "# TYPE u_ratio gauge\n"
            "u_ratio NaN\n"
            "# HELP u_big Big.\n"
            "# TYPE u_big gauge\n"
            "u_big 1234567890\n");
  registry.gauge(MetricId{1}).set(INFINITY);
  EXPECT_NE(registry.scrape().find("u_ratio +Inf\n"), std::string::npos);
  registry.gauge(MetricId{1}).set(-INFINITY);
  EXPECT_NE(registry.scrape().find("u_ratio -Inf\n"), std::string::npos);
}

TEST(Exposition, EscapesOnlyWhatTheFormatSays) {
  EXPECT_EQ(escapeLabelValue(R"(plain /path.jsonl)"), R"(plain /path.jsonl)");
  EXPECT_EQ(escapeLabelValue("a\\b"), "a\\\\b");
  EXPECT_EQ(escapeLabelValue("say \"hi\""), "say \\\"hi\\\"");
  EXPECT_EQ(escapeLabelValue("two\nlines"), "two\\nlines");
  EXPECT_EQ(escapeLabelValue("tab\tand ünïcode"), "tab\tand ünïcode");
  EXPECT_EQ(escapeHelp("a \"quote\" \\ and\nnewline"), "a \"quote\" \\\\ and\\nnewline");
}

TEST(Exposition, EscapedTextReadsBack) {
  Registry registry(kTable);
  const std::string nasty = "x\\\"\n\\n}{,=";
  registry.counter(MetricId{0}, {nasty, ""}).inc();
  auto parsed = testing::parseText(registry.scrape());
  ASSERT_TRUE(parsed) << parsed.error();
  auto found = parsed->find("t_events_total");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].label("sink"), nasty);
  EXPECT_EQ(found[0].label("reason"), "");
  EXPECT_EQ(parsed->helps.at("t_events_total"), "Events seen.\nA \\ in help.");
}

TEST(Exposition, TheRealTableScrapesAsValidText) {
  Registry registry;
  registry.counter(MetricId::kLinesRead, {"app"}).add(10);
  registry.histogram(MetricId::kCommitDuration, {"sqlite"}).observe(0.003);
  registry.gauge(MetricId::kBuildInfo, {"0.1.0"}).set(1);
  const std::string text = registry.scrape();
  auto parsed = testing::parseText(text);
  ASSERT_TRUE(parsed) << parsed.error() << "\n" << text;
  for (const MetricSpec& spec : kMetrics) {
    EXPECT_TRUE(parsed->types.contains(spec.name)) << spec.name;
    EXPECT_TRUE(parsed->helps.contains(spec.name)) << spec.name;
  }
  ASSERT_EQ(parsed->find("sqtail_lines_read_total", {{"source", "app"}}).size(), 1u);
  EXPECT_EQ(parsed->find("sqtail_lines_read_total", {{"source", "app"}})[0].value, 10);
  EXPECT_EQ(
      parsed
          ->find("sqtail_commit_duration_seconds_bucket", {{"sink", "sqlite"}, {"le", "0.0025"}})[0]
          .value,
      0);
  EXPECT_EQ(
      parsed
          ->find("sqtail_commit_duration_seconds_bucket", {{"sink", "sqlite"}, {"le", "0.005"}})[0]
          .value,
      1);
  // Unlabelled metrics exist from the start, at 0.
  ASSERT_EQ(parsed->find("sqtail_inotify_overflows_total").size(), 1u);
  EXPECT_EQ(parsed->find("sqtail_inotify_overflows_total")[0].value, 0);
}

TEST(MetricsMarkdown, OneRowPerMetricInTableOrder) {
  const std::string md = metricsMarkdown(kTable);
  EXPECT_EQ(md,
            "| Metric | Type | Labels | Description |\n"
            "| --- | --- | --- | --- |\n"
            "| `t_events_total` | counter | `sink`, `reason` | Events seen. A \\ in help. |\n"
            "| `t_temperature` | gauge |  | Temperature. |\n"
            "| `t_latency_seconds` | histogram | `path` | Latency. |\n"
            "| `t_busy_seconds_total` | counter |  | Busy time. |\n"
            "| `t_open_files` | gauge | `path` | Nothing yet. |\n");
  const std::string real = metricsMarkdown();
  for (const MetricSpec& spec : kMetrics) {
    EXPECT_NE(real.find(fmt::format("| `{}` |", spec.name)), std::string::npos) << spec.name;
  }
}

}  // namespace
}  // namespace sqtail::obs
