// The PostgreSQL sink against a real PostgreSQL (tests/pg/PgServer, one per suite): schema and
// migrations, all-or-nothing batches, outages, many hosts, usage upserts, COPY escaping. Skipped
// with the reason when PostgreSQL is not installed.
#include "sink/postgres/pg_sink.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <fmt/core.h>
#include <gtest/gtest.h>

#include "pg_server.hpp"
#include "sink/postgres/copy_text.hpp"
#include "sink/postgres/pg_schema.hpp"

namespace sqtail::sink {
namespace {

using testing::PgServer;
using namespace std::chrono_literals;

void routeToPostgres(EventRow& e) { e.sinks |= kToPostgres; }

// One simulated log file of one host.
struct SimFile {
  std::int64_t file_id = 1;
  std::string path = "/var/log/app/app.jsonl";
  std::uint64_t dev = 2049, inode = 1000;
  std::int64_t offset = 0, line_no = 0;
};

constexpr std::int64_t kBaseTs = 1'795'000'000'000;  // 2026-11-22

std::string w1Line(std::int64_t n, std::int64_t ts) {
  return fmt::format(
      R"({{"ts":{},"level":"info","category":"http","message":"GET /api/v1/items/{} completed with status 200 in {} ms","request_id":"e668461d{:08x}","duration_ms":12,"attrs":{{"region":"eu-west-1","tenant":"wonka","shard":31,"attempt":1}}}})",
      ts, n % 100000, n % 997, static_cast<unsigned>(n));
}

// `n` events appended to `f`, with their rollup and the file's checkpoint.
Batch makeBatch(SimFile& f, int n, const std::vector<std::string>& messages = {}) {
  Batch b;
  b.events.reserve(static_cast<std::size_t>(n));
  std::int64_t last_ts = 0;
  for (int i = 0; i < n; ++i) {
    const std::int64_t ts = kBaseTs + f.line_no * 10;
    const std::string raw = w1Line(f.line_no, ts);
    const std::string msg = messages.empty()
                                ? "GET /api/v1/items completed"
                                : messages[static_cast<std::size_t>(i) % messages.size()];
    EventRow e{f.file_id,     f.offset,      f.line_no + 1, ts,        true,
               b.put("info"), b.put("http"), b.put(msg),    b.put(raw)};
    routeToPostgres(e);
    b.events.push_back(e);
    f.offset += static_cast<std::int64_t>(raw.size()) + 1;
    f.line_no++;
    last_ts = ts;
  }
  if (n > 0) {
    b.rollups.push_back(RollupRow{kBaseTs / 60000, "app", "http", "info", n, f.offset});
  }
  b.files.push_back(FileCheckpoint{f.file_id, "app", f.path, f.dev, f.inode, 0, 0xfeedULL, 64, 7,
                                   64, f.offset, f.line_no, f.offset, "active", n, 0, 0, last_ts});
  return b;
}

UsageRow usageRow(Batch& b, std::string_view key, std::int64_t total, bool sidechain,
                  std::int64_t offset = 0) {
  return UsageRow{
      1, offset, kBaseTs, b.put(key), b.put("proj"), b.put("s1"),  b.put("opus"), total,
      0, 0,      0,       0,          total,         std::nullopt, 0.5,           sidechain};
}

class PgSinkTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto s = PgServer::launch();
    if (s) {
      server_ = std::move(*s).release();
    } else {
      skip_reason_ = new std::string(s.error());
    }
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete skip_reason_;
    skip_reason_ = nullptr;
  }

  void SetUp() override {
    if (server_ == nullptr) {
      GTEST_SKIP() << "no PostgreSQL to test against: " << *skip_reason_;
    }
    if (!server_->running()) {
      ASSERT_TRUE(server_->start()) << server_->logTail();
    }
    // One schema per test: the tests share the server, not their tables.
    schema_ = fmt::format("t_{}", ::testing::UnitTest::GetInstance()->current_test_info()->name());
    for (auto& c : schema_) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }

  PgSettings settings(const std::string& host = "host-a") const {
    return PgSettings{server_->conninfo(), host, schema_};
  }

  std::unique_ptr<PgSink> connect(const std::string& host = "host-a") {
    auto s = PgSink::connect(settings(host));
    EXPECT_TRUE(s) << (s ? "" : s.error().message);
    return s ? std::move(*s) : nullptr;
  }

  // A fresh connection per question: the test may have stopped the server in between.
  PgResult sql(const std::string& text) {
    auto c = PgConnection::open(server_->conninfo(), "sqtail-test");
    if (!c) {
      ADD_FAILURE() << c.error().message;
      return PgResult();
    }
    std::string q = text;
    for (std::size_t p; (p = q.find("{s}")) != std::string::npos;) q.replace(p, 3, schema_);
    auto r = c->exec(q);
    if (!r) {
      ADD_FAILURE() << r.error().message << " in: " << q;
      return PgResult();
    }
    return std::move(*r);
  }
  std::int64_t scalar(const std::string& text) {
    auto r = sql(text);
    return r.rows() > 0 ? r.int64(0, 0) : -1;
  }

  static PgServer* server_;
  static std::string* skip_reason_;
  std::string schema_;
};

PgServer* PgSinkTest::server_ = nullptr;
std::string* PgSinkTest::skip_reason_ = nullptr;

TEST_F(PgSinkTest, MigrationCreatesTablesAndIsIdempotent) {
  auto a = connect();
  ASSERT_TRUE(a);
  EXPECT_EQ(scalar("SELECT count(*) FROM information_schema.tables WHERE table_schema = '{s}' "
                   "AND table_name IN ('events', 'rejects', 'stats_minute', 'usage', "
                   "'sqtail_checkpoints', 'sqtail_hosts', 'sqtail_schema_version')"),
            7);
  EXPECT_EQ(scalar("SELECT version FROM {s}.sqtail_schema_version"), kPgSchemaVersion);
  a.reset();
  auto b = connect();  // again: nothing to do, nothing breaks
  ASSERT_TRUE(b);
  EXPECT_EQ(scalar("SELECT count(*) FROM {s}.sqtail_schema_version"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM {s}.sqtail_hosts"), 1);

  // A schema from a newer sqtail is refused, not "migrated".
  sql("UPDATE {s}.sqtail_schema_version SET version = 99");
  auto c = PgSink::connect(settings());
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("newer"), std::string::npos) << c.error().message;
  EXPECT_FALSE(c.error().transient());
}

TEST_F(PgSinkTest, HostsStartingTogetherMigrateOnce) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      if (PgSink::connect(settings(fmt::format("h{}", i)))) ok++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 4);
  EXPECT_EQ(scalar("SELECT version FROM {s}.sqtail_schema_version"), kPgSchemaVersion);
  EXPECT_EQ(scalar("SELECT count(*) FROM {s}.sqtail_hosts"), 4);
}

TEST_F(PgSinkTest, CommitStoresRowsAndCheckpointTogether) {
  auto sink = connect();
  ASSERT_TRUE(sink);
  SimFile f;
  ASSERT_TRUE(sink->commit(makeBatch(f, 100)));
  ASSERT_TRUE(sink->commit(makeBatch(f, 50)));
  EXPECT_EQ(scalar("SELECT count(*) FROM {s}.events WHERE host_id = 'host-a'"), 150);
  EXPECT_EQ(scalar("SELECT count(DISTINCT \"offset\") FROM {s}.events"), 150);
  EXPECT_EQ(scalar("SELECT sum(lines) FROM {s}.stats_minute"), 150);
  EXPECT_EQ(scalar("SELECT lines FROM {s}.sqtail_checkpoints"), 150);
  EXPECT_EQ(scalar("SELECT count(*) FROM {s}.events WHERE path = '/var/log/app/app.jsonl'"), 150);

  auto again = connect();
  auto cps = again->loadCheckpoints();
  ASSERT_TRUE(cps);
  ASSERT_EQ(cps->size(), 1u);
  EXPECT_EQ((*cps)[0].offset, f.offset);
  EXPECT_EQ((*cps)[0].line_no, 150);
  EXPECT_EQ((*cps)[0].inode, f.inode);
  EXPECT_EQ((*cps)[0].fingerprint, 0xfeedULL);
  EXPECT_EQ((*cps)[0].check_hash, 7u);
  EXPECT_EQ((*cps)[0].path, f.path);
  auto other = connect("host-b");
  ASSERT_TRUE(other->loadCheckpoints());
  EXPECT_TRUE(other->loadCheckpoints()->empty());
}

TEST_F(PgSinkTest, FailedStatementRollsBackTheWholeBatch) {
  auto sink = connect();
  ASSERT_TRUE(sink);
  SimFile f;
  ASSERT_TRUE(sink->commit(makeBatch(f, 10)));
  const std::int64_t committed = f.offset;
  // A constraint the batch's last part (the rejects COPY, after the events) violates.
  sql("ALTER TABLE {s}.rejects ADD CONSTRAINT no_poison CHECK (reason <> 'poison')");
  Batch bad = makeBatch(f, 20);
  bad.rejects.push_back(RejectRow{f.file_id, f.offset, f.line_no, "poison", 5, bad.put("xx")});
  auto r = sink->commit(bad);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().sqlstate, "23514") << r.error().message;
  EXPECT_FALSE(r.error().transient());
  EXPECT_EQ(scalar("SELECT count(*) FROM {s}.events"), 10);
  EXPECT_EQ(scalar("SELECT \"offset\" FROM {s}.sqtail_checkpoints"), committed);
  EXPECT_EQ(scalar("SELECT sum(lines) FROM {s}.stats_minute"), 10);
  EXPECT_EQ(scalar("SELECT count(*) FROM {s}.rejects"), 0);
  // The sink goes on with the next batch.
  EXPECT_TRUE(sink->connected());
  sql("ALTER TABLE {s}.rejects DROP CONSTRAINT no_poison");
  ASSERT_TRUE(sink->commit(bad));
  EXPECT_EQ(scalar("SELECT count(*) FROM {s}.events"), 30);
  EXPECT_EQ(scalar("SELECT \"offset\" FROM {s}.sqtail_checkpoints"), f.offset);
}

TEST_F(PgSinkTest, BackendKilledMidCommitLeavesNothingThenRetryStoresOnce) {
  auto sink = connect();
  ASSERT_TRUE(sink);
  SimFile f;
  ASSERT_TRUE(sink->commit(makeBatch(f, 10)));
  const std::int64_t committed = f.offset;
  const int pid = sink->backendPid();

  // Hold stats_minute so that the commit stops after COPYing its events, then kill it there.
  auto locker = PgConnection::open(server_->conninfo(), "sqtail-test");
  ASSERT_TRUE(locker);
  ASSERT_TRUE(locker->exec(
      fmt::format("BEGIN; LOCK TABLE {}.stats_minute IN ACCESS EXCLUSIVE MODE", schema_)));
  std::atomic<bool> killed{false};
  std::thread killer([&] {
    auto c = PgConnection::open(server_->conninfo(), "sqtail-test");
    if (!c) return;
    for (int i = 0; i < 1000 && !killed; ++i) {
      auto w = c->query(
          "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'",
          {std::to_string(pid)});
      if (w && w->int64(0, 0) == 1) {
        killed = c->query("SELECT pg_terminate_backend($1)", {std::to_string(pid)}).has_value();
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
  });
  Batch b = makeBatch(f, 500);
  auto r = sink->commit(b);
  killer.join();
  ASSERT_TRUE(locker->exec("ROLLBACK"));
  ASSERT_TRUE(killed);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().transient()) << r.error().sqlstate << " " << r.error().message;
  EXPECT_FALSE(sink->connected());
  EXPECT_EQ(scalar("SELECT count(*) FROM {s}.events"), 10);
  EXPECT_EQ(scalar("SELECT \"offset\" FROM {s}.sqtail_checkpoints"), committed);

  ASSERT_TRUE(sink->reconnect());
  ASSERT_TRUE(sink->commit(b));
  EXPECT_EQ(scalar("SELECT count(*) FROM {s}.events"), 510);
  EXPECT_EQ(scalar("SELECT count(DISTINCT \"offset\") FROM {s}.events"), 510);
  EXPECT_EQ(scalar("SELECT \"offset\" FROM {s}.sqtail_checkpoints"), f.offset);
  EXPECT_EQ(scalar("SELECT sum(lines) FROM {s}.stats_minute"), 510);
}

TEST_F(PgSinkTest, LostCommitReplyIsResolvedWithoutWritingTwice) {
  auto sink = connect();
  ASSERT_TRUE(sink);
  SimFile f;
  Batch b = makeBatch(f, 40);
  sink->loseNextCommitReplyForTest();
  auto r = sink->commit(b);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().transient());
  EXPECT_FALSE(sink->connected());
  EXPECT_EQ(scalar("SELECT count(*) FROM {s}.events"), 40);  // it did land
  ASSERT_TRUE(sink->reconnect());
  ASSERT_TRUE(sink->commit(b));  // the retry: answered from the host's commit sequence
  EXPECT_EQ(scalar("SELECT count(*) FROM {s}.events"), 40);
  EXPECT_EQ(scalar("SELECT lines FROM {s}.sqtail_checkpoints"), 40);
  ASSERT_TRUE(sink->commit(makeBatch(f, 5)));  // and the next batch is a new one
  EXPECT_EQ(scalar("SELECT count(*) FROM {s}.events"), 45);

  // A writer that drops the batch and re-reads the checkpoints instead: also once.
  Batch c = makeBatch(f, 7);
  sink->loseNextCommitReplyForTest();
  ASSERT_FALSE(sink->commit(c));
  ASSERT_TRUE(sink->reconnect());
  auto cps = sink->loadCheckpoints();
  ASSERT_TRUE(cps);
  EXPECT_EQ((*cps)[0].offset, f.offset);
  ASSERT_TRUE(sink->commit(makeBatch(f, 3)));
  EXPECT_EQ(scalar("SELECT count(*) FROM {s}.events"), 55);
}

TEST_F(PgSinkTest, OutageFailsTransientlyThenResumesWithoutDuplicates) {
  auto sink = connect();
  ASSERT_TRUE(sink);
  SimFile f;
  ASSERT_TRUE(sink->commit(makeBatch(f, 100)));
  ASSERT_TRUE(server_->stop());
  Batch b = makeBatch(f, 100);
  auto r = sink->commit(b);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().transient()) << r.error().sqlstate << " " << r.error().message;
  EXPECT_FALSE(sink->connected());
  auto down = sink->reconnect();
  ASSERT_FALSE(down);
  EXPECT_TRUE(down.error().transient()) << down.error().message;

  // The server comes back after a few seconds; the writer's loop retries with backoff.
  std::thread restarter([&] {
    std::this_thread::sleep_for(2s);
    (void)server_->start();
  });
  PgBackoff backoff(50ms, 400ms);
  int attempts = 0;
  while (!sink->reconnect() && attempts < 200) {
    ++attempts;
    std::this_thread::sleep_for(backoff.next());
  }
  restarter.join();
  ASSERT_TRUE(sink->connected());
  EXPECT_GT(attempts, 0);
  auto cps = sink->loadCheckpoints();
  ASSERT_TRUE(cps);
  EXPECT_EQ((*cps)[0].line_no, 100);  // where to resume: the batch did not land
  ASSERT_TRUE(sink->commit(b));
  EXPECT_EQ(scalar("SELECT count(*) FROM {s}.events"), 200);
  EXPECT_EQ(scalar("SELECT count(DISTINCT line_no) FROM {s}.events"), 200);

  // A crash of PostgreSQL itself (immediate shutdown, recovery on start) keeps what committed.
  ASSERT_TRUE(server_->crash());
  ASSERT_TRUE(server_->start());
  EXPECT_EQ(scalar("SELECT count(*) FROM {s}.events"), 200);
  EXPECT_EQ(scalar("SELECT line_no FROM {s}.sqtail_checkpoints"), 200);
  EXPECT_FALSE(sink->commit(makeBatch(f, 1)));  // its connection died with the server
  ASSERT_TRUE(sink->reconnect());
}

TEST_F(PgSinkTest, HostsCommittingConcurrentlyKeepTheirOwnCounts) {
  constexpr int kHosts = 3, kBatches = 20, kRows = 250;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int h = 0; h < kHosts; ++h) {
    threads.emplace_back([&, h] {
      auto s = PgSink::connect(settings(fmt::format("host-{}", h)));
      if (!s) {
        failures++;
        return;
      }
      SimFile f;  // the same file id, path and inode on every host
      for (int i = 0; i < kBatches; ++i) {
        if (!(*s)->commit(makeBatch(f, kRows + h))) failures++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto per_host = sql("SELECT host_id, count(*) FROM {s}.events GROUP BY host_id ORDER BY host_id");
  ASSERT_EQ(per_host.rows(), kHosts);
  for (int h = 0; h < kHosts; ++h) {
    EXPECT_EQ(per_host.text(h, 0), fmt::format("host-{}", h));
    EXPECT_EQ(per_host.int64(h, 1), kBatches * (kRows + h));
  }
  auto cps = sql("SELECT host_id, line_no, lines FROM {s}.sqtail_checkpoints ORDER BY host_id");
  ASSERT_EQ(cps.rows(), kHosts);
  for (int h = 0; h < kHosts; ++h) {
    EXPECT_EQ(cps.int64(h, 1), kBatches * (kRows + h));
    EXPECT_EQ(cps.int64(h, 2), kBatches * (kRows + h));
  }
  EXPECT_EQ(scalar("SELECT sum(lines) FROM {s}.stats_minute WHERE host_id = 'host-2'"),
            kBatches * (kRows + 2));
}

TEST_F(PgSinkTest, UsageUpsertKeepsTheLargerCopy) {
  auto sink = connect();
  ASSERT_TRUE(sink);
  SimFile f;
  auto commitUsage = [&](std::vector<std::tuple<std::string, std::int64_t, bool>> rows) {
    Batch b = makeBatch(f, 1);
    for (const auto& [key, total, side] : rows) b.usage.push_back(usageRow(b, key, total, side));
    return sink->commit(b);
  };
  auto total = [&](const std::string& key) {
    return scalar(fmt::format("SELECT total FROM {{s}}.usage WHERE dedup_key = '{}'", key));
  };
  ASSERT_TRUE(commitUsage({{"k1", 100, false}}));
  ASSERT_TRUE(commitUsage({{"k1", 50, false}}));
  EXPECT_EQ(total("k1"), 100);  // smaller copy: stays
  ASSERT_TRUE(commitUsage({{"k1", 500, true}}));
  EXPECT_EQ(total("k1"), 100);  // a sidechain copy never beats the main thread's
  ASSERT_TRUE(commitUsage({{"k1", 300, false}}));
  EXPECT_EQ(total("k1"), 300);  // larger copy: replaces
  ASSERT_TRUE(
      commitUsage({{"k2", 10, true}, {"k2", 30, true}, {"k2", 20, true}, {"k2", 5, false}}));
  EXPECT_EQ(total("k2"), 5);  // within one batch, the same rule
  EXPECT_EQ(scalar("SELECT count(*) FROM {s}.usage WHERE dedup_key = 'k2' AND NOT sidechain"), 1);
  ASSERT_TRUE(commitUsage({{"", 7, false}}));  // no dedup key: keyed by position
  EXPECT_EQ(scalar("SELECT count(*) FROM {s}.usage WHERE dedup_key LIKE 'pos:1:0:%'"), 1);
  // Dedup is per host: another host's copy is another row.
  auto other = connect("host-b");
  Batch b = makeBatch(f, 1);
  b.usage.push_back(usageRow(b, "k1", 1, false));
  ASSERT_TRUE(other->commit(b));
  EXPECT_EQ(scalar("SELECT count(*) FROM {s}.usage WHERE dedup_key = 'k1'"), 2);
  EXPECT_EQ(scalar("SELECT total FROM {s}.usage WHERE dedup_key = 'k1' AND host_id = 'host-a'"),
            300);
}

TEST_F(PgSinkTest, StatsMinuteAddsAcrossBatchesAndWithinOne) {
  auto sink = connect();
  ASSERT_TRUE(sink);
  SimFile f;
  Batch a = makeBatch(f, 3);
  a.rollups.push_back(a.rollups[0]);  // the same key twice in one batch
  ASSERT_TRUE(sink->commit(a));
  ASSERT_TRUE(sink->commit(makeBatch(f, 4)));
  EXPECT_EQ(scalar("SELECT count(*) FROM {s}.stats_minute"), 1);
  EXPECT_EQ(scalar("SELECT lines FROM {s}.stats_minute"), 3 + 3 + 4);
}

TEST_F(PgSinkTest, CopyEscapesEveryAwkwardByte) {
  auto sink = connect();
  ASSERT_TRUE(sink);
  const std::vector<std::string> messages = {"tab\there",
                                             "two\nlines",
                                             "cr\rlf\r\n",
                                             "back\\slash\\",
                                             "\\N",
                                             "\\.",
                                             "end of copy\n\\.\n",
                                             "unicode: héllo 日本語 🎉",
                                             "",
                                             "trailing\t",
                                             std::string("nul\0byte", 8)};
  SimFile f;
  Batch b = makeBatch(f, static_cast<int>(messages.size()), messages);
  b.events.back().level = Slice{};  // SQL NULL
  const std::string snippet("\0\xff\t\n\\x", 6);
  b.rejects.push_back(RejectRow{f.file_id, f.offset, f.line_no, "invalid_json", 6, b.put(snippet)});
  ASSERT_TRUE(sink->commit(b));
  auto rows = sql("SELECT message, level IS NULL FROM {s}.events ORDER BY line_no");
  ASSERT_EQ(rows.rows(), static_cast<int>(messages.size()));
  for (int i = 0; i + 1 < rows.rows(); ++i) {
    EXPECT_EQ(rows.text(i, 0), messages[static_cast<std::size_t>(i)]) << "row " << i;
    EXPECT_EQ(rows.text(i, 1), "f");
  }
  EXPECT_EQ(rows.text(rows.rows() - 1, 0),
            "nul\xef\xbf\xbd"
            "byte");  // U+FFFD
  EXPECT_EQ(rows.text(rows.rows() - 1, 1), "t");
  auto raw = sql("SELECT raw FROM {s}.events WHERE line_no = 1");
  EXPECT_EQ(raw.text(0, 0), w1Line(0, kBaseTs));
  auto rej = sql("SELECT encode(snippet, 'hex'), reason, path FROM {s}.rejects");
  ASSERT_EQ(rej.rows(), 1);
  EXPECT_EQ(rej.text(0, 0), "00ff090a5c78");
  EXPECT_EQ(rej.text(0, 1), "invalid_json");
  EXPECT_EQ(rej.text(0, 2), f.path);
}

TEST_F(PgSinkTest, UnroutedEventsStayOut) {
  auto sink = connect();
  ASSERT_TRUE(sink);
  SimFile f;
  Batch b = makeBatch(f, 10);
  for (std::size_t i = 0; i < b.events.size(); i += 2) b.events[i].sinks = kToSqlite;
  ASSERT_TRUE(sink->commit(b));
  EXPECT_EQ(scalar("SELECT count(*) FROM {s}.events"), 5);
  EXPECT_EQ(scalar("SELECT line_no FROM {s}.sqtail_checkpoints"), 10);
}

// `sqtail stats --pg` and `sqtail usage --pg`: the real binary ($SQTAIL_EXE, set by meson)
// reporting across hosts from the shared database.
TEST_F(PgSinkTest, StatsAndUsageReportAcrossHosts) {
  const char* exe = std::getenv("SQTAIL_EXE");
  if (exe == nullptr || *exe == '\0') GTEST_SKIP() << "SQTAIL_EXE is not set (run it from meson)";
  for (int h = 0; h < 2; ++h) {
    auto sink = connect(fmt::format("host-{}", h));
    ASSERT_TRUE(sink);
    SimFile f;
    f.path = fmt::format("/var/log/app/h{}.jsonl", h);
    Batch b = makeBatch(f, 10 * (h + 1));
    b.usage.push_back(usageRow(b, "k1", 100 * (h + 1), false));
    b.usage.push_back(usageRow(b, "k2", 1000, false));
    ASSERT_TRUE(sink->commit(b));
  }
  auto run = [&](const std::string& args, const char* format = "csv") {
    const std::string cmd = fmt::format("{} {} --pg '{}' --pg-schema {} --format {} 2>&1", exe,
                                        args, server_->conninfo(), schema_, format);
    std::string out;
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
      char buf[4096];
      for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
      ::pclose(p);
    }
    return out;
  };
  EXPECT_EQ(run("stats"), "lines,bytes\n30," +
                              std::to_string(scalar("SELECT sum(bytes) FROM {s}.stats_minute")) +
                              "\n");
  const std::string by_host = run("stats --by host,level");
  EXPECT_NE(by_host.find("host-1,info,20,"), std::string::npos) << by_host;
  EXPECT_NE(by_host.find("host-0,info,10,"), std::string::npos) << by_host;
  const std::string by_file = run("stats --by host,file --where source=app");
  EXPECT_NE(by_file.find("host-1,/var/log/app/h1.jsonl,20,"), std::string::npos) << by_file;
  const std::string by_day_stats = run("stats --by day");
  EXPECT_NE(by_day_stats.find("2026-11-18,30,"), std::string::npos) << by_day_stats;

  // The sparkline's last hour (the one holding --until) has every line of each host.
  const std::string spark =
      run("stats --by host --sparkline --until 2026-11-18T11:30:00Z", "table");
  EXPECT_NE(spark.find("host-1"), std::string::npos) << spark;
  EXPECT_NE(spark.find("█\n"), std::string::npos) << spark;
  EXPECT_EQ(spark.find("▁"), std::string::npos) << spark;

  const std::string usage = run("usage --by host --timezone UTC");
  EXPECT_NE(usage.find("host-1,1200,0,0,0,1200,1"), std::string::npos) << usage;
  EXPECT_NE(usage.find("host-0,1100,0,0,0,1100,1"), std::string::npos) << usage;
  const std::string by_day = run("usage --by day --timezone UTC");
  EXPECT_NE(by_day.find("2026-11-18,2300,0,0,0,2300,2"), std::string::npos) << by_day;
  EXPECT_NE(run("usage --by week --timezone UTC").find("2026-11-15,2300"), std::string::npos);

  // Without --pg there is one host: --by host is refused, not ignored.
  const std::string sqlite_host = fmt::format("{} stats --by host --db /nonexistent 2>&1", exe);
  std::string out;
  if (FILE* p = ::popen(sqlite_host.c_str(), "r")) {
    char buf[512];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    EXPECT_NE(::pclose(p), 0);
  }
  EXPECT_NE(out.find("--by host needs --pg"), std::string::npos) << out;
}

TEST(PgConninfo, PasswordNeverShows) {
  const std::string kv = redactConninfo("host=db.example port=5433 user=u password=hunter2");
  EXPECT_EQ(kv.find("hunter2"), std::string::npos) << kv;
  EXPECT_NE(kv.find("host='db.example'"), std::string::npos) << kv;
  EXPECT_NE(kv.find("port='5433'"), std::string::npos) << kv;
  const std::string uri = redactConninfo("postgresql://u:hunter2@db.example:5433/logs");
  EXPECT_EQ(uri.find("hunter2"), std::string::npos) << uri;
  EXPECT_NE(uri.find("dbname='logs'"), std::string::npos) << uri;
  EXPECT_EQ(redactConninfo("host='unterminated"), "(unparseable conninfo)");
  // A failed connection names the target, never the password.
  auto c = PgConnection::open("host=127.0.0.1 port=1 user=u password=hunter2 connect_timeout=2",
                              "sqtail-test");
  ASSERT_FALSE(c);
  EXPECT_TRUE(c.error().transient());
  EXPECT_EQ(c.error().message.find("hunter2"), std::string::npos) << c.error().message;
}

TEST(PgErrors, TransientCodes) {
  for (const char* code : {"08006", "08001", "57P01", "57P03", "40001", "40P01", "53100"}) {
    EXPECT_TRUE((PgError{code, ""}).transient()) << code;
  }
  for (const char* code : {"23505", "23514", "42501", "42P01", "22021", ""}) {
    EXPECT_FALSE((PgError{code, ""}).transient()) << code;
  }
}

TEST(PgBackoffTest, GrowsToItsCapWithJitter) {
  PgBackoff b(100ms, 1s);
  std::vector<std::chrono::milliseconds> d;
  for (int i = 0; i < 8; ++i) d.push_back(b.next());
  EXPECT_GE(d[0], 50ms);
  EXPECT_LE(d[0], 100ms);
  EXPECT_GE(d[3], 400ms);
  EXPECT_LE(d[3], 800ms);
  for (int i = 4; i < 8; ++i) {
    EXPECT_GE(d[static_cast<std::size_t>(i)], 500ms);
    EXPECT_LE(d[static_cast<std::size_t>(i)], 1s);
  }
  b.reset();
  EXPECT_LE(b.next(), 100ms);
}

TEST(CopyTextWriterTest, EncodesFieldsAndRows) {
  CopyTextWriter w;
  w.int64(-5);
  w.text("a\tb\\c\nd");
  w.null();
  w.bytea(std::string("\x01\xab", 2));
  w.boolean(true);
  w.float64(0.1);
  w.endRow();
  w.text("");
  w.endRow();
  EXPECT_EQ(w.buffer(), "-5\ta\\tb\\\\c\\nd\t\\N\t\\\\x01ab\tt\t0.1\n\n");
}

// CPU seconds a process has used (user + system), from /proc; 0 when unreadable.
double cpuSeconds(int pid) {
  std::FILE* f = std::fopen(fmt::format("/proc/{}/stat", pid).c_str(), "r");
  if (f == nullptr) return 0;
  char buf[1024] = {};
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  // Fields 14 and 15 (utime, stime) follow the ')' that ends the command name.
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr || n == 0) return 0;
  unsigned long long utime = 0, stime = 0;
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) !=
      2) {
    return 0;
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// Not a check: the figures for issue 7's benchmark (W1-like rows, ~250-byte raw line, 20,000-row
// batches into a local PostgreSQL with fsync on). Rows: $SQTAIL_PG_BENCH_ROWS (default 1M).
class PgSinkThroughput : public PgSinkTest {};

TEST_F(PgSinkThroughput, W1LikeRows) {
  const char* env = std::getenv("SQTAIL_PG_BENCH_ROWS");
  const int total = env != nullptr ? std::atoi(env) : 1'000'000;
  constexpr int kBatch = 20'000;
  auto sink = connect("bench");
  ASSERT_TRUE(sink);
  // Each batch is built before its commit; only the commits are timed.
  SimFile f;
  std::int64_t raw_bytes = 0;
  int batches = 0;
  std::chrono::duration<double> spent{};
  const double server_cpu0 = cpuSeconds(sink->backendPid());
  const double client_cpu0 = cpuSeconds(::getpid());
  for (int done = 0; done < total; done += kBatch) {
    const Batch b = makeBatch(f, std::min(kBatch, total - done));
    for (const auto& e : b.events) raw_bytes += e.raw.len;
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(sink->commit(b));
    spent += std::chrono::steady_clock::now() - t0;
    ++batches;
  }
  const double secs = spent.count();
  const double server_cpu = cpuSeconds(sink->backendPid()) - server_cpu0;
  const double client_cpu = cpuSeconds(::getpid()) - client_cpu0;
  const auto& c = sink->counters();
  EXPECT_EQ(scalar("SELECT count(*) FROM {s}.events"), total);
  fmt::print(
      "pg sink: {} rows in {} batches of {}: {:.2f} s, {:.0f} rows/s; COPY bytes/row {:.1f} "
      "(raw line {:.1f}); CPU per row: backend {:.2f} us, sqtail {:.2f} us (building "
      "batches included)\n",
      total, batches, kBatch, secs, total / secs, static_cast<double>(c.copy_bytes) / total,
      static_cast<double>(raw_bytes) / total, server_cpu * 1e6 / total, client_cpu * 1e6 / total);
}

}  // namespace
}  // namespace sqtail::sink
