// The category file sink (issue 4): path templates, the handle pool, and the sink's
// exactly-once contract (recover, lengthsBefore, write and its undo), on real files.
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "sink/files/file_sink.hpp"
#include "sink/files/handle_pool.hpp"
#include "sink/files/path_template.hpp"
#include "sink/files/time_zone.hpp"
#include "sys/fault.hpp"

namespace sqtail::sink {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/sqtail-files-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    // Undo any chmod of a test so that the removal can go everywhere.
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(path_, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory())
        fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
    }
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::int64_t sizeOf(const fs::path& p) {
  std::error_code ec;
  const auto n = fs::file_size(p, ec);
  return ec ? -1 : static_cast<std::int64_t>(n);
}

bool validUtf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

// Lines kept alive for the string_views of a batch.
struct Batch {
  std::vector<std::pair<std::string, std::string>> rows;  // path, line
  std::vector<FileSink::Output> outputs() const {
    std::vector<FileSink::Output> out;
    for (const auto& [p, l] : rows) out.push_back({p, l});
    return out;
  }
  void add(std::string path, std::string line) {
    rows.emplace_back(std::move(path), std::move(line));
  }
  // What each file should hold after this batch, per path.
  std::map<std::string, std::string> contents() const {
    std::map<std::string, std::string> out;
    for (const auto& [p, l] : rows) out[p] += l + "\n";
    return out;
  }
};

FileSink::Settings settingsFor(const fs::path& dir, std::size_t max_open = 64) {
  FileSink::Settings s;
  s.name = "test";
  s.dir = dir;
  s.max_open_files = max_open;
  s.handle_idle = 60s;
  return s;
}

// 2026-11-22T23:30:00Z
constexpr std::int64_t kTs = 1795390200000;

// ---------------------------------------------------------------- PathTemplate

TEST(PathTemplate, ParseErrorsNameTheProblem) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{foo}.jsonl", "unknown placeholder '{foo}'"},
      {"{DATE}.jsonl", "'{DATE}'"},
      {"{}.jsonl", "'{}'"},
      {"{date/x.jsonl", "unbalanced '{'"},
      {"{date{category}}.jsonl", "unbalanced '{'"},
      {"x}.jsonl", "unbalanced '}'"},
      {"/var/log/{date}.jsonl", "absolute"},
      {"../{date}.jsonl", "'..' segment"},
      {"a/../{date}.jsonl", "'..' segment"},
      {"./{date}.jsonl", "'.' segment"},
      {"a//{date}.jsonl", "empty segment"},
      {"{date}/", "ends with '/'"},
      {"", "empty"},
      {"{/a~2b}.jsonl", "'{/a~2b}' is not a JSON pointer"},
      {"a\\b/{date}", "control character"},
      {std::string("a\x01/{date}"), "control character"},
      {std::string(300, 'x') + "/{date}", "longer than 255"},
  };
  for (const auto& [text, want] : cases) {
    auto t = PathTemplate::parse(text);
    ASSERT_FALSE(t.has_value()) << text;
    EXPECT_NE(t.error().find(want), std::string::npos) << text << " -> " << t.error();
    EXPECT_NE(t.error().find("path template"), std::string::npos) << t.error();
  }
}

TEST(PathTemplate, AcceptsTheDocumentedForms) {
  for (const char* text :
       {"{date}/{category}.jsonl", "{date}/{level}.jsonl", "{source}/{/ctx/module}.jsonl",
        "{host}/{date}/{hour}/{source}.log", "out.jsonl", "a.b/..x/{level}...jsonl", "{/}.jsonl"}) {
    EXPECT_TRUE(PathTemplate::parse(text).has_value()) << text;
  }
}

TEST(PathTemplate, ListsDistinctPointersInOrder) {
  auto t = PathTemplate::parse("{source}/{/ctx/module}/{/a~1b}-{/ctx/module}.jsonl");
  ASSERT_TRUE(t.has_value()) << t.error();
  EXPECT_EQ(t->pointers(), (std::vector<std::string>{"/ctx/module", "/a~1b"}));
  EXPECT_FALSE(t->usesTime());
  auto d = PathTemplate::parse("{date}/{category}.jsonl");
  EXPECT_TRUE(d->pointers().empty());
  EXPECT_TRUE(d->usesTime());
}

TEST(PathTemplate, RendersEveryPlaceholder) {
  auto t = PathTemplate::parse("{date}/{hour}/{source}-{host}-{level}-{category}-{/x}-{/y}.jsonl");
  ASSERT_TRUE(t.has_value()) << t.error();
  const std::optional<std::string_view> ptrs[] = {"vx", std::nullopt};
  PathTemplate::Values v;
  v.ts_ms = kTs;
  v.source = "app";
  v.host = "h1";
  v.level = "warn";
  v.category = "db";
  v.pointers = ptrs;
  std::string out;
  t->render(v, out);
  EXPECT_EQ(out, "2026-11-22/23/app-h1-warn-db-vx-unknown.jsonl");

  // Missing values and no timestamp: "unknown", and the time is now_ms.
  PathTemplate::Values empty;
  empty.now_ms = 86400000 + 3600000 * 5;  // 1970-01-02T05:00Z
  t->render(empty, out);
  EXPECT_EQ(out, "1970-01-02/05/unknown-unknown-unknown-unknown-unknown-unknown.jsonl");
}

TEST(PathTemplate, FixedOffsetsMoveDateAndHour) {
  const std::vector<std::pair<std::string, std::string>> cases = {{"UTC", "2026-11-22/23"},
                                                                  {"+02:00", "2026-11-23/01"},
                                                                  {"-05:30", "2026-11-22/18"},
                                                                  {"+0530", "2026-11-23/05"},
                                                                  {"-08", "2026-11-22/15"}};
  for (const auto& [zone, want] : cases) {
    auto tz = TimeZone::load(zone);
    ASSERT_TRUE(tz.has_value()) << tz.error();
    auto t = PathTemplate::parse("{date}/{hour}", *tz);
    ASSERT_TRUE(t.has_value());
    PathTemplate::Values v;
    v.ts_ms = kTs;
    std::string out;
    t->render(v, out);
    EXPECT_EQ(out, want) << zone;
  }
  for (const char* bad : {"+25:00", "+02:60", "2:00", "+2", "Mars/Olympus", "../etc/passwd",
                          "/etc/localtime", "Europe//Berlin"}) {
    auto tz = TimeZone::load(bad);
    ASSERT_FALSE(tz.has_value()) << bad;
    EXPECT_NE(tz.error().find(bad), std::string::npos) << tz.error();
  }
}

// IANA zones from the TZif files agree with the C library (TZ set in this test only), from
// 1900 to 2100: past the last transition the file's POSIX rule decides.
TEST(PathTemplate, IanaZonesAgreeWithTheCLibrary) {
  if (!fs::exists("/usr/share/zoneinfo/Europe/Berlin")) GTEST_SKIP() << "no tzdata";
  const char* old_tz = std::getenv("TZ");
  const std::string saved = old_tz ? old_tz : "";
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<std::int64_t> when(-2208988800LL, 4102444800LL);  // 1900-2100
  for (const char* zone : {"Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata",
                           "America/Sao_Paulo", "Pacific/Chatham", "Europe/Dublin",
                           "Africa/Casablanca", "UTC", "Etc/GMT+5"}) {
    auto tz = TimeZone::load(zone);
    ASSERT_TRUE(tz.has_value()) << tz.error();
    ::setenv("TZ", zone, 1);
    ::tzset();
    int mismatches = 0;
    for (int i = 0; i < 4000; ++i) {
      const std::int64_t t = when(rng);
      const time_t tt = static_cast<time_t>(t);
      struct tm lt {};
      ASSERT_NE(::localtime_r(&tt, &lt), nullptr);
      const CivilHour c = tz->civil(t * 1000);
      if (c.year != lt.tm_year + 1900 || c.month != static_cast<unsigned>(lt.tm_mon + 1) ||
          c.day != static_cast<unsigned>(lt.tm_mday) ||
          c.hour != static_cast<unsigned>(lt.tm_hour)) {
        if (++mismatches <= 3) {
          ADD_FAILURE() << zone << " at " << t << ": " << c.year << "-" << c.month << "-" << c.day
                        << " " << c.hour << "h, libc says " << lt.tm_year + 1900 << "-"
                        << lt.tm_mon + 1 << "-" << lt.tm_mday << " " << lt.tm_hour << "h";
        }
      }
    }
    EXPECT_EQ(mismatches, 0) << zone;
  }
  if (old_tz) {
    ::setenv("TZ", saved.c_str(), 1);
  } else {
    ::unsetenv("TZ");
  }
  ::tzset();
}

TEST(PathTemplate, DaylightSavingSwitchInBerlin) {
  if (!fs::exists("/usr/share/zoneinfo/Europe/Berlin")) GTEST_SKIP() << "no tzdata";
  auto tz = TimeZone::load("Europe/Berlin");
  ASSERT_TRUE(tz.has_value()) << tz.error();
  auto t = PathTemplate::parse("{date}T{hour}", *tz);
  PathTemplate::Values v;
  std::string out;
  v.ts_ms = 1774745999000;  // 2026-03-29T00:59:59Z: 01:59 CET
  t->render(v, out);
  EXPECT_EQ(out, "2026-03-29T01");
  v.ts_ms = 1774746000000;  // 01:00Z: 03:00 CEST
  t->render(v, out);
  EXPECT_EQ(out, "2026-03-29T03");
  v.ts_ms = 2224814400000;  // 2040-07-02T04:00Z, after the file's transitions: CEST
  t->render(v, out);
  EXPECT_EQ(out, "2040-07-02T06");
}

TEST(PathTemplate, SanitizesEachValue) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"a/b", "a_b"},
      {"a\\b", "a_b"},
      {".", "_"},
      {"..", "_"},
      {".hidden", "_hidden"},
      {"...", "_.."},
      {"", "unknown"},
      {"\x01x", "_x"},
      {std::string("a\0b", 3), "a_b"},
      {"\x7f", "_"},
      {"tab\there", "tab_here"},
      {"\xff\xfe", "__"},
      {"\xc3\x28", "_("},
      {"\xc0\xaf", "__"},       // overlong '/'
      {"\xed\xa0\x80", "___"},  // a surrogate
      {"a\xc2\x85z", "a_z"},    // C1 control NEL
      {"caf\xc3\xa9", "caf\xc3\xa9"},
      {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},
      {"\xe2\x82", "__"},  // truncated sequence
  };
  for (const auto& [in, want] : cases) {
    std::string out;
    sanitizeComponent(in, 100, out);
    EXPECT_EQ(out, want) << "input bytes: " << in.size();
  }
  // Bounded on a character boundary.
  std::string out;
  sanitizeComponent(std::string(10000, 'a'), 100, out);
  EXPECT_EQ(out, std::string(100, 'a'));
  std::string euros = "ab";
  for (int i = 0; i < 40; ++i) euros += "\xe2\x82\xac";
  out.clear();
  sanitizeComponent(euros, 100, out);
  EXPECT_EQ(out.size(), 98u);
  EXPECT_TRUE(validUtf8(out));
}

TEST(PathTemplate, HostileValuesCannotEscapeTheDir) {
  TempDir tmp;
  const fs::path dir = tmp.path() / "out";
  std::string invalid;
  for (int b = 0x80; b < 0x100; ++b) invalid += static_cast<char>(b);
  std::string dots;
  for (int i = 0; i < 3500; ++i) dots += "../";
  std::string long_utf8;
  for (int i = 0; i < 300; ++i) long_utf8 += "\xc3\xa9";
  const std::vector<std::string> hostile = {"../../etc/passwd",
                                            "a/../../b",
                                            "\x01",
                                            "..",
                                            ".",
                                            "/",
                                            "/etc/passwd",
                                            "",
                                            dots,
                                            std::string(10240, 'x'),
                                            invalid,
                                            "\\..\\..",
                                            std::string("a\0b", 3),
                                            "~",
                                            long_utf8,
                                            "..\xc0\xaf..\xc0\xaf",
                                            " ",
                                            "-rf",
                                            std::string("\n\r\t", 3)};

  auto t = PathTemplate::parse("{source}/{category}{level}/{/m}.jsonl");
  ASSERT_TRUE(t.has_value()) << t.error();
  FileSink sink(settingsFor(dir, 1024));
  Batch batch;
  std::string out;
  for (const auto& a : hostile) {
    for (const auto& b : hostile) {
      const std::optional<std::string_view> ptrs[] = {std::string_view(b)};
      PathTemplate::Values v;
      v.ts_ms = kTs;
      v.source = a;
      v.category = b;
      v.level = a;
      v.pointers = ptrs;
      t->render(v, out);
      ASSERT_TRUE(isSafeRelativePath(out)) << out;
      EXPECT_TRUE(validUtf8(out)) << out;
      std::size_t segments = 0;
      for (std::size_t s = 0, e; s <= out.size(); s = e + 1) {
        e = out.find('/', s);
        if (e == std::string::npos) e = out.size();
        EXPECT_LE(e - s, 255u) << out;
        EXPECT_NE(out[s], '.') << out;
        ++segments;
      }
      EXPECT_EQ(segments, 3u) << out;
      for (char c : out) EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20 || c == '\\') << out;
      const fs::path full = (dir / out).lexically_normal();
      EXPECT_EQ(full.string().rfind(dir.string() + "/", 0), 0u) << full;
      batch.add(out, "x");
    }
  }
  // Writing them creates files under dir only.
  auto w = sink.write(batch.outputs());
  ASSERT_TRUE(w.has_value()) << w.error();
  std::size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(tmp.path())) {
    if (!e.is_regular_file()) continue;
    ++files;
    const fs::path canon = fs::canonical(e.path());
    EXPECT_EQ(canon.string().rfind(fs::canonical(dir).string() + "/", 0), 0u) << canon;
  }
  EXPECT_EQ(files, batch.contents().size());
}

// ---------------------------------------------------------------- HandlePool

TEST(HandlePool, EvictsLeastRecentlyUsedAtTheCap) {
  TempDir tmp;
  HandlePool pool(tmp.path(), {5, 60s});
  const auto t0 = HandlePool::Clock::time_point{} + 1h;
  for (int i = 0; i < 5; ++i) {
    auto h = pool.acquire(fmt::format("f{}.jsonl", i), t0 + std::chrono::seconds(i));
    ASSERT_TRUE(h.has_value()) << h.error();
    EXPECT_TRUE(h->opened);
    EXPECT_EQ(h->size_at_open, 0);
  }
  EXPECT_EQ(pool.counters().open_now, 5u);
  EXPECT_EQ(pool.counters().opens, 5u);
  auto again = pool.acquire("f0.jsonl", t0 + 10s);  // f0 is now the most recent
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(again->opened);
  EXPECT_EQ(pool.counters().opens, 5u);

  ASSERT_TRUE(pool.acquire("f5.jsonl", t0 + 11s).has_value());
  EXPECT_EQ(pool.counters().evictions, 1u);  // 20 % of 5
  EXPECT_EQ(pool.counters().open_now, 5u);
  EXPECT_TRUE(pool.isOpen("f0.jsonl"));
  EXPECT_FALSE(pool.isOpen("f1.jsonl"));
  EXPECT_TRUE(pool.isOpen("f2.jsonl"));

  HandlePool big(tmp.path(), {10, 60s});
  for (int i = 0; i < 11; ++i) ASSERT_TRUE(big.acquire(fmt::format("g{}", i), t0).has_value());
  EXPECT_EQ(big.counters().evictions, 2u);  // 20 % of 10
  EXPECT_EQ(big.counters().open_now, 9u);
  EXPECT_FALSE(big.isOpen("g0"));
  EXPECT_FALSE(big.isOpen("g1"));
  EXPECT_TRUE(big.isOpen("g10"));
}

TEST(HandlePool, ClosesIdleHandles) {
  TempDir tmp;
  HandlePool pool(tmp.path(), {64, 60s});
  const auto t0 = HandlePool::Clock::time_point{} + 1h;
  ASSERT_TRUE(pool.acquire("a", t0).has_value());
  ASSERT_TRUE(pool.acquire("b", t0 + 30s).has_value());
  EXPECT_EQ(pool.closeIdle(t0 + 59s), 0u);
  EXPECT_EQ(pool.closeIdle(t0 + 60s), 1u);
  EXPECT_FALSE(pool.isOpen("a"));
  EXPECT_TRUE(pool.isOpen("b"));
  EXPECT_EQ(pool.closeIdle(t0 + 90s), 1u);
  EXPECT_EQ(pool.counters().idle_closes, 2u);
  EXPECT_EQ(pool.counters().open_now, 0u);
  EXPECT_EQ(pool.counters().evictions, 0u);
}

TEST(HandlePool, CreatesParentsWithTheirModes) {
  TempDir tmp;
  const mode_t old = ::umask(022);
  {
    HandlePool pool(tmp.path() / "sink", {});
    auto h = pool.acquire("x/y/z.jsonl", HandlePool::Clock::now());
    ASSERT_TRUE(h.has_value()) << h.error();
    ASSERT_TRUE(pool.syncDirty().has_value());
  }
  ::umask(old);
  struct stat st {};
  ASSERT_EQ(::stat((tmp.path() / "sink/x/y").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  ASSERT_EQ(::stat((tmp.path() / "sink/x/y/z.jsonl").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);

  // A directory in the way that is a file: an error naming it.
  std::ofstream(tmp.path() / "sink/plain") << "x";
  HandlePool pool(tmp.path() / "sink", {});
  auto bad = pool.acquire("plain/z.jsonl", HandlePool::Clock::now());
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().find("plain"), std::string::npos) << bad.error();
}

TEST(HandlePool, RecoversFromEmfileByEvicting) {
  TempDir tmp;
  HandlePool pool(tmp.path(), {64, 60s});
  const auto now = HandlePool::Clock::now();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(pool.acquire(fmt::format("f{}", i), now).has_value());
  ASSERT_TRUE(sys::fault::configure("open:EMFILE:count=3").has_value());
  auto h = pool.acquire("new", now);
  sys::fault::reset();
  ASSERT_TRUE(h.has_value()) << h.error();
  EXPECT_EQ(pool.counters().emfile_recoveries, 3u);
  EXPECT_EQ(pool.counters().evictions, 2u + 1u + 1u);  // 10/5, then 8/5, then 7/5
  EXPECT_TRUE(pool.isOpen("new"));

  // With nothing left to close, EMFILE is the error.
  HandlePool empty(tmp.path(), {64, 60s});
  ASSERT_TRUE(sys::fault::configure("open:EMFILE").has_value());
  auto e = empty.acquire("x", now);
  sys::fault::reset();
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().find("Too many open files"), std::string::npos) << e.error();
}

// ---------------------------------------------------------------- FileSink

TEST(FileSink, WritesLinesInOrderAndReportsLengths) {
  TempDir tmp;
  FileSink sink(settingsFor(tmp.path()));
  Batch b;
  b.add("a.jsonl", "{\"n\":1}");
  b.add("d/b.jsonl", "{\"n\":2}");
  b.add("a.jsonl", "{\"n\":3}");
  const auto outs = b.outputs();
  auto before = sink.lengthsBefore(outs);
  ASSERT_TRUE(before.has_value()) << before.error();
  ASSERT_EQ(before->size(), 2u);
  EXPECT_EQ((*before)[0].rel_path, "a.jsonl");
  EXPECT_EQ((*before)[0].length, 0);
  EXPECT_EQ((*before)[1].rel_path, "d/b.jsonl");

  auto w = sink.write(outs);
  ASSERT_TRUE(w.has_value()) << w.error();
  ASSERT_EQ(w->size(), 2u);
  EXPECT_EQ((*w)[0].rel_path, "a.jsonl");
  EXPECT_EQ((*w)[0].length, 16);
  EXPECT_EQ((*w)[1].length, 8);
  EXPECT_EQ(readFile(tmp.path() / "a.jsonl"), "{\"n\":1}\n{\"n\":3}\n");
  EXPECT_EQ(readFile(tmp.path() / "d/b.jsonl"), "{\"n\":2}\n");
  auto again = sink.lengthsBefore(outs);
  EXPECT_TRUE(again->empty());  // known now
  EXPECT_EQ(sink.counters().lines, 3u);
  EXPECT_EQ(sink.counters().bytes, 24u);

  // A file that exists before the sink sees it: its length, and appends after it.
  std::ofstream(tmp.path() / "old.jsonl") << "old\n";
  Batch o;
  o.add("old.jsonl", "new");
  auto ob = sink.lengthsBefore(o.outputs());
  ASSERT_EQ(ob->size(), 1u);
  EXPECT_EQ((*ob)[0].length, 4);
  auto ow = sink.write(o.outputs());
  ASSERT_TRUE(ow.has_value());
  EXPECT_EQ((*ow)[0].length, 8);
  EXPECT_EQ(readFile(tmp.path() / "old.jsonl"), "old\nnew\n");

  // Unsafe paths are refused before anything is written.
  Batch u;
  u.add("a.jsonl", "never");
  u.add("../escape.jsonl", "x");
  auto uw = sink.write(u.outputs());
  ASSERT_FALSE(uw.has_value());
  EXPECT_NE(uw.error().find("../escape.jsonl"), std::string::npos);
  EXPECT_EQ(sizeOf(tmp.path() / "a.jsonl"), 16);
}

TEST(FileSink, RecoverUndoesWritesThatWereNotCommitted) {
  TempDir tmp;
  Batch b1, b2;
  for (int i = 0; i < 100; ++i) {
    b1.add(fmt::format("c{}.jsonl", i % 2), fmt::format("first {}", i));
    b2.add(fmt::format("c{}.jsonl", i % 3), fmt::format("second {}", i));  // c2 is new
  }
  std::vector<FileSink::Length> committed;
  {
    FileSink sink(settingsFor(tmp.path()));
    auto r = sink.recover({});
    ASSERT_TRUE(r.has_value());
    auto l0 = sink.lengthsBefore(b1.outputs());
    committed = *l0;
    auto l1 = sink.write(b1.outputs());
    ASSERT_TRUE(l1.has_value()) << l1.error();
    committed = *l1;  // the caller's commit of batch 1
    auto l2pre = sink.lengthsBefore(b2.outputs());
    ASSERT_EQ(l2pre->size(), 1u);  // only c2.jsonl is new
    committed.insert(committed.end(), l2pre->begin(), l2pre->end());
    auto l2 = sink.write(b2.outputs());
    ASSERT_TRUE(l2.has_value()) << l2.error();
    // crash: batch 2's lengths are never committed
  }
  FileSink sink(settingsFor(tmp.path()));
  std::vector<FileSink::Length> checkpoints = committed;
  checkpoints.push_back({"gone.jsonl", 10});
  std::ofstream(tmp.path() / "short.jsonl") << "abc\n";
  checkpoints.push_back({"short.jsonl", 100});
  auto r = sink.recover(checkpoints);
  ASSERT_TRUE(r.has_value()) << r.error();
  EXPECT_EQ(r->truncated.size(), 3u);
  EXPECT_EQ(r->warnings.size(), 2u);
  EXPECT_EQ(sink.counters().truncations, 3u);
  const auto want1 = b1.contents();
  EXPECT_EQ(readFile(tmp.path() / "c0.jsonl"), want1.at("c0.jsonl"));
  EXPECT_EQ(readFile(tmp.path() / "c1.jsonl"), want1.at("c1.jsonl"));
  EXPECT_EQ(sizeOf(tmp.path() / "c2.jsonl"), 0);
  EXPECT_TRUE(sink.lengthsBefore(b2.outputs())->empty());

  // The same batch again: every line exactly once.
  auto w = sink.write(b2.outputs());
  ASSERT_TRUE(w.has_value()) << w.error();
  const auto want2 = b2.contents();
  EXPECT_EQ(readFile(tmp.path() / "c0.jsonl"), want1.at("c0.jsonl") + want2.at("c0.jsonl"));
  EXPECT_EQ(readFile(tmp.path() / "c2.jsonl"), want2.at("c2.jsonl"));
}

// The batch fails on its fourth path: the three written before it are cut back, including
// ones the pool (capped at 2) already closed; after the cause is gone the retry writes each
// line once.
TEST(FileSink, FailureMidBatchLeavesFilesAtTheirLengthBefore) {
  TempDir tmp;
  FileSink sink(settingsFor(tmp.path(), 2));
  Batch b0, b1;
  for (int i = 0; i < 30; ++i)
    b0.add(fmt::format("ok{}/f.jsonl", i % 3), fmt::format("zero {}", i));
  ASSERT_TRUE(sink.write(b0.outputs()).has_value());
  std::map<std::string, std::int64_t> len0;
  for (const auto& [p, c] : b0.contents()) len0[p] = static_cast<std::int64_t>(c.size());

  for (int i = 0; i < 40; ++i) {
    b1.add(fmt::format("ok{}/f.jsonl", i % 3), fmt::format("one {}", i));
    if (i == 20) b1.add("bad/f.jsonl", "blocked");
  }
  const bool root = ::geteuid() == 0;
  if (root) {
    std::ofstream(tmp.path() / "bad") << "a file where a directory should be";  // ENOTDIR
  } else {
    fs::create_directory(tmp.path() / "bad");
    fs::permissions(tmp.path() / "bad", fs::perms::owner_read | fs::perms::owner_exec);  // EACCES
  }
  auto w = sink.write(b1.outputs());
  ASSERT_FALSE(w.has_value());
  EXPECT_NE(w.error().find("bad/f.jsonl"), std::string::npos) << w.error();
  EXPECT_NE(w.error().find("sink files.test"), std::string::npos) << w.error();
  for (const auto& [p, n] : len0) {
    EXPECT_EQ(sizeOf(tmp.path() / p), n) << p;
    EXPECT_EQ(sink.knownLength(p), n) << p;
  }
  EXPECT_EQ(sink.counters().write_failures, 1u);

  if (root) {
    fs::remove(tmp.path() / "bad");
  } else {
    fs::permissions(tmp.path() / "bad", fs::perms::owner_all);
  }
  auto retry = sink.write(b1.outputs());
  ASSERT_TRUE(retry.has_value()) << retry.error();
  const auto c0 = b0.contents();
  const auto c1 = b1.contents();
  for (int k = 0; k < 3; ++k) {
    const std::string p = fmt::format("ok{}/f.jsonl", k);
    EXPECT_EQ(readFile(tmp.path() / p), c0.at(p) + c1.at(p)) << p;
  }
  EXPECT_EQ(readFile(tmp.path() / "bad/f.jsonl"), "blocked\n");
}

// ENOSPC after a partial write, and EIO from the sync: the same undo. Three files are synced
// one by one, eight with one syncfs.
TEST(FileSink, DiskErrorsAreUndone) {
  for (const int files : {3, 8}) {
    TempDir tmp;
    FileSink sink(settingsFor(tmp.path()));
    Batch b0, b1;
    for (int i = 0; i < 3 * files; ++i) b0.add(fmt::format("p{}.jsonl", i % files), "zero");
    for (int i = 0; i < 30 * files; ++i) {
      b1.add(fmt::format("p{}.jsonl", i % files), fmt::format("one {}", i));
    }
    ASSERT_TRUE(sink.write(b0.outputs()).has_value());
    const auto c0 = b0.contents();

    const std::vector<std::pair<std::string, std::string>> faults = {
        {"write:short:count=1:path=p1.jsonl,write:ENOSPC:path=p1.jsonl", "write"},
        {"fsync:EIO:path=p2.jsonl", files < 4 ? "fdatasync" : "syncfs"},
        {"fsync:EIO", files < 4 ? "fdatasync" : "syncfs"}};
    for (const auto& [spec, what] : faults) {
      if (files >= 4 && spec == "fsync:EIO:path=p2.jsonl") continue;  // syncfs goes by p0
      ASSERT_TRUE(sys::fault::configure(spec).has_value());
      auto w = sink.write(b1.outputs());
      sys::fault::reset();
      ASSERT_FALSE(w.has_value()) << spec;
      EXPECT_NE(w.error().find(what), std::string::npos) << w.error();
      EXPECT_NE(w.error().find(".jsonl"), std::string::npos) << w.error();
      for (const auto& [p, c] : c0) EXPECT_EQ(readFile(tmp.path() / p), c) << spec << " " << p;
    }
    ASSERT_TRUE(sink.write(b1.outputs()).has_value());
    const auto c1 = b1.contents();
    for (const auto& [p, c] : c0) EXPECT_EQ(readFile(tmp.path() / p), c + c1.at(p));
    const auto counters = sink.counters().pool;
    EXPECT_GT(files < 4 ? counters.fdatasyncs : counters.syncfs_calls, 0u);
  }
}

// A file left longer than the sink's length (an undo that failed, or bytes appended behind
// its back while the handle was closed) is cut back when the sink opens it again.
TEST(FileSink, ReopenCutsBackToTheKnownLength) {
  TempDir tmp;
  FileSink sink(settingsFor(tmp.path(), 1));  // one handle: b closes a
  Batch a, b;
  a.add("a.jsonl", "one");
  b.add("b.jsonl", "two");
  ASSERT_TRUE(sink.write(a.outputs()).has_value());
  ASSERT_TRUE(sink.write(b.outputs()).has_value());
  std::ofstream(tmp.path() / "a.jsonl", std::ios::app) << "garbage\n";
  ASSERT_TRUE(sink.write(a.outputs()).has_value());
  EXPECT_EQ(readFile(tmp.path() / "a.jsonl"), "one\none\n");
  EXPECT_EQ(sink.knownLength("a.jsonl"), 8);
  // Idle long enough: the length is forgotten and lengthsBefore asks the file again.
  EXPECT_EQ(sink.closeIdle(FileSink::Clock::now() + 120s), 1u);
  EXPECT_FALSE(sink.knownLength("a.jsonl").has_value());
  auto l = sink.lengthsBefore(a.outputs());
  ASSERT_EQ(l->size(), 1u);
  EXPECT_EQ((*l)[0].length, 8);
}

// An output file cut short by another program while sqtail holds it open (logrotate's
// copytruncate): the length recorded is the file's real one, so that a crash before the
// commit cuts back to where the new lines began.
TEST(FileSink, FileTruncatedByAnotherProgramWhileOpenGetsItsRealLength) {
  TempDir tmp;
  FileSink sink(settingsFor(tmp.path()));
  Batch a;
  a.add("a.jsonl", "first line");
  ASSERT_TRUE(sink.write(a.outputs()).has_value());
  ASSERT_EQ(::truncate((tmp.path() / "a.jsonl").c_str(), 0), 0);
  Batch b;
  b.add("a.jsonl", "two");
  auto w = sink.write(b.outputs());
  ASSERT_TRUE(w.has_value()) << w.error();
  ASSERT_EQ(w->size(), 1u);
  EXPECT_EQ((*w)[0].length, 4);
  EXPECT_EQ(sink.knownLength("a.jsonl"), 4);
  EXPECT_EQ(readFile(tmp.path() / "a.jsonl"), "two\n");
}

// An open that fails must not give the sink a length for the path: the file's bytes stay.
TEST(FileSink, FailedOpenKeepsAnExistingFile) {
  TempDir tmp;
  FileSink sink(settingsFor(tmp.path()));
  std::ofstream(tmp.path() / "keep.jsonl") << "from before\n";
  Batch b;
  b.add("keep.jsonl", "new");
  ASSERT_TRUE(sys::fault::configure("open:EACCES:path=keep.jsonl").has_value());
  auto w = sink.write(b.outputs());
  sys::fault::reset();
  ASSERT_FALSE(w.has_value());
  EXPECT_NE(w.error().find("keep.jsonl"), std::string::npos) << w.error();
  EXPECT_FALSE(sink.knownLength("keep.jsonl").has_value());
  auto again = sink.write(b.outputs());
  ASSERT_TRUE(again.has_value()) << again.error();
  EXPECT_EQ(readFile(tmp.path() / "keep.jsonl"), "from before\nnew\n");
}

// 48 categories through a descriptor limit far below the pool's cap, in a child process so
// that this one keeps its limit: every line lands in its file exactly once.
TEST(FileSink, EmfileRecoveryUnderALowDescriptorLimit) {
  // The sanitizers' runtimes open descriptors of their own (reports, symbolizer) inside the
  // forked child's tiny limit: the count this test controls is no longer its own.
  if (std::getenv("SQTAIL_SANITIZED") != nullptr) {
    GTEST_SKIP() << "descriptor limit test: not under a sanitizer";
  }
  TempDir tmp;
  const fs::path dir = tmp.path() / "out";
  constexpr int kCategories = 48, kBatches = 6, kPerBatch = 50;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // New descriptors take the lowest free numbers: leave 12 of them below the limit.
    std::set<int> open_fds;
    for (const auto& e : fs::directory_iterator("/proc/self/fd")) {
      open_fds.insert(std::stoi(e.path().filename().string()));
    }
    int limit = 0;
    for (int free_fds = 0; free_fds < 12; ++limit) {
      if (open_fds.count(limit) == 0) ++free_fds;
    }
    struct rlimit rl {};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = static_cast<rlim_t>(limit);
    if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) ::_exit(2);
    int code = 0;
    {
      FileSink sink(settingsFor(dir, 64));
      for (int b = 0; b < kBatches && code == 0; ++b) {
        Batch batch;
        for (int i = 0; i < kCategories * kPerBatch; ++i) {
          batch.add(fmt::format("cat/{}.jsonl", i % kCategories), fmt::format("b{} i{}", b, i));
        }
        if (!sink.lengthsBefore(batch.outputs()).has_value()) code = 3;
        auto w = sink.write(batch.outputs());
        if (!w.has_value()) {
          std::ofstream(tmp.path() / "error") << w.error();
          code = 4;
        }
      }
      const auto c = sink.counters().pool;
      std::ofstream(tmp.path() / "counters")
          << c.emfile_recoveries << " " << c.evictions << " " << c.opens;
    }
    ::_exit(code);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0) << readFile(tmp.path() / "error");
  std::uint64_t recoveries = 0, evictions = 0, opens = 0;
  std::istringstream(readFile(tmp.path() / "counters")) >> recoveries >> evictions >> opens;
  EXPECT_GT(recoveries + evictions, 0u);
  EXPECT_GT(recoveries, 0u);
  std::cout << "emfile_recoveries=" << recoveries << " evictions=" << evictions
            << " opens=" << opens << "\n";
  for (int c = 0; c < kCategories; ++c) {
    std::string want;
    for (int b = 0; b < kBatches; ++b) {
      for (int i = c; i < kCategories * kPerBatch; i += kCategories) {
        want += fmt::format("b{} i{}\n", b, i);
      }
    }
    EXPECT_EQ(readFile(dir / fmt::format("cat/{}.jsonl", c)), want) << c;
  }
}

// Not asserted: prints lines/s for 1M lines of ~250 bytes into 40 files, in batches of 20,000
// (the default batch_max_rows), each batch fdatasync'd.
TEST(FileSink, Throughput) {
  TempDir tmp;
  FileSink sink(settingsFor(tmp.path()));
  constexpr int kLines = 1'000'000, kFiles = 40, kBatch = 20'000;
  std::vector<std::string> paths, lines;
  for (int f = 0; f < kFiles; ++f) paths.push_back(fmt::format("2026-11-22/cat{}.jsonl", f));
  for (int i = 0; i < kBatch; ++i) {
    std::string l = fmt::format(
        "{{\"ts\":\"2026-11-22T10:00:00.{:03}Z\",\"level\":\"info\",\"category\":\"cat{}\","
        "\"message\":\"request handled\",\"n\":{},\"pad\":\"",
        i % 1000, i % kFiles, i);
    l.append(250 - 2 - std::min<std::size_t>(l.size(), 240), 'x');
    l += "\"}";
    lines.push_back(std::move(l));
  }
  std::vector<FileSink::Output> batch;
  batch.reserve(kBatch);
  for (int i = 0; i < kBatch; ++i)
    batch.push_back(
        {paths[static_cast<std::size_t>(i % kFiles)], lines[static_cast<std::size_t>(i)]});
  constexpr int kBatches = kLines / kBatch;
  std::size_t batch_bytes = 0;
  for (const auto& l : lines) batch_bytes += l.size() + 1;
  const auto bytes = static_cast<std::int64_t>(batch_bytes) * kBatches;

  const auto start = std::chrono::steady_clock::now();
  for (int b = 0; b < kBatches; ++b) {
    auto w = sink.write(batch);
    ASSERT_TRUE(w.has_value()) << w.error();
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << fmt::format(
      "file sink: {} lines ({:.0f} MB) into {} files in {:.2f}s: {:.0f} lines/s\n", kLines,
      static_cast<double>(bytes) / 1e6, kFiles, secs, kLines / secs);
  std::int64_t total = 0;
  for (const auto& p : paths) total += sizeOf(tmp.path() / p);
  EXPECT_EQ(total, bytes);
}

}  // namespace
}  // namespace sqtail::sink
