// Faults under the real binary: a full or failing disk under the database, interrupted and
// short system calls, a descriptor limit, a refused directory, a read-only database
// directory, another process locking the database, a log directory deleted and made again.
// Most are injected through SQTAIL_FAULTS (src/sys/fault.hpp). For each one, sqtail keeps
// running, reports the fault where it has a way to, moves no checkpoint past a line it did not
// commit, and once the fault clears stores every line exactly once, by (file, offset).
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <regex>

#include <fmt/core.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include "harness.hpp"

namespace sqtail::test {
namespace {

// Generous: the sanitizer builds run these on two busy cores.
constexpr auto kWait = 60s;

// What was written to each log path, in order; a path made again starts at offset 0 again.
class Model {
 public:
  explicit Model(const TempDir& dir) : dir_(dir) {}

  // Appends n lines to `rel` (under the test dir) in one write, or a line at a time.
  void append(const std::string& rel, int n, bool one_write = true) {
    const std::string path = dir_ / rel;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::string out;
    for (int i = 0; i < n; ++i) {
      const std::string line = jsonLine(rel, seq_++);
      lines_[path].push_back({size_[path], line.substr(0, line.size() - 1)});
      size_[path] += static_cast<std::int64_t>(line.size());
      if (one_write) {
        out += line;
      } else {
        appendText(path, line);
      }
    }
    if (one_write) appendText(path, out);
  }
  // The half of a line: the rest comes with the next append() to the same path.
  void appendHalfLine(const std::string& rel) {
    const std::string path = dir_ / rel;
    const std::string line = jsonLine(rel, seq_++);
    const std::string half = line.substr(0, line.size() / 2);
    appendText(path, half);
    pending_[path] = line.substr(half.size());
    lines_[path].push_back({size_[path], line.substr(0, line.size() - 1)});
    size_[path] += static_cast<std::int64_t>(line.size());
  }
  void completeLine(const std::string& rel) {
    const std::string path = dir_ / rel;
    appendText(path, pending_[path]);
    pending_.erase(path);
  }
  // The file at `rel` is gone; a new one under that name starts at 0.
  void forget(const std::string& rel) { size_[dir_ / rel] = 0; }

  std::int64_t total() const {
    std::int64_t n = 0;
    for (const auto& [path, lines] : lines_) n += static_cast<std::int64_t>(lines.size());
    return n;
  }

  // Every line once, per path in write order, with its offset and its bytes; nothing else.
  void expectExactlyOnce(Db& db) const {
    for (const auto& [path, want] : lines_) {
      auto got = db.rows(
          fmt::format("SELECT e.offset, e.raw FROM events e JOIN files f ON f.id = e.file_id "
                      "WHERE f.path = '{}' ORDER BY e.id",
                      path));
      ASSERT_EQ(got.size(), want.size()) << path;
      for (std::size_t i = 0; i < want.size(); ++i) {
        ASSERT_EQ(got[i][0], std::to_string(want[i].offset)) << path << " line " << i;
        ASSERT_EQ(got[i][1], want[i].text) << path << " line " << i;
      }
    }
    EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), total());
    EXPECT_EQ(db.scalar("SELECT count(*) FROM rejects"), 0);
    EXPECT_EQ(db.scalar("SELECT sum(lines) FROM stats_minute"), total());
  }

 private:
  struct Line {
    std::int64_t offset;
    std::string text;
  };
  const TempDir& dir_;
  std::map<std::string, std::vector<Line>> lines_;
  std::map<std::string, std::int64_t> size_;
  std::map<std::string, std::string> pending_;
  std::int64_t seq_ = 0;
};

// Checkpoints ahead of the data: files whose offset is not the end of their last stored line
// (every line of these tests is an event, so the two must agree in every committed state).
std::int64_t offsetsAheadOfData(Db& db) {
  return db.scalar(
      "SELECT count(*) FROM files f WHERE f.offset != coalesce((SELECT max(e.offset + "
      "length(CAST(e.raw AS BLOB)) + 1) FROM events e WHERE e.file_id = f.id), 0)");
}

std::string config(const std::string& extra = "") {
  return "db = \"db/s.db\"\nflush_interval = \"100ms\"\npoll_interval = \"200ms\"\n"
         "rotate_wait = \"300ms\"\n" +
         extra +
         "[http]\nlisten = \"127.0.0.1:0\"\n[[source]]\nname = \"app\"\n"
         "paths = [\"logs/**/*.jsonl\"]\n";
}

// The test's config in c.toml, and the directory of its database.
void writeConfig(const TempDir& dir, const std::string& extra = "") {
  writeText(dir / "c.toml", config(extra));
  std::filesystem::create_directories(dir / "db");
}

// sqtail run with SQTAIL_FAULTS (empty: none) and its HTTP endpoint.
class Sqtail {
 public:
  Sqtail(const TempDir& dir, const std::string& faults) {
    if (!faults.empty()) setenv("SQTAIL_FAULTS", faults.c_str(), 1);
    proc_.emplace(Process::start({"run", "-c", "c.toml"}, dir.path(), dir.path()));
    unsetenv("SQTAIL_FAULTS");
    waitFor(
        [&] {
          std::smatch m;
          const std::string err = proc_->stderrText();
          if (std::regex_search(err, m, std::regex("on 127\\.0\\.0\\.1:([0-9]+)"))) {
            port_ = std::stoi(m[1]);
          }
          return port_ != 0 || !proc_->running();
        },
        kWait);
    if (!faults.empty()) {
      EXPECT_NE(log().find("SQTAIL_FAULTS is set: injecting faults (" + faults + ")"),
                std::string::npos)
          << log();
    }
  }

  // Serving HTTP, so started: each test asserts it before anything else.
  bool up() const { return port_ != 0; }
  std::string log() const { return proc_->stderrText(); }
  bool running() { return proc_->running(); }

  // One sample of /metrics, e.g. sqtail_commit_failures_total{sink="sqlite"}; -1 if absent.
  double sample(const std::string& metric) {
    httplib::Client http("127.0.0.1", port_);
    auto r = http.Get("/metrics");
    if (!r || r->status != 200) return -1;
    const std::string text = "\n" + r->body;
    const auto pos = text.find("\n" + metric + " ");
    if (pos == std::string::npos) return -1;
    return std::stod(text.substr(pos + metric.size() + 2));
  }
  // /health?strict: 503 with the reasons while degraded, 200 when ok.
  std::optional<std::string> degradedBecause() {
    httplib::Client http("127.0.0.1", port_);
    auto r = http.Get("/health?strict");
    if (!r || r->status != 503) return std::nullopt;
    return r->body;
  }
  bool healthy() {
    httplib::Client http("127.0.0.1", port_);
    auto r = http.Get("/health?strict");
    return r && r->status == 200;
  }

  // SIGTERM: a clean stop commits what was read and exits 0.
  void stop() {
    proc_->signal(SIGTERM);
    EXPECT_EQ(proc_->wait(kWait), 0) << log();
  }

 private:
  std::optional<Process> proc_;
  int port_ = 0;
};

double failures(Sqtail& s) { return s.sample("sqtail_commit_failures_total{sink=\"sqlite\"}"); }

bool logHas(Sqtail& s, const std::string& text) { return s.log().find(text) != std::string::npos; }

// --- the database's disk: full, failing writes, failing syncs -----------------------------

struct DbFault {
  const char* name;
  const char* faults;   // SQTAIL_FAULTS
  const char* message;  // what the commit failure says
};

class DbFaults : public ::testing::TestWithParam<DbFault> {};

// The rules let the first 20 writes through (opening a database writes a little), then fail 6:
// each failed commit attempt costs one, and the retries back off 50 ms, 100 ms, ..., so the
// sink fails for about 3 s.
TEST_P(DbFaults, FailedCommitsAreReportedAndResumeWithNothingLost) {
  TempDir dir;
  writeConfig(dir);
  Model model(dir);
  Db db(dir / "db/s.db");
  model.append("logs/a.jsonl", 50);
  {
    // A first run without faults creates the database; the one below only opens it.
    Sqtail clean(dir, "");
    ASSERT_TRUE(clean.up()) << clean.log();
    ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == 50; }, kWait));
    clean.stop();
  }
  Sqtail s(dir, GetParam().faults);
  ASSERT_TRUE(s.up()) << s.log();
  // Batches until one fails: a batch either commits whole or the sink turns degraded.
  std::optional<std::string> why;
  for (int i = 0; i < 100 && !why; ++i) {
    model.append(i % 2 == 0 ? "logs/a.jsonl" : "logs/b.jsonl", 10);
    ASSERT_TRUE(waitFor(
        [&] {
          why = s.degradedBecause();
          return why || db.scalar("SELECT count(*) FROM events") == model.total();
        },
        kWait))
        << s.log();
  }
  ASSERT_TRUE(why) << "no commit failed: " << s.log();
  EXPECT_NE(why->find("sink 'sqlite' is failing"), std::string::npos) << *why;
  EXPECT_GE(failures(s), 1);
  EXPECT_LT(db.scalar("SELECT count(*) FROM events"), model.total());
  EXPECT_EQ(offsetsAheadOfData(db), 0);
  ASSERT_TRUE(waitFor([&] { return logHas(s, "commit failed ("); }, kWait)) << s.log();
  EXPECT_TRUE(logHas(s, GetParam().message)) << s.log();

  // The fault clears: everything arrives, once; /health is ok again.
  ASSERT_TRUE(
      waitFor([&] { return db.scalar("SELECT count(*) FROM events") == model.total(); }, kWait))
      << s.log();
  ASSERT_TRUE(waitFor([&] { return s.healthy(); }, kWait));
  EXPECT_EQ(failures(s), 6);
  EXPECT_TRUE(s.running());
  model.append("logs/b.jsonl", 10);
  ASSERT_TRUE(
      waitFor([&] { return db.scalar("SELECT count(*) FROM events") == model.total(); }, kWait));
  s.stop();
  EXPECT_EQ(offsetsAheadOfData(db), 0);
  model.expectExactlyOnce(db);
}

INSTANTIATE_TEST_SUITE_P(
    Fault, DbFaults,
    ::testing::Values(
        DbFault{"Full", "sqlite_write:ENOSPC:after=20:count=6:path=/db/",
                "database or disk is full"},
        DbFault{"WriteError", "sqlite_write:EIO:after=20:count=6:path=/db/", "disk I/O error"},
        // As a file system remounted read-only after an error fails them.
        DbFault{"ReadOnlyFileSystem", "sqlite_write:EROFS:after=20:count=6", "disk I/O error"}),
    [](const auto& info) { return std::string(info.param.name); });

// With synchronous=NORMAL a commit does not sync: SQLite syncs at checkpoints (every 1000 WAL
// pages, and when the last connection closes) and when a new WAL starts. A failed checkpoint
// is not an error to anyone: SQLite keeps the WAL, and nothing is lost. Opening the database
// syncs twice (the WAL's first transaction); every later sync fails here.
TEST(Fault, FailedSyncsAtCheckpointsLoseNothing) {
  TempDir dir;
  writeConfig(dir);
  Model model(dir);
  model.append("logs/a.jsonl", 50);
  ASSERT_EQ(runSqtail({"run", "--once", "-c", "c.toml"}, dir.path()), 0);  // creates the DB
  model.append("logs/a.jsonl", 50);
  {
    std::optional<Db> db(std::in_place, dir / "db/s.db");
    Sqtail s(dir, "sqlite_sync:EIO:after=2");
    ASSERT_TRUE(s.up()) << s.log();
    ASSERT_TRUE(waitFor([&] { return db->scalar("SELECT count(*) FROM events") == 100; }, kWait))
        << s.log();
    model.append("logs/a.jsonl", 50);
    ASSERT_TRUE(waitFor([&] { return db->scalar("SELECT count(*) FROM events") == 150; }, kWait))
        << s.log();
    EXPECT_TRUE(s.healthy());
    db.reset();  // a reader left open would keep the WAL by itself
    s.stop();    // the checkpoint on close fails: the WAL stays
  }
  EXPECT_GT(fileSize(dir / "db/s.db-wal"), 0);
  model.append("logs/a.jsonl", 10);
  ASSERT_EQ(runSqtail({"run", "--once", "-c", "c.toml"}, dir.path()), 0);
  Db after(dir / "db/s.db");
  model.expectExactlyOnce(after);
}

// --- system calls on the logs -------------------------------------------------------------

// Every system call sqtail makes through sys/ is interrupted once (EINTR) and retried.
TEST(Fault, EveryCallInterruptedOnceChangesNothing) {
  TempDir dir;
  writeConfig(dir);
  Model model(dir);
  Db db(dir / "db/s.db");
  model.append("logs/a.jsonl", 100);
  Sqtail s(dir, "*:EINTR");
  ASSERT_TRUE(s.up()) << s.log();
  model.append("logs/b/c.jsonl", 30, false);
  model.appendHalfLine("logs/a.jsonl");
  ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == 130; }, kWait))
      << s.log();
  model.completeLine("logs/a.jsonl");
  // A rotation: renamed away, a new file under the old name.
  std::filesystem::rename(dir / "logs/a.jsonl", dir / "logs/a.jsonl.1");
  model.forget("logs/a.jsonl");
  model.append("logs/a.jsonl", 20);
  ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == 151; }, kWait))
      << s.log();
  EXPECT_TRUE(s.healthy());
  s.stop();
  // The rotated file's lines are stored under its new name.
  Db check(dir / "db/s.db");
  EXPECT_EQ(check.scalar("SELECT count(*) FROM events e JOIN files f ON f.id = e.file_id "
                         "WHERE f.path LIKE '%a.jsonl.1'"),
            101);
  EXPECT_EQ(check.scalar("SELECT count(*) FROM events"), 151);
  EXPECT_EQ(check.scalar("SELECT count(*) FROM rejects"), 0);
  EXPECT_EQ(offsetsAheadOfData(check), 0);
}

// Every read of a log file returns half of what was asked for: lines are still whole.
TEST(Fault, ShortReadsSplitNoLine) {
  TempDir dir;
  writeConfig(dir);
  Model model(dir);
  Db db(dir / "db/s.db");
  model.append("logs/a.jsonl", 200);
  Sqtail s(dir, "read:short:path=/logs/");
  ASSERT_TRUE(s.up()) << s.log();
  for (int i = 0; i < 5; ++i) {
    model.append("logs/a.jsonl", 37);
    model.appendHalfLine("logs/b.jsonl");
    model.completeLine("logs/b.jsonl");
  }
  ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == 390; }, kWait))
      << s.log();
  s.stop();
  EXPECT_EQ(offsetsAheadOfData(db), 0);
  model.expectExactlyOnce(db);
}

// Opening log files fails with EMFILE for a while: the files are picked up once it clears,
// also those that are not written to again.
TEST(Fault, TooManyOpenFilesDelaysButLosesNothing) {
  TempDir dir;
  writeConfig(dir);
  Model model(dir);
  Db db(dir / "db/s.db");
  model.append("logs/a.jsonl", 40);
  model.append("logs/b.jsonl", 40);
  model.append("logs/c.jsonl", 40);
  Sqtail s(dir, "open:EMFILE:count=6:path=/logs/");
  ASSERT_TRUE(s.up()) << s.log();
  ASSERT_TRUE(waitFor([&] { return logHas(s, "Too many open files"); }, kWait)) << s.log();
  EXPECT_EQ(offsetsAheadOfData(db), 0);
  model.append("logs/c.jsonl", 5);  // one of the three is written to again, the others not
  ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == 125; }, kWait))
      << s.log();
  EXPECT_TRUE(s.running());
  s.stop();
  model.expectExactlyOnce(db);
}

// A log file that cannot be opened for a few seconds: counted, said once, /health degraded
// until it opens; then read whole.
TEST(Fault, UnopenableFileIsCountedAndDegradesHealthUntilItOpens) {
  TempDir dir;
  writeConfig(dir);
  Model model(dir);
  Db db(dir / "db/s.db");
  model.append("logs/a.jsonl", 10);
  model.append("logs/b.jsonl", 10);
  Sqtail s(dir, "open:EACCES:count=12:path=/logs/b.jsonl");  // ~12 retries, 200 ms apart
  ASSERT_TRUE(s.up()) << s.log();
  std::optional<std::string> why;
  ASSERT_TRUE(waitFor([&] { return (why = s.degradedBecause()).has_value(); }, kWait)) << s.log();
  EXPECT_NE(why->find("1 log file cannot be opened or read"), std::string::npos) << *why;
  EXPECT_EQ(s.sample("sqtail_files_failing"), 1);
  EXPECT_GE(s.sample("sqtail_file_errors_total{source=\"app\",op=\"open\"}"), 1);
  ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == 20; }, kWait))
      << s.log();
  ASSERT_TRUE(waitFor([&] { return s.healthy(); }, kWait)) << s.degradedBecause().value_or("");
  EXPECT_EQ(s.sample("sqtail_files_failing"), 0);
  EXPECT_EQ(s.sample("sqtail_file_errors_total{source=\"app\",op=\"open\"}"), 12);
  EXPECT_EQ(s.sample("sqtail_file_errors_total{source=\"app\",op=\"read\"}"), 0);
  // Said when it started failing and when it stopped, not at each of the 12 tries.
  const std::string log = s.log();
  std::size_t said = 0;
  for (auto at = log.find("trying again every"); at != std::string::npos;
       at = log.find("trying again every", at + 1)) {
    ++said;
  }
  EXPECT_EQ(said, 1u) << log;
  EXPECT_TRUE(logHas(s, "b.jsonl: can be opened and read again")) << log;
  s.stop();
  model.expectExactlyOnce(db);
}

// Reading a log file fails with EIO a few times: the lines are read once it clears.
TEST(Fault, ReadErrorsDelayButLoseNothing) {
  TempDir dir;
  writeConfig(dir);
  Model model(dir);
  Db db(dir / "db/s.db");
  model.append("logs/a.jsonl", 40);
  Sqtail s(dir, "read:EIO:count=4:path=/logs/");
  ASSERT_TRUE(s.up()) << s.log();
  ASSERT_TRUE(waitFor([&] { return logHas(s, "Input/output error"); }, kWait)) << s.log();
  EXPECT_EQ(offsetsAheadOfData(db), 0);
  ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == 40; }, kWait))
      << s.log();
  // The first reads identify the file as it is opened: counted as op="open".
  EXPECT_EQ(s.sample("sqtail_file_errors_total{source=\"app\",op=\"open\"}") +
                s.sample("sqtail_file_errors_total{source=\"app\",op=\"read\"}"),
            4);
  model.append("logs/a.jsonl", 10);
  ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == 50; }, kWait))
      << s.log();
  s.stop();
  model.expectExactlyOnce(db);
}

// A directory that cannot be watched (EACCES, as inotify_add_watch reports for a directory
// sqtail may not read) nor, for a while, listed: sqtail says so, polls it, and misses nothing.
TEST(Fault, RefusedDirectoryIsPolled) {
  TempDir dir;
  writeConfig(dir);
  Model model(dir);
  Db db(dir / "db/s.db");
  model.append("logs/open/a.jsonl", 20);
  model.append("logs/shut/b.jsonl", 20);
  Sqtail s(dir, "inotify_add_watch:EACCES:path=/logs/shut,opendir:EACCES:count=2:path=/logs/shut");
  ASSERT_TRUE(s.up()) << s.log();
  ASSERT_TRUE(
      waitFor([&] { return logHas(s, "Permission denied; falling back to polling"); }, kWait))
      << s.log();
  EXPECT_TRUE(logHas(s, "cannot list opendir")) << s.log();
  std::optional<std::string> why;
  ASSERT_TRUE(waitFor([&] { return (why = s.degradedBecause()).has_value(); }, kWait));
  EXPECT_NE(why->find("watching by polling"), std::string::npos) << *why;
  EXPECT_GE(s.sample("sqtail_polling_fallbacks_total"), 1);
  model.append("logs/open/a.jsonl", 5);
  model.append("logs/shut/b.jsonl", 5);
  model.append("logs/shut/c.jsonl", 5);
  ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == 55; }, kWait))
      << s.log();
  s.stop();
  model.expectExactlyOnce(db);
}

// sqtail's own log file on a full disk: it cannot say so, but it goes on tailing.
TEST(Fault, OwnLogFileOnAFullDiskStopsNothing) {
  TempDir dir;
  writeConfig(dir, "log_file = \"sqtail.log\"\n");
  Model model(dir);
  Db db(dir / "db/s.db");
  model.append("logs/a.jsonl", 30);
  setenv("SQTAIL_FAULTS", "write:ENOSPC:path=sqtail.log,fsync:EIO:path=sqtail.log", 1);
  auto p = Process::start({"run", "-c", "c.toml"}, dir.path(), dir.path());
  unsetenv("SQTAIL_FAULTS");
  ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == 30; }, kWait))
      << p.stderrText();
  model.append("logs/a.jsonl", 30);
  ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == 60; }, kWait));
  EXPECT_EQ(fileSize(dir / "sqtail.log"), 0);
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(kWait), 0);
  model.expectExactlyOnce(db);
}

// --- the database directory ---------------------------------------------------------------

// A read-only directory does not stop a running sqtail, nor a restart: it creates no file
// there once the database, its -wal and -shm and its pid file exist. (chmod does not bind
// root; the test means the same either way.)
TEST(Fault, ReadOnlyDbDirectoryStopsNothing) {
  TempDir dir;
  writeConfig(dir);
  Model model(dir);
  Db db(dir / "db/s.db");
  model.append("logs/a.jsonl", 30);
  {
    Sqtail s(dir, "");
    ASSERT_TRUE(s.up()) << s.log();
    ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == 30; }, kWait));
    std::filesystem::permissions(
        dir / "db", std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
    model.append("logs/a.jsonl", 30);
    ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == 60; }, kWait))
        << s.log();
    EXPECT_TRUE(s.healthy());
    s.stop();
  }
  {
    Sqtail again(dir, "");
    ASSERT_TRUE(again.up()) << again.log();
    model.append("logs/a.jsonl", 30);
    ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == 90; }, kWait))
        << again.log();
    again.stop();
  }
  std::filesystem::permissions(dir / "db", std::filesystem::perms::owner_all);
  model.expectExactlyOnce(db);
}

// A database on a read-only mount: sqtail refuses to start, saying why (it cannot even take
// its pid lock), rather than running without storing. A read-only bind mount needs root and
// a private mount namespace; a running sqtail's mount cannot be made read-only at all (the
// kernel refuses while files are open for writing: see the ReadOnlyFileSystem case above).
TEST(Fault, DbOnReadOnlyMountRefusesToStart) {
  TempDir dir;
  writeConfig(dir);
  Model model(dir);
  model.append("logs/a.jsonl", 10);
  ASSERT_EQ(runSqtail({"run", "--once", "-c", "c.toml"}, dir.path()), 0);
  if (geteuid() != 0) GTEST_SKIP() << "a read-only bind mount needs root";
  const std::string cmd = fmt::format(
      "cd '{0}' && unshare -m sh -c 'mount --make-rprivate / && mount --bind db db && "
      "mount -o remount,bind,ro db || exit 77; exec \"{1}\" run --once -c c.toml' "
      ">ro.out 2>&1",
      dir.path(), binary());
  const int status = std::system(cmd.c_str());
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == 77) GTEST_SKIP() << "no private mount namespace here: " << readFile(dir / "ro.out");
  EXPECT_EQ(code, 1) << readFile(dir / "ro.out");
  EXPECT_NE(readFile(dir / "ro.out").find("Read-only file system"), std::string::npos)
      << readFile(dir / "ro.out");
}

// Another process (Debian's sqlite3 shell) holds BEGIN EXCLUSIVE for 10 s: commits wait out
// the busy timeout and fail, sqtail reports it, and commits everything once the lock is gone.
TEST(Fault, ExclusiveLockByAnotherProcessFor10s) {
  TempDir dir;
  writeConfig(dir);
  Model model(dir);
  Db db(dir / "db/s.db");
  model.append("logs/a.jsonl", 20);
  Sqtail s(dir, "");
  ASSERT_TRUE(s.up()) << s.log();
  ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == 20; }, kWait));

  const std::string out = dir / "sqlite3.out";
  FILE* shell = popen(fmt::format("sqlite3 '{}' >'{}' 2>&1", dir / "db/s.db", out).c_str(), "w");
  ASSERT_NE(shell, nullptr);
  std::fputs(".timeout 10000\nBEGIN EXCLUSIVE;\nSELECT 'locked';\n", shell);
  std::fflush(shell);
  ASSERT_TRUE(waitFor([&] { return readFile(out).find("locked") != std::string::npos; }, kWait))
      << readFile(out);
  const auto locked_at = std::chrono::steady_clock::now();
  model.append("logs/a.jsonl", 20);
  model.append("logs/b.jsonl", 20);
  std::optional<std::string> why;
  ASSERT_TRUE(waitFor([&] { return (why = s.degradedBecause()).has_value(); }, kWait)) << s.log();
  EXPECT_NE(why->find("sink 'sqlite' is failing"), std::string::npos) << *why;
  EXPECT_TRUE(logHas(s, "database is locked")) << s.log();
  EXPECT_GE(failures(s), 1);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), 20);
  EXPECT_EQ(offsetsAheadOfData(db), 0);
  // The lock is held 10 s in all: that is the fault, not a wait for sqtail.
  ASSERT_TRUE(waitFor([&] { return std::chrono::steady_clock::now() - locked_at >= 10s; }, 20s));
  std::fputs("COMMIT;\n.quit\n", shell);
  EXPECT_EQ(pclose(shell), 0) << readFile(out);

  ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == 60; }, kWait))
      << s.log();
  ASSERT_TRUE(waitFor([&] { return s.healthy(); }, kWait));
  s.stop();
  model.expectExactlyOnce(db);
}

// The log directory is deleted (files and all) and made again with new files, some under
// the old names: the old files' lines stay stored once, the new files are read from 0.
TEST(Fault, LogDirectoryDeletedAndMadeAgain) {
  TempDir dir;
  writeConfig(dir);
  Model model(dir);
  Db db(dir / "db/s.db");
  model.append("logs/app/a.jsonl", 20);
  model.append("logs/app/b.jsonl", 20);
  Sqtail s(dir, "");
  ASSERT_TRUE(s.up()) << s.log();
  ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == 40; }, kWait));
  for (int round = 0; round < 2; ++round) {
    std::filesystem::remove_all(dir / "logs/app");
    for (const char* name : {"a", "b", "c"}) model.forget(fmt::format("logs/app/{}.jsonl", name));
    ASSERT_TRUE(waitFor(
        [&] { return db.scalar("SELECT count(*) FROM files WHERE state = 'active'") == 0; }, kWait))
        << s.log();
    model.append("logs/app/a.jsonl", 10);
    model.append("logs/app/c.jsonl", 10, false);
    const std::int64_t want = 40 + 20 * (round + 1);
    ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM events") == want; }, kWait))
        << s.log();
  }
  EXPECT_TRUE(s.healthy());
  s.stop();
  EXPECT_EQ(offsetsAheadOfData(db), 0);
  model.expectExactlyOnce(db);
}

}  // namespace
}  // namespace sqtail::test
