// PostgreSQL as a destination of `sqtail run` (issue 7), on the real binary against a real
// PostgreSQL (tests/pg's PgServer, one per suite): exactly once across kill -9, an outage that
// the other sinks do not notice, and many hosts shipping into one database. Skipped with the
// reason when PostgreSQL is not installed.
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <fmt/core.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include "harness.hpp"
#include "pg_server.hpp"
#include "sink/postgres/pg_connection.hpp"

namespace sqtail::test {
namespace {

using sqtail::testing::PgServer;

// Appends whole lines, and sometimes half a line completed by the next write, to `files`
// files; remembers the offset of every complete line.
class Writers {
 public:
  Writers(const TempDir& dir, int files, std::uint64_t seed, int lines_per_step = 20)
      : rng_(seed), lines_per_step_(lines_per_step) {
    for (int i = 0; i < files; ++i) paths_.push_back(dir / fmt::format("logs/app-{}.jsonl", i));
    offsets_.resize(paths_.size());
    pending_.resize(paths_.size());
    sizes_.resize(paths_.size(), 0);
    std::filesystem::create_directories(dir / "logs");
  }
  ~Writers() {
    if (thread_.joinable()) finish();
  }

  void start(std::chrono::microseconds pace) {
    thread_ = std::thread([this, pace] {
      while (!stop_) {
        step();
        std::this_thread::sleep_for(pace);  // pacing the writer, not waiting for sqtail
      }
    });
  }
  // Stops writing and completes every half-written line.
  void finish() {
    stop_ = true;
    thread_.join();
    for (std::size_t f = 0; f < paths_.size(); ++f) {
      if (!pending_[f].empty()) write(f, pending_[f]), pending_[f].clear();
    }
  }
  std::int64_t written() const { return written_; }  // complete lines, once finish()ed
  const std::vector<std::string>& paths() const { return paths_; }
  // Per path, the offsets of its complete lines.
  std::map<std::string, std::vector<std::int64_t>> model() const {
    std::map<std::string, std::vector<std::int64_t>> m;
    for (std::size_t f = 0; f < paths_.size(); ++f) m[paths_[f]] = offsets_[f];
    return m;
  }

 private:
  void write(std::size_t f, const std::string& bytes) {
    appendText(paths_[f], bytes);
    sizes_[f] += static_cast<std::int64_t>(bytes.size());
  }
  void step() {
    const std::size_t f = rng_() % paths_.size();
    std::string out = std::move(pending_[f]);
    pending_[f].clear();
    const int n = 1 + static_cast<int>(rng_() % static_cast<std::uint64_t>(lines_per_step_));
    std::int64_t offset = sizes_[f] + static_cast<std::int64_t>(out.size());
    for (int i = 0; i < n; ++i) {
      const std::string line =
          jsonLine(fmt::format("f{}", f), seq_++, rng_() % 10 == 0 ? "error" : "info");
      offsets_[f].push_back(offset);
      offset += static_cast<std::int64_t>(line.size());
      out += line;
      ++written_;
    }
    if (rng_() % 3 == 0) {  // the last line in two writes: never shipped half
      const std::size_t cut = out.size() - 1 - rng_() % 40;
      pending_[f] = out.substr(cut);
      out.resize(cut);
    }
    write(f, out);
  }

  std::mt19937_64 rng_;
  int lines_per_step_;
  std::vector<std::string> paths_;
  std::vector<std::vector<std::int64_t>> offsets_;
  std::vector<std::string> pending_;
  std::vector<std::int64_t> sizes_;
  std::int64_t seq_ = 0;
  std::atomic<std::int64_t> written_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class PostgresRun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto s = PgServer::launch(PgServer::Options{.fsync = false});
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
    if (server_ == nullptr) GTEST_SKIP() << "no PostgreSQL to test against: " << *skip_reason_;
    if (!server_->running()) {
      ASSERT_TRUE(server_->start()) << server_->logTail();
    }
    schema_ = "run_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name());
    for (auto& c : schema_) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }

  // `db`, the source logs/*.jsonl, events to SQLite and PostgreSQL, and `extra` TOML.
  std::string config(const std::string& host, const std::string& extra = "") const {
    return fmt::format(
        "db = \"s.db\"\nflush_interval = \"100ms\"\n{}\n"
        "[routing]\ndefault = [\"sqlite\", \"postgres\"]\n"
        "[sink.postgres]\nconninfo = '{}'\nhost_id = \"{}\"\nschema = \"{}\"\n"
        "[[source]]\nname = \"app\"\npaths = [\"logs/*.jsonl\"]\n",
        extra, server_->conninfo(), host, schema_);
  }

  // A fresh connection per question: the server may have been stopped in between. -1 when
  // the question cannot be asked (the server is down, the tables do not exist yet).
  std::int64_t pgScalar(const std::string& sql) const {
    auto conn = sink::PgConnection::open(server_->conninfo(), "sqtail-test");
    if (!conn) return -1;
    auto r = conn->query(fmt::format(fmt::runtime(sql), fmt::arg("s", schema_)));
    if (!r || r->rows() == 0) return -1;
    return r->int64(0, 0);
  }
  std::vector<std::vector<std::string>> pgRows(const std::string& sql) const {
    std::vector<std::vector<std::string>> out;
    auto conn = sink::PgConnection::open(server_->conninfo(), "sqtail-test");
    if (!conn) return out;
    auto r = conn->query(fmt::format(fmt::runtime(sql), fmt::arg("s", schema_)));
    if (!r) return out;
    for (int i = 0; i < r->rows(); ++i) {
      std::vector<std::string> row;
      for (int c = 0; c < r->columns(); ++c) row.emplace_back(r->text(i, c));
      out.push_back(std::move(row));
    }
    return out;
  }
  std::int64_t pgEvents(const std::string& host) const {
    return pgScalar(fmt::format("SELECT count(*) FROM {{s}}.events WHERE host_id = '{}'", host));
  }

  // Every line of the model in PostgreSQL's events once, and nothing else.
  void expectExactlyOnceInPg(const std::string& host,
                             const std::map<std::string, std::vector<std::int64_t>>& model) {
    EXPECT_EQ(
        pgScalar(fmt::format("SELECT count(*) FROM (SELECT path, \"offset\" FROM {{s}}.events "
                             "WHERE host_id = '{}' GROUP BY 1, 2 HAVING count(*) > 1) d",
                             host)),
        0)
        << "lines stored twice";
    for (const auto& [path, offsets] : model) {
      auto got =
          pgRows(fmt::format("SELECT \"offset\" FROM {{s}}.events WHERE host_id = '{}' "
                             "AND path = '{}' ORDER BY \"offset\"",
                             host, path));
      ASSERT_EQ(got.size(), offsets.size()) << path;
      for (std::size_t i = 0; i < offsets.size(); ++i) {
        ASSERT_EQ(got[i][0], std::to_string(offsets[i])) << path << " line " << i;
      }
    }
  }

  static PgServer* server_;
  static std::string* skip_reason_;
  std::string schema_;
};

PgServer* PostgresRun::server_ = nullptr;
std::string* PostgresRun::skip_reason_ = nullptr;

int kills() {
  const char* env = std::getenv("SQTAIL_PG_KILLS");
  return env != nullptr ? std::atoi(env) : 12;
}

TEST_F(PostgresRun, KillNineAtRandomMomentsShipsEveryLineOnce) {
  TempDir dir;
  const std::uint64_t seed = testSeed();
  SCOPED_TRACE(fmt::format("seed {} (rerun with SQTAIL_SEED={})", seed, seed));
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ull);
  // Small batches: many commits in both databases, so kills land between and inside them.
  writeText(dir / "sqtail.toml", config("h1", "batch_max_rows = 300"));
  Writers writers(dir, 4, seed);
  writers.start(std::chrono::microseconds(500));
  int kills_after_pg_commit = 0;
  for (int i = 0; i < kills(); ++i) {
    auto p = Process::start({"run", "--config", "sqtail.toml"}, dir.path(), dir.path());
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 500));  // the moment
    p.signal(SIGKILL);
    auto st = p.wait(10s);
    ASSERT_TRUE(st.has_value());
    ASSERT_EQ(*st, 128 + SIGKILL) << "sqtail exited by itself: " << p.stderrText();
    if (pgEvents("h1") > 0) ++kills_after_pg_commit;
  }
  writers.finish();
  std::string err;
  ASSERT_EQ(runSqtail({"run", "--once", "--config", "sqtail.toml"}, dir.path(), 60s, &err), 0)
      << err;
  EXPECT_GT(kills_after_pg_commit, 0) << "no kill came after a PostgreSQL commit";

  Db db(dir / "s.db");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), writers.written());
  EXPECT_EQ(pgEvents("h1"), writers.written());
  expectExactlyOnceInPg("h1", writers.model());
  EXPECT_EQ(pgScalar("SELECT sum(lines) FROM {s}.stats_minute WHERE host_id = 'h1'"),
            writers.written());
  EXPECT_EQ(pgScalar("SELECT count(*) FROM {s}.rejects"), 0);
}

TEST_F(PostgresRun, OutageDoesNotStopSqliteAndNothingIsLostOrDoubled) {
  TempDir dir;
  // A small buffer: PostgreSQL's queue passes half of it within seconds of the outage, so
  // the writer falls behind and catches up from the files.
  writeText(dir / "sqtail.toml",
            config("h1",
                   "max_buffer_bytes = \"1MiB\"\nread_chunk_bytes = \"64KiB\"\n"
                   "max_line_bytes = \"64KiB\"\n[http]\nlisten = \"127.0.0.1:0\"\n"));
  Writers writers(dir, 3, 7, 40);
  writers.start(std::chrono::milliseconds(10));
  auto p = Process::start({"run", "--config", "sqtail.toml"}, dir.path(), dir.path());
  const int port = httpPort(p);
  ASSERT_NE(port, 0) << p.stderrText();
  httplib::Client http("127.0.0.1", port);
  auto health = [&] {
    auto r = http.Get("/health");
    return r ? r->body : std::string();
  };
  Db db(dir / "s.db");
  ASSERT_TRUE(waitFor([&] { return pgEvents("h1") > 1000; }, 20s)) << p.stderrText();

  ASSERT_TRUE(server_->stop()) << server_->logTail();
  const auto down_at = std::chrono::steady_clock::now();
  const std::int64_t sqlite_at_stop = db.scalar("SELECT count(*) FROM events");
  ASSERT_TRUE(waitFor(
      [&] { return health().find("sink 'postgres' is failing") != std::string::npos; }, 15s))
      << health();
  // SQLite goes on while PostgreSQL is down...
  ASSERT_TRUE(waitFor(
      [&] { return db.scalar("SELECT count(*) FROM events") > sqlite_at_stop + 20000; }, 20s))
      << p.stderrText();
  // ... for the whole outage.
  ASSERT_TRUE(waitFor([&] { return std::chrono::steady_clock::now() - down_at >= 20s; }, 25s));
  const std::int64_t sqlite_at_20s = db.scalar("SELECT count(*) FROM events");
  EXPECT_GT(sqlite_at_20s, sqlite_at_stop + 25000);
  EXPECT_NE(health().find("degraded"), std::string::npos);

  ASSERT_TRUE(server_->start()) << server_->logTail();
  writers.finish();
  ASSERT_TRUE(waitFor(
      [&] {
        return db.scalar("SELECT count(*) FROM events") == writers.written() &&
               pgEvents("h1") == writers.written();
      },
      60s))
      << "sqlite " << db.scalar("SELECT count(*) FROM events") << ", postgres " << pgEvents("h1")
      << " of " << writers.written() << "\n"
      << p.stderrText();
  expectExactlyOnceInPg("h1", writers.model());
  EXPECT_EQ(pgScalar("SELECT sum(lines) FROM {s}.stats_minute WHERE host_id = 'h1'"),
            writers.written());
  EXPECT_TRUE(waitFor([&] { return health().find("\"ok\"") != std::string::npos; }, 10s))
      << health();
  EXPECT_NE(p.stderrText().find("falling behind"), std::string::npos) << p.stderrText();
  EXPECT_NE(p.stderrText().find("caught up"), std::string::npos) << p.stderrText();
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(10s), 0) << p.stderrText();
}

// PostgreSQL down when sqtail starts, when a file is rotated and closed, and when sqtail
// stops: SQLite never waits for it, and what it lacks is read from the files when it is back,
// except the lines of files closed before it caught up, which are reported.
TEST_F(PostgresRun, DownAtStartAndAtStopCatchesUpFromTheFiles) {
  TempDir dir;
  writeText(dir / "sqtail.toml",
            config("h1", "rotate_wait = \"200ms\"\n[http]\nlisten = \"127.0.0.1:0\"\n"));
  auto lines = [](int from, int to) {
    std::string text;
    for (int n = from; n < to; ++n) text += jsonLine("a", n);
    return text;
  };
  ASSERT_TRUE(server_->stop()) << server_->logTail();
  writeText(dir / "logs/a.jsonl", lines(0, 500));
  auto p = Process::start({"run", "--config", "sqtail.toml"}, dir.path(), dir.path());
  const int port = httpPort(p);
  ASSERT_NE(port, 0) << p.stderrText();
  httplib::Client http("127.0.0.1", port);
  Db db(dir / "s.db");
  ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == 500; }, 10s))
      << p.stderrText();
  // Rotated out of the glob and closed while PostgreSQL is down: its lines will not reach it.
  std::filesystem::rename(dir / "logs/a.jsonl", dir / "logs/a.jsonl.1");
  writeText(dir / "logs/a.jsonl", lines(500, 700));
  ASSERT_TRUE(waitFor(
      [&] {
        auto r = http.Get("/metrics");
        return db.scalar("SELECT count(*) FROM events") == 700 && r &&
               metricSample("\n" + r->body, "sqtail_files_tracked{source=\"app\"}") == 1;
      },
      10s))
      << p.stderrText();

  ASSERT_TRUE(server_->start()) << server_->logTail();
  ASSERT_TRUE(waitFor([&] { return pgEvents("h1") == 200; }, 20s)) << pgEvents("h1") << "\n"
                                                                   << p.stderrText();
  EXPECT_NE(p.stderrText().find("PostgreSQL will not get"), std::string::npos) << p.stderrText();
  EXPECT_NE(p.stderrText().find("a.jsonl.1"), std::string::npos) << p.stderrText();
  p.signal(SIGTERM);
  ASSERT_EQ(p.wait(10s), 0) << p.stderrText();

  // Down at the last stop: sqtail stops without waiting for it; the next start sends it the
  // lines SQLite got meanwhile.
  ASSERT_TRUE(server_->stop()) << server_->logTail();
  auto q = Process::start({"run", "--config", "sqtail.toml"}, dir.path(), dir.path());
  appendText(dir / "logs/a.jsonl", lines(700, 1000));
  ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == 1000; }, 10s))
      << q.stderrText();
  const auto stopped = std::chrono::steady_clock::now();
  q.signal(SIGTERM);
  ASSERT_EQ(q.wait(10s), 0) << q.stderrText();
  EXPECT_LT(std::chrono::steady_clock::now() - stopped, 5s) << "the stop waited for PostgreSQL";
  ASSERT_TRUE(server_->start()) << server_->logTail();
  std::string err;
  ASSERT_EQ(runSqtail({"run", "--once", "--config", "sqtail.toml"}, dir.path(), 60s, &err), 0)
      << err;
  EXPECT_EQ(pgEvents("h1"), 500);
  EXPECT_EQ(pgScalar("SELECT count(*) FROM (SELECT \"offset\" FROM {s}.events GROUP BY 1 "
                     "HAVING count(*) > 1) d"),
            0);
  EXPECT_EQ(pgScalar("SELECT min(\"offset\") FROM {s}.events"), 0);
  EXPECT_EQ(pgScalar("SELECT sum(lines) FROM {s}.stats_minute"), 500);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), 1000);
}

TEST_F(PostgresRun, ThreeHostsShipIntoOneDatabase) {
  struct Host {
    std::unique_ptr<TempDir> dir;
    std::string id;
    std::int64_t lines = 0;
    std::optional<Process> process;
  };
  std::vector<Host> hosts;
  for (int i = 0; i < 3; ++i) {
    Host h{std::make_unique<TempDir>(), fmt::format("host-{}", i), 0, std::nullopt};
    writeText(*h.dir / "sqtail.toml", config(h.id));
    std::string text;
    for (int n = 0; n < 1000 * (i + 1); ++n) text += jsonLine(h.id, n);
    writeText(*h.dir / "logs/app.jsonl", text);
    h.lines = 1000 * (i + 1);
    hosts.push_back(std::move(h));
  }
  // Started together: the schema is created once, under the advisory lock.
  for (auto& h : hosts) {
    h.process = Process::start({"run", "--config", "sqtail.toml"}, h.dir->path(), h.dir->path());
  }
  // More lines while all three ship.
  for (int round = 0; round < 5; ++round) {
    for (std::size_t i = 0; i < hosts.size(); ++i) {
      std::string text;
      for (int n = 0; n < 200 * static_cast<int>(i + 1); ++n) {
        text += jsonLine(hosts[i].id, hosts[i].lines + n);
      }
      appendText(*hosts[i].dir / "logs/app.jsonl", text);
      hosts[i].lines += 200 * static_cast<int>(i + 1);
    }
  }
  for (auto& h : hosts) {
    ASSERT_TRUE(waitFor([&] { return pgEvents(h.id) == h.lines; }, 30s))
        << h.id << ": " << pgEvents(h.id) << " of " << h.lines << "\n"
        << h.process->stderrText();
  }
  EXPECT_EQ(pgScalar("SELECT count(*) FROM {s}.sqtail_hosts"), 3);
  EXPECT_EQ(pgScalar("SELECT count(*) FROM {s}.events"),
            hosts[0].lines + hosts[1].lines + hosts[2].lines);
  for (auto& h : hosts) {
    EXPECT_EQ(pgScalar(fmt::format("SELECT count(DISTINCT \"offset\") FROM {{s}}.events "
                                   "WHERE host_id = '{}'",
                                   h.id)),
              h.lines);
    EXPECT_EQ(pgScalar(fmt::format("SELECT sum(lines) FROM {{s}}.stats_minute WHERE host_id = '{}'",
                                   h.id)),
              h.lines);
    Db db(*h.dir / "s.db");
    EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), h.lines);
    h.process->signal(SIGTERM);
  }
  for (auto& h : hosts) EXPECT_EQ(h.process->wait(10s), 0) << h.process->stderrText();
}

}  // namespace
}  // namespace sqtail::test
