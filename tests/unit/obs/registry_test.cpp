#include "obs/registry.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "text_format.hpp"

namespace sqtail::obs {
namespace {

constexpr std::string_view kSource[] = {"source"};
constexpr double kBounds[] = {1, 10};

constexpr MetricSpec kTable[] = {
    {MetricId{0}, "t_lines_total", MetricType::kCounter, "Lines.", kSource, kNoBuckets},
    {MetricId{1}, "t_files", MetricType::kGauge, "Files.", kNoLabels, kNoBuckets},
    {MetricId{2}, "t_rows", MetricType::kHistogram, "Rows.", kNoLabels, kBounds},
};

TEST(Registry, SameLabelValuesGiveTheSameChild) {
  Registry registry(kTable);
  const Counter a = registry.counter(MetricId{0}, {"app"});
  const Counter b = registry.counter(MetricId{0}, {"app"});
  const Counter other = registry.counter(MetricId{0}, {"db"});
  a.inc();
  b.add(2);
  other.inc();
  EXPECT_EQ(a.value(), 3u);
  EXPECT_EQ(other.value(), 1u);
  auto parsed = testing::parseText(registry.scrape());
  ASSERT_TRUE(parsed) << parsed.error();
  EXPECT_EQ(parsed->find("t_lines_total").size(), 2u);
}

TEST(Registry, GaugeGoesBothWays) {
  Registry registry(kTable);
  const Gauge g = registry.gauge(MetricId{1});
  g.inc();
  g.inc();
  g.dec();
  g.add(10.5);
  EXPECT_EQ(g.value(), 11.5);
  g.set(4);
  EXPECT_EQ(g.value(), 4);
}

TEST(Registry, TwoThreadsIncrementingLoseNothing) {
  Registry registry(kTable);
  constexpr int kPerThread = 1'000'000;
  const Counter shared = registry.counter(MetricId{0}, {"app"});
  const Gauge gauge = registry.gauge(MetricId{1});
  const Histogram rows = registry.histogram(MetricId{2});
  auto work = [&] {
    for (int i = 0; i < kPerThread; ++i) {
      shared.inc();
      if (i % 100 == 0) {
        gauge.inc();
        rows.observe(i % 3 == 0 ? 5 : 50);
      }
    }
  };
  std::thread one(work);
  std::thread two(work);
  // A third thread scrapes meanwhile: the text is valid at every instant.
  for (int i = 0; i < 20; ++i) {
    auto parsed = testing::parseText(registry.scrape());
    ASSERT_TRUE(parsed) << parsed.error();
  }
  one.join();
  two.join();
  EXPECT_EQ(shared.value(), 2u * kPerThread);
  EXPECT_EQ(gauge.value(), 2.0 * kPerThread / 100);
  auto parsed = testing::parseText(registry.scrape());
  ASSERT_TRUE(parsed) << parsed.error();
  EXPECT_EQ(parsed->find("t_rows_count")[0].value, 2.0 * kPerThread / 100);
  EXPECT_EQ(parsed->find("t_lines_total", {{"source", "app"}})[0].value, 2.0 * kPerThread);
}

TEST(Registry, ChildrenCreatedWhileScrapingAreSafe) {
  Registry registry(kTable);
  std::thread creator([&] {
    for (int i = 0; i < 500; ++i) registry.counter(MetricId{0}, {std::to_string(i)}).inc();
  });
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(testing::parseText(registry.scrape()));
  creator.join();
  auto parsed = testing::parseText(registry.scrape());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->find("t_lines_total").size(), 500u);
}

TEST(Registry, DefaultHandlesAreHarmless) {
  // What a module holds when it runs without a registry (its own unit tests).
  Counter c;
  Gauge g;
  Histogram h;
  c.inc();
  c.add(5);
  g.set(3);
  g.inc();
  h.observe(1);
  h.observe(NAN);
  SUCCEED();
}

TEST(Registry, CollectorsRunAtScrapeTime) {
  Registry registry(kTable);
  const Gauge files = registry.gauge(MetricId{1});
  int calls = 0;
  registry.addCollector([&] { files.set(++calls * 10); });
  EXPECT_EQ(calls, 0);
  auto parsed = testing::parseText(registry.scrape());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(parsed->find("t_files")[0].value, 10);
  registry.scrape();
  EXPECT_EQ(calls, 2);
}

TEST(RegistryDeathTest, WrongTypeOrLabelCountIsABug) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        Registry registry(kTable);
        registry.counter(MetricId{0});
      },
      "t_lines_total: has 1 labels, given 0 values");
  EXPECT_DEATH(
      {
        Registry registry(kTable);
        registry.gauge(MetricId{0}, {"app"});
      },
      "t_lines_total: is a counter, asked for as a gauge");
}

TEST(ProcessCollector, ReportsMemoryCpuAndVersion) {
  Registry registry;
  addProcessCollector(registry);
  // Burn a little CPU so that the counter has something to show.
  volatile double x = 0;
  for (int i = 0; i < 20'000'000; ++i) x = x + i;
  auto parsed = testing::parseText(registry.scrape());
  ASSERT_TRUE(parsed) << parsed.error();
  EXPECT_GT(parsed->find("sqtail_process_resident_memory_bytes")[0].value, 1 << 20);
  EXPECT_GT(parsed->find("sqtail_process_cpu_seconds_total")[0].value, 0);
  auto info = parsed->find("sqtail_build_info");
  ASSERT_EQ(info.size(), 1u);
  EXPECT_EQ(info[0].value, 1);
  EXPECT_FALSE(info[0].label("version").empty());
}

TEST(DatabaseCollector, ReportsFileSizesAndZeroForAMissingWal) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("sqtail_obs_db_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto db = dir / "stats.db";
  std::ofstream(db) << std::string(12345, 'x');
  Registry registry;
  addDatabaseCollector(registry, db);
  auto parsed = testing::parseText(registry.scrape());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->find("sqtail_db_size_bytes")[0].value, 12345);
  EXPECT_EQ(parsed->find("sqtail_db_wal_size_bytes")[0].value, 0);
  std::ofstream(dir / "stats.db-wal") << std::string(100, 'w');
  parsed = testing::parseText(registry.scrape());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->find("sqtail_db_wal_size_bytes")[0].value, 100);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sqtail::obs
