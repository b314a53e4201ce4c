// Retention on the real binary: old events (by their time) and events over max_events are
// deleted, rollups and usage stay, the file shrinks, and ingest keeps committing while a
// large backlog of old rows is deleted.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>

#include <fmt/core.h>

#include <gtest/gtest.h>

#include "harness.hpp"

namespace sqtail::test {
namespace {

constexpr std::int64_t kDayMs = 86'400'000;
constexpr std::int64_t kOldTs = 1'600'000'000'000;  // 2020-09-13: older than any retention

std::int64_t wallMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// n lines with epoch-ms times from `ts`, one second apart (old ones span many minutes).
std::string timed(const std::string& tag, int n, std::int64_t ts, std::int64_t step_ms = 1000) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    s += fmt::format(R"({{"ts":{},"level":"info","category":"{}","message":"{} {}"}})"
                     "\n",
                     ts + i * step_ms, tag, tag, i);
  }
  return s;
}

// A Claude Code transcript entry with usage, at an old time: its event expires, its usage
// row must not.
std::string usageLine(int i) {
  return fmt::format(
      R"({{"sessionId":"s-1","type":"assistant","message":{{"id":"msg_{0}","model":)"
      R"("claude-opus-4-1-20250805","usage":{{"input_tokens":100,"output_tokens":10}}}},)"
      R"("requestId":"req_{0}","timestamp":"2020-09-13T12:00:0{0}.000Z","costUSD":0.5}})"
      "\n",
      i);
}

std::string config(const std::string& retention) {
  return retention +
         "\nbatch_max_rows = 1000\n"
         "[[source]]\nname = \"app\"\npaths = [\"logs/*.jsonl\"]\n"
         "[[source]]\npreset = \"claude-code\"\nname = \"cc\"\npaths = [\"cc/**/*.jsonl\"]\n";
}

TEST(Retention, OldEventsGoRollupsUsageRecentAndUntimedStay) {
  TempDir dir;
  const std::int64_t now = wallMs();
  writeText(dir / "logs/app.jsonl", timed("old", 12'000, kOldTs) +
                                        timed("new", 500, now - 60'000, 10) +
                                        timed("old2", 2'000, kOldTs + kDayMs));
  std::string untimed;
  for (int i = 0; i < 50; ++i)
    untimed += fmt::format(R"({{"level":"info","message":"u {}"}})"
                           "\n",
                           i);
  appendText(dir / "logs/app.jsonl", untimed + "not json\nnot json either\n");
  std::string usage;
  for (int i = 0; i < 3; ++i) usage += usageLine(i);
  writeText(dir / "cc/proj/session.jsonl", usage);
  writeText(dir / "r.toml", config(R"(retention = "1d")"));
  ASSERT_EQ(runSqtail({"run", "--once", "--db", "s.db", "-c", "r.toml"}, dir.path()), 0);

  Db db(dir / "s.db");
  EXPECT_EQ(db.scalar(fmt::format("SELECT count(*) FROM events WHERE ts < {}", now - kDayMs)), 0);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events WHERE category = 'new'"), 500);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events WHERE ts IS NULL"), 50);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), 550);
  // Rejects are as young as their commit: kept.
  EXPECT_EQ(db.scalar("SELECT count(*) FROM rejects"), 2);
  // The rollup still counts every line, the old ones included; usage keeps its rows.
  EXPECT_EQ(db.scalar("SELECT sum(lines) FROM stats_minute"), 12'000 + 500 + 2'000 + 50 + 3);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM usage"), 3);
  // The freed pages went back to the file system.
  EXPECT_EQ(db.scalar("PRAGMA freelist_count"), 0);
  EXPECT_EQ(db.scalar("SELECT lines FROM files WHERE path LIKE '%app.jsonl'"), 14'550);
}

TEST(Retention, MaxEventsKeepsTheNewestAndRollupRetentionPrunesOldMinutes) {
  TempDir dir;
  const std::int64_t now = wallMs();
  writeText(dir / "logs/app.jsonl",
            timed("old", 5'000, kOldTs) + timed("new", 300, now - 60'000, 10));
  writeText(dir / "r.toml", config("max_events = 1000\nrollup_retention = \"1d\""));
  ASSERT_EQ(runSqtail({"run", "--once", "--db", "s.db", "-c", "r.toml"}, dir.path()), 0);

  Db db(dir / "s.db");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), 1000);
  EXPECT_EQ(db.scalar("SELECT min(line_no) FROM events"), 5'300 - 1'000 + 1);
  EXPECT_EQ(db.scalar("SELECT max(line_no) FROM events"), 5'300);
  // Old minutes left the rollup; the recent ones are whole.
  EXPECT_EQ(db.scalar(fmt::format("SELECT count(*) FROM stats_minute WHERE minute < {}",
                                  (now - kDayMs) / 60'000)),
            0);
  EXPECT_EQ(db.scalar("SELECT sum(lines) FROM stats_minute"), 300);
  EXPECT_EQ(db.scalar("PRAGMA freelist_count"), 0);
}

TEST(Retention, IngestKeepsCommittingWhileABacklogIsDeleted) {
  TempDir dir;
  constexpr int kOld = 300'000;
  writeText(dir / "logs/old.jsonl", timed("old", kOld, kOldTs));
  writeText(dir / "logs/live.jsonl", "");
  writeText(dir / "keep.toml", config(""));
  ASSERT_EQ(runSqtail({"run", "--once", "--db", "s.db", "-c", "keep.toml"}, dir.path(), 120s), 0);
  Db db(dir / "s.db");
  const std::int64_t last_old = db.scalar("SELECT max(id) FROM events");
  ASSERT_EQ(last_old, kOld);
  const std::int64_t pages_before = db.scalar("PRAGMA page_count");

  writeText(dir / "r.toml", config(R"(retention = "1d")"));
  auto p = Process::start({"run", "--db", "s.db", "-c", "r.toml", "--flush-interval", "50ms"},
                          dir.path(), dir.path());
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop; ++i) {
      appendText(dir / "logs/live.jsonl", timed("live", 1, wallMs()));
      std::this_thread::sleep_for(5ms);  // the pace of a live log, not a wait on sqtail
    }
  });

  // Watch both: what is left of the backlog, and the live file's committed line count.
  using Clock = std::chrono::steady_clock;
  std::int64_t live = 0, commits_while_deleting = 0;
  std::int64_t deleting_states = 0;  // distinct partial counts of the backlog seen
  std::int64_t last_left = kOld;
  Clock::time_point last_commit{};
  Clock::duration longest_gap{};
  const bool drained = waitFor(
      [&] {
        // Chunks go oldest id first, each whole: the smallest id tells what is left, and
        // costs the poller nothing (a count would scan the backlog on every poll).
        const std::int64_t first = db.scalar("SELECT min(id) FROM events");
        const std::int64_t left = first >= 1 && first <= last_old ? last_old - first + 1 : 0;
        const std::int64_t now_live =
            db.scalar("SELECT lines FROM files WHERE path LIKE '%live.jsonl'");
        const auto t = Clock::now();
        const bool deleting = left > 0 && left < kOld;
        if (left != last_left && deleting) ++deleting_states;
        last_left = left;
        if (now_live != live) {
          if (last_commit != Clock::time_point{})
            longest_gap = std::max(longest_gap, t - last_commit);
          last_commit = t;
          live = now_live;
          if (deleting) ++commits_while_deleting;
        }
        return left == 0;
      },
      120s);
  ASSERT_TRUE(drained) << p.stderrText();
  EXPECT_EQ(db.scalar(fmt::format("SELECT count(*) FROM events WHERE id <= {}", last_old)), 0);
  // Freed pages are handed back in steps too: the file shrinks to a fraction.
  EXPECT_TRUE(waitFor([&] { return db.scalar("PRAGMA freelist_count") == 0; }, 30s));
  stop = true;
  writer.join();
  const std::string live_text = readFile(dir / "logs/live.jsonl");
  const auto live_written =
      static_cast<std::int64_t>(std::count(live_text.begin(), live_text.end(), '\n'));
  ASSERT_TRUE(waitFor(
      [&] {
        return db.scalar("SELECT count(*) FROM events WHERE category = 'live'") == live_written;
      },
      30s));
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(30s), 0) << p.stderrText();

  // One long delete would jump from all to nothing: the backlog went in many small steps,
  // with live batches committed between them.
  EXPECT_GE(deleting_states, 5);
  EXPECT_GE(commits_while_deleting, 3);
  EXPECT_LT(longest_gap, 2s) << std::chrono::duration<double>(longest_gap).count();
  EXPECT_LT(db.scalar("PRAGMA page_count"), pages_before / 4);
  EXPECT_EQ(db.scalar("SELECT sum(lines) FROM stats_minute"), kOld + live_written);
  RecordProperty("commits_while_deleting", std::to_string(commits_while_deleting));
  RecordProperty(
      "longest_commit_gap_ms",
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(longest_gap).count()));
  std::cout << "commits while deleting: " << commits_while_deleting
            << ", backlog states seen: " << deleting_states << ", longest gap between commits: "
            << std::chrono::duration<double>(longest_gap).count() << " s\n";
}

}  // namespace
}  // namespace sqtail::test
