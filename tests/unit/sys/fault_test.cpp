// The fault seam: SQTAIL_FAULTS's grammar, which calls each option fails, and the sys/
// wrappers' behaviour under EINTR, short reads and writes, and injected errors.
#include "sys/fault.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "sink/sqlite/fault_vfs.hpp"
#include "sys/sys.hpp"

namespace sqtail::sys {
namespace {

using fault::Op;
using fault::Rule;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sqtail-sys-XXXXXX").string();
    path_ = mkdtemp(tmpl.data()) != nullptr ? tmpl : "";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void writeFile(const std::string& path, const std::string& text) {
  auto fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_TRUE(fd) << fd.error().message();
  ASSERT_TRUE(writeAll(fd->get(), text.data(), text.size()));
}

// Every test starts and ends with no rules.
class Fault : public ::testing::Test {
 protected:
  void SetUp() override { fault::reset(); }
  void TearDown() override { fault::reset(); }
  static void configure(const std::string& spec) {
    auto r = fault::configure(spec);
    ASSERT_TRUE(r) << r.error();
  }
};

TEST(FaultGrammar, ParsesEveryPartOfARule) {
  auto rules = fault::parse(
      "write:ENOSPC:after=100:count=50,open:EMFILE:p=0.1,read:short,"
      "inotify_add_watch:EACCES:path=/logs/b,*:EINTR,sqlite_sync:EIO");
  ASSERT_TRUE(rules) << rules.error();
  ASSERT_EQ(rules->size(), 6u);
  EXPECT_EQ((*rules)[0], (Rule{Op::kWrite, ENOSPC, 100, 50, 1, ""}));
  EXPECT_EQ((*rules)[1], (Rule{Op::kOpen, EMFILE, 0, UINT64_MAX, 0.1, ""}));
  EXPECT_EQ((*rules)[2], (Rule{Op::kRead, fault::kShort, 0, UINT64_MAX, 1, ""}));
  EXPECT_EQ((*rules)[3], (Rule{Op::kInotifyAddWatch, EACCES, 0, UINT64_MAX, 1, "/logs/b"}));
  EXPECT_EQ((*rules)[4], (Rule{Op::kAny, EINTR, 0, UINT64_MAX, 1, ""}));
  EXPECT_EQ((*rules)[5], (Rule{Op::kSqliteSync, EIO, 0, UINT64_MAX, 1, ""}));
}

TEST(FaultGrammar, EmptyRulesAreNothing) {
  auto rules = fault::parse("");
  ASSERT_TRUE(rules);
  EXPECT_TRUE(rules->empty());
  rules = fault::parse("read:EIO,");
  ASSERT_TRUE(rules);
  EXPECT_EQ(rules->size(), 1u);
}

TEST(FaultGrammar, RejectsWhatItDoesNotKnowNamingTheRule) {
  const std::pair<const char*, const char*> cases[] = {
      {"read", "expected OP:EFFECT"},
      {"reed:EIO", "unknown op 'reed'"},
      {"read:EFOO", "unknown effect 'EFOO'"},
      {"open:short", "'short' applies to read and write only"},
      {"sqlite_write:EINTR", "not an effect for sqlite_ ops"},
      {"read:EIO:after=x", "after= wants a whole number"},
      {"read:EIO:count=-1", "count= wants a whole number"},
      {"read:EIO:p=1.5", "p= wants a number from 0 to 1"},
      {"read:EIO:p=", "p= wants a number from 0 to 1"},
      {"read:EIO:path=", "path= wants a non-empty string"},
      {"read:EIO:when=3", "unknown option 'when'"},
      {"read:EIO:count", "needs a value"},
  };
  for (const auto& [spec, why] : cases) {
    auto rules = fault::parse(std::string("open:EIO,") + spec);
    ASSERT_FALSE(rules) << spec;
    EXPECT_NE(rules.error().find(why), std::string::npos) << spec << ": " << rules.error();
    EXPECT_NE(rules.error().find(std::string("rule '") + spec + "'"), std::string::npos)
        << rules.error();
  }
}

TEST(FaultGrammar, OpNamesRoundTrip) {
  for (Op op :
       {Op::kOpen, Op::kRead, Op::kWrite, Op::kFsync, Op::kTruncate, Op::kStat, Op::kOpendir,
        Op::kUnlink, Op::kInotifyAddWatch, Op::kSqliteWrite, Op::kSqliteSync, Op::kAny}) {
    auto rules = fault::parse(std::string(fault::opName(op)) + ":EIO");
    ASSERT_TRUE(rules) << fault::opName(op);
    EXPECT_EQ(rules->at(0).op, op);
  }
}

TEST_F(Fault, NothingFailsWithoutRules) {
  TempDir dir;
  writeFile(dir / "a", "x");
  EXPECT_EQ(fault::check(Op::kOpen, "anything"), 0);
  EXPECT_TRUE(openRead(dir / "a"));
  EXPECT_EQ(fault::injected(), 0u);
  EXPECT_FALSE(fault::wantsSqlite());
}

TEST_F(Fault, AfterAndCountChooseWhichCallsFail) {
  TempDir dir;
  writeFile(dir / "a", "x");
  configure("open:EMFILE:after=2:count=3");
  std::vector<int> codes;
  for (int i = 0; i < 7; ++i) {
    auto fd = openRead(dir / "a");
    codes.push_back(fd ? 0 : fd.error().code);
  }
  EXPECT_EQ(codes, (std::vector<int>{0, 0, EMFILE, EMFILE, EMFILE, 0, 0}));
  EXPECT_EQ(fault::injected(), 3u);
  auto fd = openRead(dir / "a");
  ASSERT_TRUE(fd);
  EXPECT_TRUE(fstat(fd->get())) << "other ops are not affected";
}

TEST_F(Fault, PathSelectsCallsByNameAndDescriptorsByTheirTarget) {
  TempDir dir;
  writeFile(dir / "ok.txt", "fine\n");
  writeFile(dir / "bad.txt", "fails\n");
  configure("open:EACCES:path=/bad,read:EIO:path=ok.txt");
  auto bad = openRead(dir / "bad.txt");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, EACCES);
  EXPECT_EQ(bad.error().message(), "open " + dir / "bad.txt" + ": Permission denied");
  auto ok = openRead(dir / "ok.txt");
  ASSERT_TRUE(ok);
  char buf[16];
  auto got = preadFull(ok->get(), buf, sizeof buf, 0);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, EIO);
}

TEST_F(Fault, ProbabilityFailsAboutThatShareTheSameWayEachRun) {
  TempDir dir;
  auto pattern = [&] {
    configure("stat:EIO:p=0.3");
    std::vector<bool> failed;
    failed.reserve(1000);
    for (int i = 0; i < 1000; ++i) failed.push_back(!stat(dir.path()));
    return failed;
  };
  const auto first = pattern();
  const auto failures = std::count(first.begin(), first.end(), true);
  EXPECT_GT(failures, 230);
  EXPECT_LT(failures, 370);
  EXPECT_EQ(pattern(), first);
}

TEST_F(Fault, FirstMatchingRuleDecides) {
  configure("stat:ENOENT:count=1,stat:EIO:count=1,*:EACCES:count=1");
  EXPECT_EQ(fault::check(Op::kStat, "x"), ENOENT);
  EXPECT_EQ(fault::check(Op::kStat, "x"), EIO);
  EXPECT_EQ(fault::check(Op::kStat, "x"), EACCES);
  EXPECT_EQ(fault::check(Op::kStat, "x"), 0);
}

TEST_F(Fault, AnyOpLeavesSqliteAlone) {
  configure("*:EIO");
  EXPECT_EQ(fault::check(Op::kUnlink, "x"), EIO);
  EXPECT_EQ(fault::check(Op::kSqliteWrite, "x"), 0);
  EXPECT_FALSE(fault::wantsSqlite());
  configure("sqlite_write:ENOSPC");
  EXPECT_TRUE(fault::wantsSqlite());
}

TEST_F(Fault, EveryCallInterruptedOnceStillWorks) {
  TempDir dir;
  configure("*:EINTR");
  const std::string text(100'000, 'x');
  writeFile(dir / "a", text);
  auto fd = open(dir / "a", O_RDWR);
  ASSERT_TRUE(fd) << fd.error().message();
  std::string back(text.size(), '\0');
  auto got = preadFull(fd->get(), back.data(), back.size(), 0);
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(*got, text.size());
  EXPECT_EQ(back, text);
  EXPECT_TRUE(stat(dir / "a"));
  EXPECT_TRUE(lstat(dir / "a"));
  EXPECT_TRUE(fstat(fd->get()));
  EXPECT_TRUE(pwriteAll(fd->get(), "yy", 2, 0));
  EXPECT_TRUE(fsync(fd->get()));
  EXPECT_TRUE(fdatasync(fd->get()));
  EXPECT_TRUE(ftruncate(fd->get(), 10));
  auto listed = listDir(dir.path());
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->size(), 1u);
  EXPECT_TRUE(unlink(dir / "a"));
  EXPECT_GE(fault::injected(), 12u);
}

TEST_F(Fault, ShortReadsAndWritesAreCompletedByTheLoops) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 5000; ++i) text += "line " + std::to_string(i) + "\n";
  configure("read:short,write:short");
  writeFile(dir / "a", text);
  const auto after_write = fault::injected();
  EXPECT_GT(after_write, 5u) << "the write was split";
  auto fd = openRead(dir / "a");
  ASSERT_TRUE(fd);
  std::string back(text.size() + 10, '\0');
  auto got = preadFull(fd->get(), back.data(), back.size(), 0);
  ASSERT_TRUE(got);
  ASSERT_EQ(*got, text.size());
  EXPECT_EQ(back.substr(0, *got), text);
  EXPECT_GT(fault::injected(), after_write + 5);
  // One read(2) is short, and says so.
  auto again = openRead(dir / "a");
  ASSERT_TRUE(again);
  char buf[64];
  auto one = readSome(again->get(), buf, sizeof buf);
  ASSERT_TRUE(one);
  EXPECT_EQ(*one, sizeof buf / 2);
}

TEST_F(Fault, ErrorsOfEveryWrapperCarryTheInjectedErrno) {
  TempDir dir;
  writeFile(dir / "a", "abc");
  auto fd = open(dir / "a", O_RDWR);
  ASSERT_TRUE(fd);
  configure("write:ENOSPC,fsync:EIO,truncate:EFBIG,unlink:EPERM,opendir:EACCES,stat:ENOENT");
  EXPECT_EQ(writeAll(fd->get(), "x", 1).error().code, ENOSPC);
  EXPECT_EQ(pwriteAll(fd->get(), "x", 1, 0).error().code, ENOSPC);
  EXPECT_EQ(writeSome(fd->get(), "x", 1).error().code, ENOSPC);
  EXPECT_EQ(fsync(fd->get()).error().code, EIO);
  EXPECT_EQ(fdatasync(fd->get()).error().code, EIO);
  EXPECT_EQ(ftruncate(fd->get(), 0).error().code, EFBIG);
  EXPECT_EQ(unlink(dir / "a").error().code, EPERM);
  EXPECT_EQ(listDir(dir.path()).error().code, EACCES);
  EXPECT_EQ(stat(dir / "a").error().code, ENOENT);
  fault::reset();
  auto st = stat(dir / "a");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->st_size, 3) << "nothing was written";
}

TEST_F(Fault, WatchingADirectoryCanBeRefused) {
  TempDir dir;
  std::filesystem::create_directories(dir / "ok");
  std::filesystem::create_directories(dir / "denied");
  Fd in(inotify_init1(IN_CLOEXEC));
  ASSERT_TRUE(in.valid());
  configure("inotify_add_watch:EACCES:path=/denied");
  EXPECT_TRUE(inotifyAddWatch(in.get(), dir / "ok", IN_MODIFY));
  auto refused = inotifyAddWatch(in.get(), dir / "denied", IN_MODIFY);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, EACCES);
  EXPECT_EQ(refused.error().what, "inotify_add_watch " + dir / "denied");
}

TEST_F(Fault, CountsHoldAcrossThreads) {
  configure("stat:EIO:after=100:count=1000");
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        if (fault::check(Op::kStat, "x") != 0) failures++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 1000);
  EXPECT_EQ(fault::injected(), 1000u);
}

// The fault VFS under a real connection: a full disk fails the commit (nothing of the
// transaction stays), and once the fault clears the same statements succeed.
TEST_F(Fault, SqliteWritesAndSyncsFailThroughTheFaultVfs) {
  TempDir dir;
  configure("sqlite_write:ENOSPC:after=1000000,sqlite_sync:EIO:after=1000000");
  sink::registerFaultVfs();  // the first call decides: the rules name sqlite_ ops
  ASSERT_NE(sqlite3_vfs_find(nullptr), nullptr);
  EXPECT_STREQ(sqlite3_vfs_find(nullptr)->zName, "sqtail-fault");

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "t.db").c_str(), &db), SQLITE_OK);
  sqlite3_extended_result_codes(db, 1);
  auto exec = [&](const char* sql) { return sqlite3_exec(db, sql, nullptr, nullptr, nullptr); };
  ASSERT_EQ(exec("PRAGMA journal_mode = WAL"), SQLITE_OK);
  ASSERT_EQ(exec("PRAGMA synchronous = FULL"), SQLITE_OK);
  ASSERT_EQ(exec("CREATE TABLE t(x)"), SQLITE_OK);
  ASSERT_EQ(exec("INSERT INTO t VALUES(1)"), SQLITE_OK);

  configure("sqlite_write:ENOSPC:count=1:path=t.db");
  EXPECT_EQ(exec("INSERT INTO t VALUES(2)"), SQLITE_FULL);
  EXPECT_EQ(exec("INSERT INTO t VALUES(3)"), SQLITE_OK);
  configure("sqlite_write:EIO:count=1");
  EXPECT_EQ(exec("INSERT INTO t VALUES(4)"), SQLITE_IOERR_WRITE);
  configure("sqlite_sync:EIO:count=1");
  EXPECT_EQ(exec("INSERT INTO t VALUES(5)"), SQLITE_IOERR_FSYNC);
  configure("sqlite_sync:ENOSPC:count=1");
  EXPECT_EQ(exec("INSERT INTO t VALUES(6)") & 0xff, SQLITE_FULL);
  fault::reset();
  // A failed sync may leave the connection needing a rollback before it writes again.
  sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  EXPECT_EQ(exec("INSERT INTO t VALUES(7)"), SQLITE_OK);

  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT group_concat(x) FROM t WHERE x IN (1, 2, 3, 4, 7)", -1,
                               &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  // The failed writes left nothing; what a failed sync leaves is SQLite's business.
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "1,3,7");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

}  // namespace
}  // namespace sqtail::sys
