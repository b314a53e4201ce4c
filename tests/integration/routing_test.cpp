// Routing on the real binary: records to category files and SQLite by [[route]], exactly once
// through kill -9, under a descriptor limit far below the number of output files, with a
// stalled file sink, and with errors committed long before flush_interval.
#include <signal.h>
#include <sys/resource.h>

#include <filesystem>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/core.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include "harness.hpp"

namespace sqtail::test {
namespace {

namespace fs = std::filesystem;

constexpr int kCategories = 48;
constexpr int kSources = 8;

std::string category(int i) { return fmt::format("cat{:02}", i % kCategories); }

// Source file f's line i: its category cycles, its text says where it came from.
std::string routedLine(int f, int i, const std::string& level = "info") {
  return fmt::format(
      R"({{"ts":"2026-11-22T10:00:00Z","level":"{}","category":"{}","message":"f{} i{}"}})"
      "\n",
      level, category(f * 7 + i), f, i);
}

// What each category file must hold: every line of that category, each source's lines in
// file order (sources may interleave), each exactly once.
std::map<std::string, std::multiset<std::string>> expectedByCategory(int lines_per_source) {
  std::map<std::string, std::multiset<std::string>> out;
  for (int f = 0; f < kSources; ++f) {
    for (int i = 0; i < lines_per_source; ++i) {
      std::string line = routedLine(f, i);
      line.pop_back();
      out[category(f * 7 + i)].insert(line);
    }
  }
  return out;
}

// Reads every category file of `dir` back; fails the test on a line seen out of its
// source's order.
std::map<std::string, std::multiset<std::string>> readCategoryFiles(const std::string& dir) {
  std::map<std::string, std::multiset<std::string>> out;
  if (!fs::exists(dir)) return out;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const std::string name = entry.path().stem().string();
    std::map<int, int> last;  // source -> last index seen
    std::istringstream in(readFile(entry.path().string()));
    std::string line;
    while (std::getline(in, line)) {
      out[name].insert(line);
      std::smatch m;
      if (std::regex_search(line, m, std::regex("\"f([0-9]+) i([0-9]+)\""))) {
        const int f = std::stoi(m[1]), i = std::stoi(m[2]);
        EXPECT_GT(i, last.count(f) ? last[f] : -1) << "out of order in " << entry.path();
        last[f] = i;
      }
    }
  }
  return out;
}

void writeSources(const TempDir& dir, int from, int to) {
  for (int f = 0; f < kSources; ++f) {
    std::string text;
    for (int i = from; i < to; ++i) text += routedLine(f, i);
    appendText(dir / fmt::format("l/src{}.jsonl", f), text);
  }
}

const char* kCategoryConfig =
    "db = \"s.db\"\nflush_interval = \"200ms\"\nbatch_max_rows = 500\n"
    "[http]\nlisten = \"127.0.0.1:0\"\n"
    "[[source]]\nname = \"s\"\npaths = [\"l/*.jsonl\"]\n"
    "[sink.files.cat]\ndir = \"out\"\npath = \"{date}/{category}.jsonl\"\n"
    "[[route]]\nname = \"all\"\nto = [\"files:cat\"]\n";

std::int64_t committedBytes(Db& db) {
  return db.scalar("SELECT coalesce(sum(offset), 0) FROM files");
}

std::int64_t sourceBytes(const TempDir& dir) {
  std::int64_t total = 0;
  for (int f = 0; f < kSources; ++f) total += fileSize(dir / fmt::format("l/src{}.jsonl", f));
  return total;
}

// Starts sqtail with RLIMIT_NOFILE lowered to `limit` for it alone.
Process startWithFdLimit(const std::vector<std::string>& args, const TempDir& dir, rlim_t limit) {
  rlimit old{};
  getrlimit(RLIMIT_NOFILE, &old);
  rlimit low = old;
  low.rlim_cur = limit;
  setrlimit(RLIMIT_NOFILE, &low);
  auto p = Process::start(args, dir.path(), dir.path());
  setrlimit(RLIMIT_NOFILE, &old);
  return p;
}

TEST(Routing, FortyEightCategoriesFromEightFilesUnderAThirtyTwoDescriptorLimit) {
  TempDir dir;
  writeText(dir / "c.toml", kCategoryConfig);
  constexpr int kLines = 3000;
  fs::create_directories(dir / "l");
  writeSources(dir, 0, kLines);
  auto p = startWithFdLimit({"run", "-c", "c.toml"}, dir, 32);
  const int port = httpPort(p);
  Db db(dir / "s.db");
  ASSERT_TRUE(waitFor([&] { return committedBytes(db) == sourceBytes(dir); }, 120s))
      << p.stderrText();
  httplib::Client http("127.0.0.1", port);
  std::string metrics;
  ASSERT_TRUE(waitFor(
      [&] {
        auto r = http.Get("/metrics");
        if (!r || r->status != 200) return false;
        metrics = r->body;
        return metricSample(metrics, "sqtail_output_lines_total{sink=\"files:cat\"}") ==
               kLines * kSources;
      },
      30s))
      << metrics;
  p.signal(SIGTERM);
  ASSERT_EQ(p.wait(30s), 0) << p.stderrText();

  EXPECT_EQ(readCategoryFiles(dir / "out"), expectedByCategory(kLines));
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), 0) << "no route sends events to sqlite";
  EXPECT_EQ(db.scalar("SELECT sum(lines) FROM stats_minute"), kLines * kSources)
      << "rollups count every line read";
  // 48 files to write with ~32 descriptors, most taken by sqtail itself: the pool evicted.
  const double evictions =
      metricSample(metrics, "sqtail_output_file_evictions_total{sink=\"files:cat\"}");
  const double emfile =
      metricSample(metrics, "sqtail_output_file_emfile_recoveries_total{sink=\"files:cat\"}");
  EXPECT_GT(evictions + emfile, 0) << metrics;
  EXPECT_EQ(metricSample(metrics, "sqtail_output_lines_total{sink=\"files:cat\"}"),
            kLines * kSources);
  EXPECT_EQ(metricSample(metrics, "sqtail_commit_failures_total{sink=\"sqlite\"}"), 0)
      << p.stderrText();
  EXPECT_EQ(p.stderrText().find("Too many open files"), std::string::npos) << p.stderrText();
}

TEST(Routing, KillNineDuringFileOutputStillWritesEachLineOnce) {
  TempDir dir;
  writeText(dir / "c.toml", kCategoryConfig);
  fs::create_directories(dir / "l");
  std::mt19937 rng(20261123);
  constexpr int kRounds = 8, kPerRound = 1500;
  for (int round = 0; round < kRounds; ++round) {
    writeSources(dir, round * kPerRound, (round + 1) * kPerRound);
    auto p = Process::start({"run", "-c", "c.toml"}, dir.path(), dir.path());
    // Killed while it writes: somewhere between its first commit and catching up.
    Db db(dir / "s.db");
    const auto before = committedBytes(db);
    waitFor([&] { return committedBytes(db) > before; }, 30s);
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 150));  // a random instant
    p.signal(SIGKILL);
    p.wait(10s);
  }
  // A crash between a file write and its commit, made certain: bytes past the committed end.
  std::string victim;
  for (const auto& e : fs::recursive_directory_iterator(dir / "out")) {
    if (e.is_regular_file()) victim = e.path().string();
  }
  ASSERT_FALSE(victim.empty());
  appendText(victim, "{\"torn\":\"a line no commit covers\"}\n{\"torn\":");

  auto p = Process::start({"run", "-c", "c.toml"}, dir.path(), dir.path());
  Db db(dir / "s.db");
  ASSERT_TRUE(waitFor([&] { return handlesSigterm(p.pid()); }, 20s));
  ASSERT_TRUE(waitFor([&] { return committedBytes(db) == sourceBytes(dir); }, 120s))
      << p.stderrText();
  p.signal(SIGTERM);
  ASSERT_EQ(p.wait(30s), 0) << p.stderrText();
  EXPECT_NE(p.stderrText().find("back to"), std::string::npos) << p.stderrText();
  EXPECT_EQ(readCategoryFiles(dir / "out"), expectedByCategory(kRounds * kPerRound));
}

TEST(Routing, ErrorsGoToSqliteAndTheirFileLongBeforeFlushInterval) {
  TempDir dir;
  // Info lines wait for the 60 s flush; an error is due within priority_flush (100 ms).
  writeText(dir / "c.toml",
            "db = \"s.db\"\nflush_interval = \"60s\"\n"
            "[[source]]\nname = \"s\"\npaths = [\"l/*.jsonl\"]\n"
            "[sink.files.errors]\ndir = \"out\"\npath = \"{level}.jsonl\"\n"
            "[[route]]\nname = \"errors\"\nmatch = { level = [\"error\", \"fatal\"] }\n"
            "to = [\"sqlite\", \"files:errors\"]\n");
  // A first error shows sqtail is up (an info line alone would wait the whole minute).
  writeText(dir / "l/a.jsonl", jsonLine("a", 0, "error"));
  auto p = Process::start({"run", "-c", "c.toml"}, dir.path(), dir.path());
  Db db(dir / "s.db");
  ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == 1; }, 20s))
      << p.stderrText();
  std::string infos;
  for (int i = 1; i < 51; ++i) infos += jsonLine("a", i);
  appendText(dir / "l/a.jsonl", infos);
  appendText(dir / "l/a.jsonl", jsonLine("a", 51, "error"));
  // Well within the 60 s flush_interval, or the priority did nothing.
  ASSERT_TRUE(waitFor(
      [&] { return db.scalar("SELECT count(*) FROM events WHERE level = 'error'") == 2; }, 20s))
      << p.stderrText();
  EXPECT_EQ(readFile(dir / "out/error.jsonl"),
            jsonLine("a", 0, "error") + jsonLine("a", 51, "error"));
  // The lines before it in the same file went with it: per-file order is kept.
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), 52);
  EXPECT_FALSE(fs::exists(dir / "out/info.jsonl")) << "info lines are not routed to the file";
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(30s), 0) << p.stderrText();
}

TEST(Routing, AStalledFileSinkHoldsMemoryAtTheCapAndLosesNothing) {
  TempDir dir;
  writeText(dir / "c.toml",
            "db = \"s.db\"\nflush_interval = \"100ms\"\nmax_buffer_bytes = \"2MiB\"\n"
            "max_line_bytes = \"64KiB\"\nread_chunk_bytes = \"64KiB\"\n"
            "batch_max_bytes = \"256KiB\"\n"
            "[http]\nlisten = \"127.0.0.1:0\"\n"
            "[[source]]\nname = \"s\"\npaths = [\"l/*.jsonl\"]\n"
            "[sink.files.cat]\ndir = \"out\"\npath = \"{date}/{category}.jsonl\"\n"
            "[[route]]\nto = [\"files:cat\", \"sqlite\"]\n");
  // The day's directory cannot be created: a file holds its name (chmod would not stop root).
  fs::create_directories(dir / "out");
  writeText(dir / "out/2026-11-22", "in the way\n");
  fs::create_directories(dir / "l");
  constexpr int kLines = 20000;  // ~2.6 MB per source: well over the 2 MiB cap
  writeSources(dir, 0, kLines);
  auto p = Process::start({"run", "-c", "c.toml"}, dir.path(), dir.path());
  const int port = httpPort(p);
  httplib::Client http("127.0.0.1", port);
  std::string metrics;
  ASSERT_TRUE(waitFor(
      [&] {
        auto r = http.Get("/metrics");
        if (!r) return false;
        metrics = r->body;
        return metricSample(metrics, "sqtail_commit_failures_total{sink=\"sqlite\"}") >= 3;
      },
      60s))
      << metrics << p.stderrText();
  // Reading paused at the cap: the files, not memory, hold the rest.
  EXPECT_LT(metricSample(metrics, "sqtail_lines_read_total{source=\"s\"}"), kLines * kSources / 4);
  EXPECT_LE(metricSample(metrics, "sqtail_buffered_bytes"), 2 * 1024 * 1024) << metrics;
  auto health = http.Get("/health?strict");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 503) << health->body;
  Db db(dir / "s.db");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), 0) << "nothing commits while a sink fails";

  fs::remove(dir / "out/2026-11-22");  // the fault clears
  ASSERT_TRUE(waitFor([&] { return committedBytes(db) == sourceBytes(dir); }, 120s))
      << p.stderrText();
  p.signal(SIGTERM);
  ASSERT_EQ(p.wait(30s), 0) << p.stderrText();
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), kLines * kSources);
  EXPECT_EQ(readCategoryFiles(dir / "out"), expectedByCategory(kLines));
}

TEST(Routing, CategoryFromAStackTraceRoutesErrorsByModule) {
  TempDir dir;
  writeText(dir / "c.toml",
            "db = \"s.db\"\nflush_interval = \"100ms\"\n[http]\nlisten = \"127.0.0.1:0\"\n"
            "[[source]]\nname = \"s\"\npaths = [\"l/*.jsonl\"]\n"
            "category_from_stack = \"/err/stack\"\n"
            "[sink.files.mod]\ndir = \"out\"\npath = \"{category}.jsonl\"\n"
            "[[route]]\nmatch = { level = \"error\" }\nto = [\"sqlite\", \"files:mod\"]\n");
  auto stack = [](const std::string& module) {
    return "Error: boom\\n    at handler (/app/node_modules/express/lib/router.js:10:3)\\n"
           "    at run (/app/src/" +
           module + ".js:42:7)\\n    at main (/app/src/main.js:1:1)";
  };
  std::string text;
  for (int i = 0; i < 300; ++i) {
    const std::string module = i % 3 == 0 ? "billing" : "engine";
    text += fmt::format(
        R"({{"ts":"2026-11-22T10:00:00Z","level":"error","msg":"m{}","err":{{"stack":"{}"}}}})"
        "\n",
        i, stack(module));
  }
  text += R"({"ts":"2026-11-22T10:00:00Z","level":"error","category":"given","msg":"x"})"
          "\n";
  writeText(dir / "l/a.jsonl", text);
  auto p = Process::start({"run", "-c", "c.toml"}, dir.path(), dir.path());
  const int port = httpPort(p);
  Db db(dir / "s.db");
  ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == 301; }, 30s))
      << p.stderrText();
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events WHERE category = 'billing'"), 100);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events WHERE category = 'engine'"), 200);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events WHERE category = 'given'"), 1)
      << "a category field wins over the stack";
  ASSERT_TRUE(waitFor([&] { return fileSize(dir / "out/billing.jsonl") > 0; }, 10s));
  httplib::Client http("127.0.0.1", port);
  auto r = http.Get("/metrics");
  ASSERT_TRUE(r && r->status == 200);
  // Two distinct stacks: two misses, the other 298 lines are hits.
  EXPECT_EQ(metricSample(r->body, "sqtail_stack_category_cache_misses_total{source=\"s\"}"), 2)
      << r->body;
  EXPECT_EQ(metricSample(r->body, "sqtail_stack_category_cache_hits_total{source=\"s\"}"), 298);
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(30s), 0) << p.stderrText();
  std::istringstream billing(readFile(dir / "out/billing.jsonl"));
  int lines = 0;
  for (std::string line; std::getline(billing, line);) ++lines;
  EXPECT_EQ(lines, 100);
}

TEST(Routing, CheckShowsWhereASampleLineGoes) {
  TempDir dir;
  writeText(dir / "c.toml",
            "db = \"s.db\"\n[[source]]\nname = \"s\"\npaths = [\"l/*.jsonl\"]\n"
            "[sink.files.errors]\ndir = \"out\"\npath = \"{date}/{/ctx/module}.jsonl\"\n"
            "[[route]]\nname = \"bots\"\nmatch = { \"/ctx/user\" = { regex = \"^bot-[0-9]+$\" } }\n"
            "to = [\"stdout\"]\ncontinue = true\n"
            "[[route]]\nname = \"errors\"\nmatch = { level = \"error\" }\n"
            "to = [\"sqlite\", \"files:errors\"]\n");
  const std::string line =
      R"({"ts":"2026-11-22T23:30:00Z","level":"ERROR","msg":"x","ctx":{"user":"bot-7","module":"../../etc"}})";
  auto check = Process::start({"check", "-c", "c.toml", "--line", line}, dir.path(), dir.path());
  ASSERT_EQ(check.wait(30s), 0) << check.stderrText();
  const std::string out = readFile(check.stdoutPath());
  EXPECT_NE(out.find("routes    bots, errors"), std::string::npos) << out;
  EXPECT_NE(out.find("to        sqlite"), std::string::npos) << out;
  EXPECT_NE(out.find("to        stdout"), std::string::npos) << out;
  // The hostile module name stays inside the sink's dir.
  EXPECT_NE(out.find("to        files:errors (out/2026-11-22/_._.._etc.jsonl)"), std::string::npos)
      << out;
  EXPECT_NE(out.find("priority  10"), std::string::npos) << out;

  writeText(dir / "bad.toml",
            "db = \"s.db\"\n[[source]]\nname = \"s\"\npaths = [\"l/*.jsonl\"]\n"
            "[[route]]\nmatch = { level = { regex = \"(unclosed\" } }\nto = [\"files:nope\"]\n");
  std::string err;
  EXPECT_EQ(runSqtail({"check", "-c", "bad.toml"}, dir.path(), 30s, &err), 2);
  EXPECT_NE(err.find("bad.toml:6: key 'route[0].match.level.regex': invalid regular expression"),
            std::string::npos)
      << err;
}

}  // namespace
}  // namespace sqtail::test
