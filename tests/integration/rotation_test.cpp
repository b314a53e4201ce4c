// Files that move, on the real binary: rename rotation, rotation while down, copytruncate
// (with Debian's logrotate too), deletion while open, inode reuse, identical headers,
// symlinks, atomic replace, the watch limit, and bad lines.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <fmt/core.h>
#include <gtest/gtest.h>

#include "harness.hpp"

namespace sqtail::test {
namespace {

namespace fs = std::filesystem;

std::string lines(const std::string& tag, int from, int to) {
  std::string s;
  for (int i = from; i < to; ++i) s += jsonLine(tag, i);
  return s;
}

// Every line tagged `tag` with sequence numbers [0, n) is in events exactly once.
void expectExactlyOnce(Db& db, const std::string& tag, int n) {
  auto rows = db.rows(
      fmt::format("SELECT json_extract(raw, '$.seq'), count(*) FROM events "
                  "WHERE json_extract(raw, '$.message') LIKE '{} line %' GROUP BY 1 ORDER BY 1",
                  tag));
  std::map<int, int> seen;
  for (const auto& r : rows) seen[std::stoi(r[0])] = std::stoi(r[1]);
  int missing = 0, duplicated = 0;
  for (int i = 0; i < n; ++i) {
    if (seen[i] == 0) ++missing;
    if (seen[i] > 1) ++duplicated;
  }
  EXPECT_EQ(missing, 0) << tag;
  EXPECT_EQ(duplicated, 0) << tag;
  EXPECT_EQ(static_cast<int>(rows.size()), n) << tag;
}

std::int64_t countTag(Db& db, const std::string& tag) {
  return db.scalar(fmt::format(
      "SELECT count(*) FROM events WHERE json_extract(raw, '$.message') LIKE '{} line %'", tag));
}

// True when the process holds a descriptor on a file whose path contains `needle`.
bool holdsOpen(pid_t pid, const std::string& needle) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fmt::format("/proc/{}/fd", pid), ec)) {
    std::error_code ec2;
    auto target = fs::read_symlink(e.path(), ec2).string();
    if (!ec2 && target.find(needle) != std::string::npos) return true;
  }
  return false;
}

class Rotation : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_ / "logs");
    writeText(dir_ / "c.toml",
              "db = \"s.db\"\nflush_interval = \"100ms\"\nrotate_wait = \"1s\"\n"
              "[[source]]\nname = \"app\"\npaths = [\"logs/*.jsonl\"]\n" +
                  extra_);
  }
  Process start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"run", "-c", "c.toml"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Process::start(args, dir_.path(), dir_.path());
  }
  int once() { return runSqtail({"run", "--once", "-c", "c.toml"}, dir_.path()); }
  void waitStarted(Db& db) {
    ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM sqlite_master") > 0; }, 10s));
  }

  TempDir dir_;
  std::string extra_;
};

TEST_F(Rotation, RenameRotationDrainsTheOldInodeWhileItsWriterKeepsWriting) {
  const std::string app = dir_ / "logs/app.jsonl";
  int old_fd = ::open(app.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  ASSERT_GE(old_fd, 0);
  auto put = [](int fd, const std::string& s) {
    ASSERT_EQ(::write(fd, s.data(), s.size()), static_cast<ssize_t>(s.size()));
  };
  put(old_fd, lines("old", 0, 50));
  auto p = start();
  Db db(dir_ / "s.db");
  ASSERT_TRUE(waitFor([&] { return countTag(db, "old") == 50; }, 10s)) << p.stderrText();

  fs::rename(app, dir_ / "logs/app.jsonl.1");
  put(old_fd, lines("old", 50, 80));  // the writer has not reopened yet
  appendText(app, lines("new", 0, 40));
  put(old_fd, lines("old", 80, 100));
  ::close(old_fd);
  ASSERT_TRUE(waitFor([&] { return countTag(db, "old") == 100 && countTag(db, "new") == 40; }, 10s))
      << p.stderrText();
  // Closed once quiet for rotate_wait (1 s), never much later.
  EXPECT_TRUE(waitFor([&] { return !holdsOpen(p.pid(), "app.jsonl.1"); }, 3s));
  expectExactlyOnce(db, "old", 100);
  expectExactlyOnce(db, "new", 40);
  EXPECT_TRUE(waitFor(
      [&] {
        return db.scalar(
                   "SELECT count(*) FROM files WHERE state = 'rotated' AND path LIKE "
                   "'%.jsonl.1'") == 1;
      },
      5s));
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(5s), 0);
}

TEST_F(Rotation, RotationWhileDownIsFinishedFromTheStoredIdentity) {
  const std::string app = dir_ / "logs/app.jsonl";
  writeText(app, lines("a", 0, 30));
  ASSERT_EQ(once(), 0);
  appendText(app, lines("a", 30, 45));  // never read before the rotation
  fs::rename(app, dir_ / "logs/app.jsonl.1");
  writeText(app, lines("b", 0, 10));
  ASSERT_EQ(once(), 0);
  Db db(dir_ / "s.db");
  expectExactlyOnce(db, "a", 45);
  expectExactlyOnce(db, "b", 10);
  ASSERT_EQ(once(), 0);  // and nothing twice on the next start
  expectExactlyOnce(db, "a", 45);
}

TEST_F(Rotation, CopytruncateWindowIsReadFromTheCopy) {
  const std::string app = dir_ / "logs/app.jsonl";
  writeText(app, lines("a", 0, 30));
  ASSERT_EQ(once(), 0);
  appendText(app, lines("a", 30, 50));  // written after our last read, before the copy
  fs::copy_file(app, dir_ / "logs/app.jsonl.1");
  fs::resize_file(app, 0);
  appendText(app, lines("b", 0, 5));  // shorter than our offset: a truncation
  ASSERT_EQ(once(), 0);
  Db db(dir_ / "s.db");
  expectExactlyOnce(db, "a", 50);
  expectExactlyOnce(db, "b", 5);
  EXPECT_EQ(db.scalar("SELECT truncations FROM files WHERE path LIKE '%/app.jsonl'"), 1);
}

TEST_F(Rotation, CopytruncateWhileRunningReadsTheWindowFromTheCopy) {
  const std::string app = dir_ / "logs/app.jsonl";
  writeText(app, lines("a", 0, 30));
  auto p = start();
  Db db(dir_ / "s.db");
  ASSERT_TRUE(waitFor([&] { return countTag(db, "a") == 30; }, 10s));
  // Copy and truncate faster than sqtail reacts: the 20 lines appended just before exist
  // only in the copy by the time sqtail looks.
  const std::string more = lines("a", 30, 50);
  {
    std::ofstream out(app, std::ios::app);
    out << more;
  }
  fs::copy_file(app, dir_ / "logs/app.jsonl.1");
  fs::resize_file(app, 0);
  appendText(app, lines("b", 0, 3));
  ASSERT_TRUE(waitFor([&] { return countTag(db, "b") == 3; }, 10s)) << p.stderrText();
  ASSERT_TRUE(waitFor([&] { return countTag(db, "a") >= 50; }, 5s)) << p.stderrText();
  expectExactlyOnce(db, "a", 50);
  expectExactlyOnce(db, "b", 3);
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(5s), 0);
}

TEST_F(Rotation, RewrittenInPlaceWhileDownIsReadAgainFromZero) {
  const std::string app = dir_ / "logs/app.jsonl";
  writeText(app, lines("a", 0, 10));
  ASSERT_EQ(once(), 0);
  // Same inode, same first bytes (the header line is identical), longer than the old offset,
  // but other bytes before it: rewritten, not appended.
  {
    std::ofstream out(app, std::ios::in | std::ios::out);
    out.seekp(static_cast<std::streamoff>(jsonLine("a", 0).size()));
    out << lines("r", 1, 40);
  }
  ASSERT_EQ(once(), 0);
  Db db(dir_ / "s.db");
  EXPECT_EQ(db.scalar("SELECT truncations FROM files"), 1);
  // The header line a0 is unchanged; r1..r39 follow it.
  EXPECT_EQ(countTag(db, "r"), 39);
}

TEST_F(Rotation, DeletedWhileOpenIsDrainedThenClosed) {
  const std::string app = dir_ / "logs/app.jsonl";
  writeText(app, lines("d", 0, 20));
  auto p = start();
  Db db(dir_ / "s.db");
  ASSERT_TRUE(waitFor([&] { return countTag(db, "d") == 20; }, 10s));
  int fd = ::open(app.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  fs::remove(app);
  const std::string late = lines("d", 20, 25);
  ASSERT_EQ(::write(fd, late.data(), late.size()), static_cast<ssize_t>(late.size()));
  ::close(fd);
  ASSERT_TRUE(waitFor([&] { return countTag(db, "d") == 25; }, 10s)) << p.stderrText();
  EXPECT_TRUE(waitFor([&] { return !holdsOpen(p.pid(), "app.jsonl"); }, 3s))
      << "a deleted file was held open past rotate_wait";
  EXPECT_TRUE(waitFor(
      [&] { return db.scalar("SELECT count(*) FROM files WHERE state = 'deleted'") == 1; }, 5s));
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(5s), 0);
}

TEST_F(Rotation, ReusedInodeWithOtherContentIsANewFile) {
  const std::string a = dir_ / "logs/a.jsonl";
  writeText(a, lines("first", 0, 10));
  ASSERT_EQ(once(), 0);
  const auto old_inode = fs::status(a).type() == fs::file_type::regular ? [&] {
    struct stat st{};
    ::stat(a.c_str(), &st);
    return st.st_ino;
  }() : 0;
  fs::remove(a);
  // The file system usually hands the freed inode to the next file created.
  const std::string b = dir_ / "logs/b.jsonl";
  writeText(b, lines("second", 0, 25));
  struct stat st {};
  ::stat(b.c_str(), &st);
  RecordProperty("inode_reused", st.st_ino == old_inode ? "yes" : "no");
  ASSERT_EQ(once(), 0);
  Db db(dir_ / "s.db");
  expectExactlyOnce(db, "first", 10);
  expectExactlyOnce(db, "second", 25);  // from its first byte, not from a's old offset
}

TEST_F(Rotation, TinyFilesAndIdenticalHeadersAreSeparateFiles) {
  std::string header;
  for (int i = 0; i < 20; ++i)
    header +=
        R"({"level":"info","message":"same header line, long enough to fill the fingerprint"})"
        "\n";
  writeText(dir_ / "logs/x.jsonl", header + lines("x", 0, 5));
  writeText(dir_ / "logs/y.jsonl", header + lines("y", 0, 7));
  writeText(dir_ / "logs/tiny.jsonl", "{\"a\":1}\n");
  ASSERT_EQ(once(), 0);
  appendText(dir_ / "logs/tiny.jsonl", "{\"a\":2}\n");
  ASSERT_EQ(once(), 0);
  Db db(dir_ / "s.db");
  expectExactlyOnce(db, "x", 5);
  expectExactlyOnce(db, "y", 7);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM files"), 3);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), 20 + 5 + 20 + 7 + 2);
  EXPECT_EQ(db.scalar("SELECT fingerprint_len FROM files WHERE path LIKE '%tiny.jsonl'"), 16);
}

TEST_F(Rotation, SymlinksAreTrackedOnceAndOnlyInsideTheRootsByDefault) {
  writeText(dir_ / "logs/real.jsonl", lines("r", 0, 5));
  fs::create_symlink(dir_ / "logs/real.jsonl", dir_ / "logs/link.jsonl");
  writeText(dir_ / "outside/o.jsonl", lines("o", 0, 4));
  fs::create_symlink(dir_ / "outside/o.jsonl", dir_ / "logs/out.jsonl");
  ASSERT_EQ(once(), 0);
  Db db(dir_ / "s.db");
  expectExactlyOnce(db, "r", 5);
  EXPECT_EQ(countTag(db, "o"), 0) << "followed a link out of the roots by default";

  writeText(dir_ / "c.toml",
            "db = \"s.db\"\nfollow_symlinks = true\nflush_interval = \"100ms\"\n"
            "rotate_wait = \"1s\"\n[[source]]\nname = \"app\"\n"
            "paths = [\"logs/*.jsonl\"]\n");
  auto p = start();
  ASSERT_TRUE(waitFor([&] { return countTag(db, "o") == 4; }, 10s)) << p.stderrText();
  appendText(dir_ / "outside/o.jsonl", lines("o", 4, 6));  // seen through the target's dir
  ASSERT_TRUE(waitFor([&] { return countTag(db, "o") == 6; }, 10s)) << p.stderrText();
  // Swapping the link to a new target is a rotation: the new target is read from 0.
  writeText(dir_ / "outside/o2.jsonl", lines("o2", 0, 3));
  fs::create_symlink(dir_ / "outside/o2.jsonl", dir_ / "logs/out.tmp");
  fs::rename(dir_ / "logs/out.tmp", dir_ / "logs/out.jsonl");
  ASSERT_TRUE(waitFor([&] { return countTag(db, "o2") == 3; }, 10s)) << p.stderrText();
  expectExactlyOnce(db, "o", 6);
  expectExactlyOnce(db, "r", 5);
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(5s), 0);
}

TEST_F(Rotation, AtomicReplaceIsANewFile) {
  const std::string app = dir_ / "logs/state.jsonl";
  writeText(app, lines("v1", 0, 5));
  auto p = start();
  Db db(dir_ / "s.db");
  ASSERT_TRUE(waitFor([&] { return countTag(db, "v1") == 5; }, 10s));
  writeText(dir_ / "logs/.state.tmp", lines("v2", 0, 8));
  fs::rename(dir_ / "logs/.state.tmp", app);
  ASSERT_TRUE(waitFor([&] { return countTag(db, "v2") == 8; }, 10s)) << p.stderrText();
  expectExactlyOnce(db, "v1", 5);
  expectExactlyOnce(db, "v2", 8);
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(5s), 0);
}

TEST_F(Rotation, DirectoriesBeyondTheWatchLimitArePolledAndNothingIsMissed) {
  writeText(dir_ / "c.toml",
            "db = \"s.db\"\nflush_interval = \"100ms\"\npoll_interval = \"200ms\"\n"
            "[[source]]\nname = \"app\"\npaths = [\"logs/**/*.jsonl\"]\n");
  fs::create_directories(dir_ / "logs/a/b");
  setenv("SQTAIL_FAULT_MAX_WATCHES", "1", 1);
  auto p = start();
  unsetenv("SQTAIL_FAULT_MAX_WATCHES");
  Db db(dir_ / "s.db");
  waitStarted(db);
  appendText(dir_ / "logs/a/b/deep.jsonl", lines("deep", 0, 6));  // in an unwatched directory
  appendText(dir_ / "logs/top.jsonl", lines("top", 0, 2));
  ASSERT_TRUE(waitFor([&] { return countTag(db, "deep") == 6 && countTag(db, "top") == 2; }, 10s))
      << p.stderrText();
  appendText(dir_ / "logs/a/b/deep.jsonl", lines("deep", 6, 9));
  ASSERT_TRUE(waitFor([&] { return countTag(db, "deep") == 9; }, 10s));
  EXPECT_NE(p.stderrText().find("falling back to polling"), std::string::npos);
  expectExactlyOnce(db, "deep", 9);
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(5s), 0);
}

TEST_F(Rotation, BadLinesAreRejectsAndBomCrlfAndEmptyLinesAreHandled) {
  std::string content = "\xEF\xBB\xBF" + jsonLine("bad", 0);  // BOM at file start
  std::string crlf = jsonLine("bad", 1);
  crlf.insert(crlf.size() - 1, "\r");
  content += crlf + "\n  \n";
  content += std::string("{\"a\":\"x\0y\"}\n", 12);
  content += "{\"level\":\"info\",\"message\":\"" + std::string(3000, 'z') + "\"}\n";  // too long
  content += jsonLine("bad", 2);
  writeText(dir_ / "logs/bad.jsonl", content);
  std::string garbage;
  for (int i = 0; i < 20000; ++i) {
    const char c = static_cast<char>((i * 7919) % 251 + 1);
    garbage += c == '\n' ? '\x0b' : c;  // no newline inside: two 20 kB lines
  }
  writeText(dir_ / "logs/garbage.jsonl", garbage + "\n" + garbage + "\n");
  writeText(dir_ / "c.toml",
            "db = \"s.db\"\nmax_line_bytes = \"2KiB\"\nread_chunk_bytes = \"4KiB\"\n"
            "[[source]]\nname = \"app\"\npaths = [\"logs/*.jsonl\"]\n");
  ASSERT_EQ(once(), 0);
  Db db(dir_ / "s.db");
  expectExactlyOnce(db, "bad", 3);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM rejects WHERE reason = 'nul_byte'"), 1);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM rejects WHERE reason = 'line_too_long'"), 3);
  EXPECT_EQ(db.scalar("SELECT length(snippet) FROM rejects WHERE reason = 'line_too_long' LIMIT 1"),
            256);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events WHERE raw LIKE '%' || char(13) || '%'"), 0);
  EXPECT_EQ(db.scalar("SELECT line_no FROM events WHERE json_extract(raw, '$.seq') = 2"), 7);
}

// Debian's logrotate against a writer appending as fast as it can.
class Logrotate : public Rotation, public ::testing::WithParamInterface<std::string> {};

TEST_P(Logrotate, RealLogrotateAgainstAFastWriter) {
  if (system("command -v logrotate >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "logrotate is not installed";
  const std::string mode = GetParam();
  const std::string app = dir_ / "logs/app.jsonl";
  writeText(dir_ / "lr.conf",
            fmt::format("{} {{\n  rotate 50\n  {}\n  missingok\n  nocompress\n}}\n", app, mode));
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  writeText(app, "");
  // With `create`, the writer appends to whatever file has the name and never creates it
  // (logrotate does): a writer that creates it races logrotate's own create.
  const int create_flag = mode == "create" ? 0 : O_CREAT;
  std::thread writer([&] {
    for (int i = 0; !stop;) {
      const std::string line = jsonLine("w", i);
      int fd = ::open(app.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | create_flag, 0644);
      if (fd < 0) continue;  // between logrotate's rename and its create
      if (::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size())) {
        written = ++i;
      }
      ::close(fd);
    }
  });
  struct Join {
    std::atomic<bool>& stop;
    std::thread& t;
    ~Join() {
      stop = true;
      if (t.joinable()) t.join();
    }
  } join{stop, writer};
  ASSERT_TRUE(waitFor([&] { return written > 0; }, 10s));
  auto p = start();
  Db db(dir_ / "s.db");
  // Rotating before sqtail has seen the first file would test nothing of sqtail's.
  ASSERT_TRUE(waitFor([&] { return db.scalar("SELECT count(*) FROM files") == 1; }, 10s));
  for (int r = 0; r < 5; ++r) {
    const int before = written;
    ASSERT_TRUE(waitFor([&] { return written > before + 2000; }, 20s));
    ASSERT_EQ(system(fmt::format("logrotate -f -s '{}' '{}' 2>>'{}'", dir_ / "lr.state",
                                 dir_ / "lr.conf", dir_ / "lr.err")
                         .c_str()),
              0)
        << readFile(dir_ / "lr.err");
  }
  stop = true;
  writer.join();
  const int n = written;
  // Stop, then start again once: what the daemon had not finished (a rotated file still
  // draining) is finished from its checkpoint, as after any restart.
  p.signal(SIGTERM);
  ASSERT_EQ(p.wait(5s), 0) << p.stderrText();
  ASSERT_EQ(once(), 0);
  auto dup = db.scalar(
      "SELECT count(*) FROM (SELECT json_extract(raw, '$.seq') s FROM events GROUP BY s HAVING "
      "count(*) > 1)");
  EXPECT_EQ(dup, 0) << "duplicates";
  const auto got = db.scalar("SELECT count(DISTINCT json_extract(raw, '$.seq')) FROM events");
  RecordProperty("written", n);
  RecordProperty("stored", static_cast<int>(got));
  if (mode == "create") {
    EXPECT_EQ(got, n) << "create mode must be exact\n" << p.stderrText();
  } else {
    // copytruncate loses what the writer appends between logrotate's copy and its truncate:
    // no tailer can read bytes that no file holds any more. Report it; lose nothing else.
    // What is missing must be whole runs, at most one per rotation (the window).
    auto seqs =
        db.rows("SELECT DISTINCT json_extract(raw, '$.seq') + 0 AS s FROM events ORDER BY s");
    int gaps = 0;
    for (std::size_t i = 1; i < seqs.size(); ++i) {
      if (std::stoll(seqs[i][0]) != std::stoll(seqs[i - 1][0]) + 1) ++gaps;
    }
    EXPECT_LE(gaps, 5) << "lines lost outside logrotate's copy-to-truncate windows";
    fmt::print("copytruncate: {} written, {} stored, {} lost in logrotate's window\n", n, got,
               n - got);
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, Logrotate, ::testing::Values("create", "copytruncate"));

}  // namespace
}  // namespace sqtail::test
