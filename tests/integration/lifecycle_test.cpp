// Sidecar mode, reload and the one-sqtail-per-database lock, on the real binary.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <filesystem>

#include <fmt/core.h>
#include <gtest/gtest.h>

#include "harness.hpp"

extern char** environ;

namespace sqtail::test {
namespace {

std::string lines(const std::string& tag, int from, int to) {
  std::string s;
  for (int i = from; i < to; ++i) s += jsonLine(tag, i);
  return s;
}

std::int64_t countTag(Db& db, const std::string& tag) {
  return db.scalar(fmt::format(
      "SELECT count(*) FROM events WHERE json_extract(raw, '$.message') LIKE '{} line %'", tag));
}

TEST(Sidecar, ChildExitCodeIsOursAndEverythingItWroteIsCommitted) {
  TempDir dir;
  std::filesystem::create_directories(dir / "l");
  // A 60 s flush interval: only the drain at the child's exit can commit these in time.
  const std::string script = fmt::format(
      "i=0; while [ $i -lt 500 ]; do "
      "printf '{{\"level\":\"info\",\"message\":\"c line %d\",\"seq\":%d}}\\n' $i $i >> {}; "
      "i=$((i+1)); done; exit 3",
      dir / "l/a.jsonl");
  auto p = Process::start(
      {"run", "--db", "s.db", "--flush-interval", "60s", "l/*.jsonl", "--", "sh", "-c", script},
      dir.path(), dir.path());
  auto status = p.wait(60s);
  ASSERT_TRUE(status.has_value()) << p.stderrText();
  EXPECT_EQ(*status, 3) << p.stderrText();
  Db db(dir / "s.db");
  EXPECT_EQ(countTag(db, "c"), 500);
}

TEST(Sidecar, SigtermIsForwardedAndTheChildsLastWordsAreKept) {
  TempDir dir;
  std::filesystem::create_directories(dir / "l");
  const std::string log = dir / "l/a.jsonl";
  const std::string script = fmt::format(
      "trap 'printf \"{{\\\"message\\\":\\\"bye line 0\\\"}}\\\\n\" >> {}; exit 0' TERM; "
      "printf '{{\"message\":\"hi line 0\"}}\\n' >> {}; while true; do sleep 0.05; done",
      log, log);
  auto p = Process::start(
      {"run", "--db", "s.db", "--flush-interval", "60s", "l/*.jsonl", "--", "sh", "-c", script},
      dir.path(), dir.path());
  ASSERT_TRUE(waitFor([&] { return fileSize(log) > 0 && handlesSigterm(p.pid()); }, 10s));
  p.signal(SIGTERM);
  ASSERT_EQ(p.wait(20s), 0) << p.stderrText();
  Db db(dir / "s.db");
  EXPECT_EQ(countTag(db, "hi"), 1);
  EXPECT_EQ(countTag(db, "bye"), 1);
}

TEST(Sidecar, FollowPidDrainsAndExitsWhenTheProcessIsGone) {
  TempDir dir;
  writeText(dir / "l/a.jsonl", lines("f", 0, 20));
  pid_t sleeper = 0;
  std::vector<std::string> args_s = {"/bin/sleep", "600"};
  std::vector<char*> argv = {args_s[0].data(), args_s[1].data(), nullptr};
  ASSERT_EQ(posix_spawn(&sleeper, argv[0], nullptr, nullptr, argv.data(), environ), 0);
  auto p = Process::start({"run", "--db", "s.db", "--flush-interval", "60s", "--follow-pid",
                           std::to_string(sleeper), "l/*.jsonl"},
                          dir.path(), dir.path());
  ASSERT_TRUE(waitFor([&] { return bytesReadBy(p.pid()) > fileSize(dir / "l/a.jsonl"); }, 10s));
  EXPECT_FALSE(p.wait(0ms).has_value()) << "exited while the followed process lives";
  kill(sleeper, SIGKILL);
  waitpid(sleeper, nullptr, 0);
  ASSERT_EQ(p.wait(20s), 0) << p.stderrText();
  Db db(dir / "s.db");
  EXPECT_EQ(countTag(db, "f"), 20);
}

TEST(Lifecycle, OneSqtailPerDatabase) {
  TempDir dir;
  writeText(dir / "l/a.jsonl", lines("a", 0, 3));
  auto p = Process::start({"run", "--db", "s.db", "l/*.jsonl"}, dir.path(), dir.path());
  ASSERT_TRUE(waitFor([&] { return handlesSigterm(p.pid()); }, 10s));
  std::string err;
  EXPECT_EQ(runSqtail({"run", "--once", "--db", "s.db", "l/*.jsonl"}, dir.path(), 30s, &err), 1);
  EXPECT_NE(err.find("already running"), std::string::npos) << err;
  p.signal(SIGTERM);
  ASSERT_EQ(p.wait(5s), 0);
  EXPECT_EQ(runSqtail({"run", "--once", "--db", "s.db", "l/*.jsonl"}, dir.path()), 0);
}

TEST(Lifecycle, ReloadAddsAndRemovesSourcesWithoutLossOrDuplicates) {
  TempDir dir;
  auto config = [&](const std::string& sources) {
    writeText(dir / "c.toml", "db = \"s.db\"\nflush_interval = \"100ms\"\n" + sources);
  };
  const std::string a = "[[source]]\nname = \"a\"\npaths = [\"la/*.jsonl\"]\n";
  const std::string b = "[[source]]\nname = \"b\"\npaths = [\"lb/*.jsonl\"]\n";
  config(a);
  writeText(dir / "la/x.jsonl", lines("a", 0, 10));
  writeText(dir / "lb/y.jsonl", lines("b", 0, 5));
  auto p = Process::start({"run", "-c", "c.toml"}, dir.path(), dir.path());
  Db db(dir / "s.db");
  ASSERT_TRUE(waitFor([&] { return countTag(db, "a") == 10; }, 10s)) << p.stderrText();
  EXPECT_EQ(countTag(db, "b"), 0);

  auto reload = [&] {
    std::string err;
    ASSERT_EQ(runSqtail({"reload", "--db", "s.db"}, dir.path(), 10s, &err), 0) << err;
  };
  config(b);  // b added, a removed
  reload();
  ASSERT_TRUE(waitFor([&] { return countTag(db, "b") == 5; }, 10s)) << p.stderrText();
  appendText(dir / "la/x.jsonl", lines("a", 10, 15));  // a is not followed now
  appendText(dir / "lb/y.jsonl", lines("b", 5, 8));
  ASSERT_TRUE(waitFor([&] { return countTag(db, "b") == 8; }, 10s));
  EXPECT_EQ(countTag(db, "a"), 10);
  // a's file was closed under its own name (once checkpointed as the new sources[0], "b").
  EXPECT_EQ(db.rows("SELECT source FROM files WHERE path LIKE '%/x.jsonl'").at(0).at(0), "a");

  writeText(dir / "c.toml", "db = \"s.db\"\nflush_intervall = \"1s\"\n");  // a typo
  reload();
  ASSERT_TRUE(
      waitFor([&] { return p.stderrText().find("reload rejected") != std::string::npos; }, 10s));
  appendText(dir / "lb/y.jsonl", lines("b", 8, 9));  // the old config still runs
  ASSERT_TRUE(waitFor([&] { return countTag(db, "b") == 9; }, 10s));

  config(a + b);  // a back: it resumes where it stopped
  reload();
  ASSERT_TRUE(waitFor([&] { return countTag(db, "a") == 15; }, 10s)) << p.stderrText();
  p.signal(SIGTERM);
  ASSERT_EQ(p.wait(5s), 0);
  EXPECT_EQ(
      db.scalar("SELECT count(*) FROM (SELECT raw FROM events GROUP BY raw HAVING count(*) > 1)"),
      0);
  EXPECT_EQ(countTag(db, "a"), 15);
  EXPECT_EQ(countTag(db, "b"), 9);
}

// A source renamed on reload: its files are closed under the old name and found again
// under the new one, with the same ids, resuming where they were (no crash: the old File
// objects once stayed referenced after the new ones replaced them).
TEST(Lifecycle, ReloadThatRenamesASourceResumesItsFilesOnce) {
  TempDir dir;
  auto config = [&](const std::string& name, const std::string& extra = "") {
    writeText(dir / "c.toml", "db = \"s.db\"\nflush_interval = \"100ms\"\n" + extra +
                                  "[[source]]\nname = \"" + name +
                                  "\"\npaths = [\"l/*.jsonl\"]\n"
                                  "[[source]]\nname = \"other\"\npaths = [\"o/*.jsonl\"]\n");
  };
  config("app");
  writeText(dir / "l/x.jsonl", lines("x", 0, 10));
  writeText(dir / "o/y.jsonl", lines("y", 0, 3));
  auto p = Process::start({"run", "-c", "c.toml"}, dir.path(), dir.path());
  Db db(dir / "s.db");
  ASSERT_TRUE(waitFor([&] { return countTag(db, "x") == 10 && countTag(db, "y") == 3; }, 10s))
      << p.stderrText();
  auto reload = [&] {
    std::string err;
    ASSERT_EQ(runSqtail({"reload", "--db", "s.db"}, dir.path(), 10s, &err), 0) << err;
  };
  config("api");
  reload();
  ASSERT_TRUE(waitFor(
      [&] { return p.stderrText().find("configuration reloaded") != std::string::npos; }, 10s))
      << p.stderrText();
  appendText(dir / "l/x.jsonl", lines("x", 10, 15));
  appendText(dir / "o/y.jsonl", lines("y", 3, 4));
  ASSERT_TRUE(waitFor([&] { return countTag(db, "x") == 15 && countTag(db, "y") == 4; }, 10s))
      << p.stderrText();
  EXPECT_TRUE(p.running());
  EXPECT_EQ(db.scalar("SELECT count(*) FROM files"), 2);
  EXPECT_EQ(db.rows("SELECT source FROM files WHERE path LIKE '%/x.jsonl'").at(0).at(0), "api");
  EXPECT_EQ(db.rows("SELECT source FROM files WHERE path LIKE '%/y.jsonl'").at(0).at(0), "other");

  // A new file sink cannot be added by a reload (its writer opens sinks at start-up): refused,
  // and the running configuration goes on.
  config("api", "[sink.files.copy]\ndir = \"out\"\npath = \"{category}.jsonl\"\n");
  reload();
  ASSERT_TRUE(waitFor(
      [&] {
        return p.stderrText().find("[sink.postgres] changes take effect at restart") !=
               std::string::npos;
      },
      10s))
      << p.stderrText();
  appendText(dir / "l/x.jsonl", lines("x", 15, 16));
  ASSERT_TRUE(waitFor([&] { return countTag(db, "x") == 16; }, 10s)) << p.stderrText();
  p.signal(SIGTERM);
  ASSERT_EQ(p.wait(5s), 0) << p.stderrText();
  EXPECT_EQ(
      db.scalar("SELECT count(*) FROM (SELECT raw FROM events GROUP BY raw HAVING count(*) > 1)"),
      0);
}

}  // namespace
}  // namespace sqtail::test
