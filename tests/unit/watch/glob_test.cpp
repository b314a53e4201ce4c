#include "watch/glob.hpp"

#include <gtest/gtest.h>

namespace sqtail::watch {
namespace {

TEST(Glob, RelativePatternsAreAnchoredAtTheWorkingDirectory) {
  Glob g("logs/*.jsonl", "/srv/app");
  EXPECT_EQ(g.pattern(), "/srv/app/logs/*.jsonl");
  EXPECT_EQ(g.root(), "/srv/app/logs");
  EXPECT_TRUE(g.matches("/srv/app/logs/a.jsonl"));
  EXPECT_FALSE(g.matches("/srv/app/logs/a.json"));
  EXPECT_FALSE(g.matches("/srv/app/logs/sub/a.jsonl"));
}

TEST(Glob, DoubleStarMatchesAnyDepthIncludingNone) {
  Glob g("/var/log/**/*.jsonl", "/");
  EXPECT_EQ(g.root(), "/var/log");
  EXPECT_TRUE(g.matches("/var/log/a.jsonl"));
  EXPECT_TRUE(g.matches("/var/log/x/a.jsonl"));
  EXPECT_TRUE(g.matches("/var/log/x/y/z/a.jsonl"));
  EXPECT_FALSE(g.matches("/var/other/a.jsonl"));
  EXPECT_TRUE(g.couldContain("/var/log/x/y"));
  EXPECT_TRUE(g.couldContain("/var"));
  EXPECT_FALSE(g.couldContain("/etc"));
}

TEST(Glob, WildcardDirectoriesLimitWhatIsWalked) {
  Glob g("/data/2026-*/engine.jsonl", "/");
  EXPECT_EQ(g.root(), "/data");
  EXPECT_TRUE(g.couldContain("/data/2026-11-22"));
  EXPECT_FALSE(g.couldContain("/data/2025-01-01"));
  EXPECT_FALSE(g.couldContain("/data/2026-11-22/sub"));
  EXPECT_TRUE(g.matches("/data/2026-11-22/engine.jsonl"));
  EXPECT_FALSE(g.matches("/data/2026-11-22/error.jsonl"));
}

TEST(Glob, NormalizesDotSegments) {
  EXPECT_EQ(normalizePath("./a/../b/./c", "/w"), "/w/b/c");
  EXPECT_EQ(normalizePath("/x//y/", "/w"), "/x/y");
  Glob g("../logs/*.log", "/srv/app");
  EXPECT_TRUE(g.matches("/srv/logs/a.log"));
}

TEST(Glob, BracketAndQuestionMark) {
  Glob g("/l/app-[0-9]?.jsonl", "/");
  EXPECT_TRUE(g.matches("/l/app-1x.jsonl"));
  EXPECT_FALSE(g.matches("/l/app-ab.jsonl"));
}

}  // namespace
}  // namespace sqtail::watch
