// The real binary on real files and the real DB: backfill, live tailing, restarts, shutdown.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <fmt/core.h>

#include <gtest/gtest.h>

#include "harness.hpp"

namespace sqtail::test {
namespace {

std::string lines(const std::string& tag, int from, int to) {
  std::string s;
  for (int i = from; i < to; ++i) s += jsonLine(tag, i);
  return s;
}

TEST(Pipeline, BackfillOfSeveralFilesStoresEveryLineOnce) {
  TempDir dir;
  writeText(dir / "logs/a.jsonl", lines("a", 0, 1000));
  writeText(dir / "logs/sub/b.jsonl", lines("b", 0, 500));
  writeText(dir / "logs/sub/deeper/c.jsonl", lines("c", 0, 3));
  writeText(dir / "logs/ignored.txt", lines("x", 0, 10));
  ASSERT_EQ(runSqtail({"run", "--once", "--db", "stats.db", "logs/**/*.jsonl"}, dir.path()), 0);

  Db db(dir / "stats.db");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), 1503);
  EXPECT_EQ(db.scalar("SELECT count(DISTINCT file_id || ':' || offset) FROM events"), 1503);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM files"), 3);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM files WHERE offset = size"), 3);
  // Fields extracted, raw kept, line numbers and offsets exact.
  auto row = db.rows(
      "SELECT e.level, e.category, e.message, e.line_no, e.offset, e.ts, e.raw FROM events e "
      "JOIN files f ON f.id = e.file_id WHERE f.path LIKE '%/a.jsonl' AND e.line_no = 2");
  ASSERT_EQ(row.size(), 1u);
  EXPECT_EQ(row[0][0], "info");
  EXPECT_EQ(row[0][1], "engine");
  EXPECT_EQ(row[0][2], "a line 1");
  EXPECT_EQ(row[0][4], std::to_string(jsonLine("a", 0).size()));
  EXPECT_EQ(row[0][5], "1795341601001");  // 2026-11-22T10:00:01.001Z
  EXPECT_EQ(row[0][6] + "\n", jsonLine("a", 1));
  EXPECT_EQ(db.scalar("SELECT sum(lines) FROM stats_minute"), 1503);
}

TEST(Pipeline, MalformedLinesBecomeRejectsAndTheTailGoesOn) {
  TempDir dir;
  writeText(dir / "l/a.jsonl", jsonLine("a", 0) + "not json\n[1,2]\n{\"a\":1\n" +
                                   std::string("{\"a\":\"\xff\"}\n") + "\n" + jsonLine("a", 1));
  ASSERT_EQ(runSqtail({"run", "--once", "--db", "s.db", "l/*.jsonl"}, dir.path()), 0);
  Db db(dir / "s.db");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), 2);
  auto rejects = db.rows("SELECT reason, line_no FROM rejects ORDER BY offset");
  ASSERT_EQ(rejects.size(), 4u);
  EXPECT_EQ(rejects[0][0], "invalid_json");
  EXPECT_EQ(rejects[1][0], "not_object");
  EXPECT_EQ(rejects[2][0], "invalid_json");
  EXPECT_EQ(rejects[3][0], "invalid_utf8");
  EXPECT_EQ(rejects[3][1], "5");
  EXPECT_EQ(db.scalar("SELECT rejects FROM files"), 4);
  EXPECT_EQ(db.scalar("SELECT line_no FROM events ORDER BY offset DESC LIMIT 1"), 7);
}

TEST(Pipeline, AppendedLinesAppearWithinFlushIntervalWhileRunning) {
  TempDir dir;
  writeText(dir / "logs/a.jsonl", lines("a", 0, 10));
  auto p = Process::start({"run", "--db", "s.db", "--flush-interval", "300ms", "logs/*.jsonl"},
                          dir.path(), dir.path());
  Db db(dir / "s.db");
  ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == 10; }, 10s))
      << p.stderrText();
  for (int round = 0; round < 3; ++round) {
    appendText(dir / "logs/a.jsonl", lines("a", 10 + round * 5, 15 + round * 5));
    const auto appended = std::chrono::steady_clock::now();
    const int want = 15 + round * 5;
    ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == want; }, 10s));
    // The bound: flush_interval + 200 ms (here 300 + 200).
    EXPECT_LE(std::chrono::steady_clock::now() - appended, 500ms + 200ms);
  }
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(5s), 0);
}

// Voluntary context switches of all of a process's threads: about one per wake-up.
std::int64_t wakeups(pid_t pid) {
  std::int64_t total = 0;
  for (const auto& task : std::filesystem::directory_iterator(fmt::format("/proc/{}/task", pid))) {
    std::ifstream status(task.path() / "status");
    std::string key;
    while (status >> key) {
      std::int64_t n = 0;
      if (key == "voluntary_ctxt_switches:" && status >> n) total += n;
    }
  }
  return total;
}

TEST(Pipeline, ALineByLineWriterWakesSqtailPerWindowNotPerLine) {
  // Eight files each written one line per write(2), interleaved, so that the kernel cannot
  // merge their inotify events: sqtail must not wake for each of them.
  TempDir dir;
  constexpr int kFiles = 8, kRounds = 1000;
  std::vector<int> fds;
  for (int f = 0; f < kFiles; ++f) {
    const std::string path = dir / fmt::format("l/f{}.jsonl", f);
    writeText(path, "");
    fds.push_back(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
    ASSERT_GE(fds.back(), 0);
  }
  auto p = Process::start({"run", "--db", "s.db", "--flush-interval", "1s", "l/*.jsonl"},
                          dir.path(), dir.path());
  Db db(dir / "s.db");
  ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM files") == kFiles; }, 10s))
      << p.stderrText();
  const std::int64_t before = wakeups(p.pid());
  for (int i = 0; i < kRounds; ++i) {
    for (int f = 0; f < kFiles; ++f) {
      const std::string line = jsonLine(fmt::format("f{}", f), i);
      ASSERT_EQ(::write(fds[f], line.data(), line.size()), static_cast<ssize_t>(line.size()));
    }
    if (i % 4 == 3) std::this_thread::sleep_for(2ms);  // ~16,000 writes/s, for ~half a second
  }
  for (int fd : fds) ::close(fd);
  ASSERT_TRUE(
      waitFor([&] { return db.scalar("SELECT count(*) FROM events") == kFiles * kRounds; }, 20s))
      << p.stderrText();
  const std::int64_t woke = wakeups(p.pid()) - before;
  RecordProperty("wakeups", static_cast<int>(woke));
  // One wake-up a write would be 8,000; a read per 50 ms window and a commit a second are
  // a few dozen. The bound leaves room for a slow machine's longer run.
  EXPECT_LT(woke, kFiles * kRounds / 10)
      << "sqtail woke " << woke << " times for " << kFiles * kRounds << " writes";
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(5s), 0);
}

TEST(Pipeline, NewFileAndNewDirectoryArePickedUpWhileRunning) {
  TempDir dir;
  std::filesystem::create_directories(dir / "logs");
  auto p = Process::start({"run", "--db", "s.db", "--flush-interval", "100ms", "logs/**/*.jsonl"},
                          dir.path(), dir.path());
  Db db(dir / "s.db");
  ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM sqlite_master") > 0; }, 10s));
  appendText(dir / "logs/new.jsonl", lines("n", 0, 7));
  ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == 7; }, 10s))
      << p.stderrText();
  std::filesystem::create_directories(dir / "logs/2026-11-22/deep");
  appendText(dir / "logs/2026-11-22/deep/x.jsonl", lines("x", 0, 3));
  ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == 10; }, 10s))
      << p.stderrText();
  appendText(dir / "logs/other.log", lines("o", 0, 3));  // does not match
  appendText(dir / "logs/new.jsonl", lines("n", 7, 8));
  ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == 11; }, 10s));
  EXPECT_EQ(db.scalar("SELECT count(*) FROM files"), 2);
  p.signal(SIGINT);
  EXPECT_EQ(p.wait(5s), 0);
}

TEST(Pipeline, RestartResumesWithoutDuplicates) {
  TempDir dir;
  writeText(dir / "l/a.jsonl", lines("a", 0, 100));
  ASSERT_EQ(runSqtail({"run", "--once", "--db", "s.db", "l/*.jsonl"}, dir.path()), 0);
  appendText(dir / "l/a.jsonl", lines("a", 100, 150));
  writeText(dir / "l/b.jsonl", lines("b", 0, 20));
  ASSERT_EQ(runSqtail({"run", "--once", "--db", "s.db", "l/*.jsonl"}, dir.path()), 0);
  ASSERT_EQ(runSqtail({"run", "--once", "--db", "s.db", "l/*.jsonl"}, dir.path()), 0);
  Db db(dir / "s.db");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), 170);
  EXPECT_EQ(db.scalar("SELECT count(DISTINCT file_id || ':' || offset) FROM events"), 170);
  EXPECT_EQ(db.scalar("SELECT max(e.line_no) FROM events e JOIN files f ON f.id = e.file_id "
                      "WHERE f.path LIKE '%/a.jsonl'"),
            150);
}

TEST(Pipeline, PartialLineCompletedAcrossARestartIsStoredOnceWhole) {
  TempDir dir;
  const std::string full = jsonLine("p", 1);
  writeText(dir / "l/a.jsonl", jsonLine("p", 0) + full.substr(0, 20));
  ASSERT_EQ(runSqtail({"run", "--once", "--db", "s.db", "l/*.jsonl"}, dir.path()), 0);
  {
    Db db(dir / "s.db");
    EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), 1);
    EXPECT_EQ(db.scalar("SELECT offset FROM files"),
              static_cast<std::int64_t>(jsonLine("p", 0).size()));
  }
  appendText(dir / "l/a.jsonl", full.substr(20));
  ASSERT_EQ(runSqtail({"run", "--once", "--db", "s.db", "l/*.jsonl"}, dir.path()), 0);
  Db db(dir / "s.db");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), 2);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM rejects"), 0);
  auto raw = db.rows("SELECT raw FROM events WHERE line_no = 2");
  ASSERT_EQ(raw.size(), 1u);
  EXPECT_EQ(raw[0][0] + "\n", full);
}

TEST(Pipeline, SigtermCommitsWhatIsBufferedAndExitsZeroQuickly) {
  TempDir dir;
  writeText(dir / "l/a.jsonl", lines("a", 0, 5000));
  // A long flush interval: only the shutdown path can commit these lines in time.
  auto p = Process::start({"run", "--db", "s.db", "--flush-interval", "60s", "l/*.jsonl"},
                          dir.path(), dir.path());
  Db db(dir / "s.db");
  // Nothing is committed before the signal, so wait until the process has read the file.
  ASSERT_TRUE(waitFor([&] { return bytesReadBy(p.pid()) > fileSize(dir / "l/a.jsonl"); }, 10s));
  const auto sent = std::chrono::steady_clock::now();
  p.signal(SIGTERM);
  ASSERT_EQ(p.wait(5s), 0) << p.stderrText();
  EXPECT_LE(std::chrono::steady_clock::now() - sent, 2s);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), 5000);
}

TEST(Pipeline, ReadFromTailSkipsExistingContentOfNewFilesOnly) {
  TempDir dir;
  writeText(dir / "l/a.jsonl", lines("a", 0, 10));
  auto p = Process::start(
      {"run", "--db", "s.db", "--read-from", "tail", "--flush-interval", "100ms", "l/*.jsonl"},
      dir.path(), dir.path());
  Db db(dir / "s.db");
  ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM files") == 1; }, 10s));
  appendText(dir / "l/a.jsonl", lines("a", 10, 12));
  writeText(dir / "l/b.jsonl", lines("b", 0, 3));  // created while running: read from its head
  ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == 5; }, 10s))
      << p.stderrText();
  // Line numbers count from where sqtail started reading (README: read_from).
  EXPECT_EQ(db.scalar("SELECT min(e.offset) FROM events e JOIN files f ON f.id = e.file_id "
                      "WHERE f.path LIKE '%/a.jsonl'"),
            static_cast<std::int64_t>(lines("a", 0, 10).size()));
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(5s), 0);
}

}  // namespace
}  // namespace sqtail::test

namespace sqtail::test {
namespace {

std::int64_t rssKb(pid_t pid) {
  std::ifstream status(fmt::format("/proc/{}/status", pid));
  std::string key;
  while (status >> key) {
    std::int64_t kb = 0;
    if (key == "VmRSS:" && status >> kb) return kb;
  }
  return 0;
}

TEST(Pipeline, ABusyFileDoesNotStarveTheOthers) {
  TempDir dir;
  std::string big;
  for (int i = 0; i < 40000; ++i) big += jsonLine("big", i);
  writeText(dir / "l/a-big.jsonl", big);  // sorted first: it is read first
  writeText(dir / "l/b-small.jsonl", jsonLine("small", 0) + jsonLine("small", 1));
  writeText(dir / "c.toml",
            "read_chunk_bytes = \"4KiB\"\n[[source]]\nname = \"s\"\n"
            "paths = [\"l/*.jsonl\"]\n");
  ASSERT_EQ(runSqtail({"run", "--once", "--db", "s.db", "-c", "c.toml"}, dir.path()), 0);
  Db db(dir / "s.db");
  // Round-robin turns of 4 KiB: the small file is read after the big file's first turn,
  // not after its 40,000 lines.
  const auto small_last = db.scalar(
      "SELECT max(e.id) FROM events e JOIN files f ON f.id = e.file_id "
      "WHERE f.path LIKE '%b-small.jsonl'");
  EXPECT_GT(small_last, 0);
  EXPECT_LT(small_last, 200);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), 40002);
}

TEST(Pipeline, LockedDatabasePausesReadingWithinTheBufferAndResumesLosingNothing) {
  TempDir dir;
  writeText(dir / "c.toml",
            "max_buffer_bytes = \"4MiB\"\nbatch_max_bytes = \"1MiB\"\n"
            "flush_interval = \"100ms\"\n[[source]]\nname = \"s\"\n"
            "paths = [\"l/*.jsonl\"]\n");
  std::filesystem::create_directories(dir / "l");
  auto p = Process::start({"run", "--db", "s.db", "-c", "c.toml"}, dir.path(), dir.path());
  Db db(dir / "s.db");
  ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM sqlite_master") > 0; }, 10s));
  const auto rss_idle = rssKb(p.pid());

  // Another process holds the write lock, as a long-running writer would.
  sqlite3* locker = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "s.db").c_str(), &locker), SQLITE_OK);
  sqlite3_busy_timeout(locker, 10000);  // sqtail may be mid-commit right now
  ASSERT_EQ(sqlite3_exec(locker, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);

  // 60 MB of backlog: far more than the 4 MiB buffer.
  std::string chunk;
  for (int i = 0; i < 2000; ++i) chunk += jsonLine("locked", i);
  for (int i = 0; i < 250; ++i) appendText(dir / "l/a.jsonl", chunk);
  const auto total = fileSize(dir / "l/a.jsonl");
  // Reading stops at the buffer cap: the process reads a few MiB, then waits.
  ASSERT_TRUE(waitFor([&] { return bytesReadBy(p.pid()) > (256 << 10); }, 10s));
  std::int64_t max_rss = 0;
  for (int i = 0; i < 50; ++i) {
    max_rss = std::max(max_rss, rssKb(p.pid()));
    std::this_thread::sleep_for(20ms);  // sampling interval of the RSS probe
  }
  EXPECT_LT(bytesReadBy(p.pid()), total / 2) << "reading did not pause";
  EXPECT_LT(max_rss - rss_idle, 24 * 1024) << "RSS grew by more than the buffer allows";
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), 0);

  ASSERT_EQ(sqlite3_exec(locker, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(locker);
  ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == 500000; }, 120s))
      << p.stderrText();
  EXPECT_EQ(db.scalar("SELECT count(DISTINCT offset) FROM events"), 500000);
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(10s), 0);
}

}  // namespace
}  // namespace sqtail::test
