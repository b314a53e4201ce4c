// The metrics endpoint on the real binary: scraped counters match what was ingested, and
// /health turns degraded while the database is locked by another process, then ok again.
#include <signal.h>

#include <regex>

#include <fmt/core.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include "harness.hpp"

namespace sqtail::test {
namespace {

std::string lines(const std::string& tag, int from, int to) {
  std::string s;
  for (int i = from; i < to; ++i) s += jsonLine(tag, i);
  return s;
}

double sample(const std::string& text, const std::string& metric) {
  return metricSample(text, metric);
}

TEST(Http, MetricsMatchWhatWasIngestedAndHealthFollowsTheSink) {
  TempDir dir;
  writeText(dir / "c.toml",
            "db = \"s.db\"\nflush_interval = \"100ms\"\n[http]\n"
            "listen = \"127.0.0.1:0\"\n[[source]]\nname = \"s\"\n"
            "paths = [\"l/*.jsonl\"]\n");
  writeText(dir / "l/a.jsonl", lines("a", 0, 100) + "oops\n{]\n");
  auto p = Process::start({"run", "-c", "c.toml"}, dir.path(), dir.path());
  const int port = httpPort(p);
  ASSERT_NE(port, 0);
  httplib::Client http("127.0.0.1", port);
  Db db(dir / "s.db");
  ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == 100; }, 10s));

  std::string text;
  ASSERT_TRUE(waitFor(
      [&] {
        auto r = http.Get("/metrics");
        if (!r || r->status != 200) return false;
        text = "\n" + r->body;
        return sample(text, "sqtail_records_committed_total{sink=\"sqlite\"}") == 102;
      },
      10s))
      << text;
  EXPECT_EQ(sample(text, "sqtail_lines_read_total{source=\"s\"}"), 102);
  EXPECT_EQ(sample(text, "sqtail_rejects_total{reason=\"invalid_json\"}"), 2);
  EXPECT_EQ(sample(text, "sqtail_files_tracked{source=\"s\"}"), 1);
  EXPECT_GT(sample(text, "sqtail_process_resident_memory_bytes"), 0);
  EXPECT_GT(sample(text, "sqtail_db_size_bytes"), 0);
  auto health = http.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_NE(health->body.find("\"ok\""), std::string::npos);

  // Another process holds the write lock past the busy timeout: commits fail, nothing is lost.
  sqlite3* locker = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "s.db").c_str(), &locker), SQLITE_OK);
  sqlite3_busy_timeout(locker, 10000);  // sqtail may be mid-commit right now
  ASSERT_EQ(sqlite3_exec(locker, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  appendText(dir / "l/a.jsonl", lines("b", 0, 10));
  ASSERT_TRUE(waitFor(
      [&] {
        auto r = http.Get("/health?strict");
        return r && r->status == 503 && r->body.find("degraded") != std::string::npos;
      },
      20s));
  ASSERT_EQ(sqlite3_exec(locker, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(locker);
  ASSERT_TRUE(waitFor(
      [&] {
        auto r = http.Get("/health?strict");
        return r && r->status == 200;
      },
      20s));
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), 110);
  auto m = http.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_GE(sample("\n" + m->body, "sqtail_commit_failures_total{sink=\"sqlite\"}"), 1);
  EXPECT_EQ(http.Get("/nope")->status, 404);
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(5s), 0);
}

}  // namespace
}  // namespace sqtail::test
