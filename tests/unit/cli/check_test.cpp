// `sqtail check` prints the resolved config as TOML: it must load back into the same Config,
// or the settings it shows are not the ones sqtail would run with.
#include <gtest/gtest.h>

#include "cli/check.hpp"
#include "config/presets.hpp"

namespace sqtail::cli {
namespace {

config::Config roundTrip(const config::Config& c) {
  auto loaded = config::loadString(resolvedToml(c), "resolved.toml");
  EXPECT_TRUE(loaded) << (loaded ? "" : loaded.error().message) << "\n" << resolvedToml(c);
  return loaded ? *loaded : config::Config{};
}

TEST(CheckToml, DefaultsLoadBackEqual) {
  const config::Config defaults;
  EXPECT_EQ(roundTrip(defaults), defaults);
}

TEST(CheckToml, EverySettingLoadsBackEqual) {
  config::Config c;
  c.db = "/var/lib/sqtail/\"odd\" name\\.db";
  c.store_raw = false;
  c.flush_interval = std::chrono::milliseconds(250);
  c.batch_max_rows = 7;
  c.batch_max_bytes = 3 << 20;
  c.max_buffer_bytes = 12345678;
  c.max_line_bytes = 1000;
  c.read_chunk_bytes = 4096;
  c.fingerprint_bytes = 0;
  c.rotate_wait = std::chrono::minutes(2);
  c.poll_interval = std::chrono::milliseconds(1500);
  c.follow_symlinks = true;
  c.pricing = "conf/pricing.toml";
  c.http = obs::HttpConfig{"::1", 0, true, 1 << 20};
  config::Source app;
  app.name = "app";
  app.paths = {"logs/**/*.jsonl", "/abs/x.jsonl"};
  app.exclude = {"*.tmp", "logs/old/**"};
  app.read_from = config::ReadFrom::kTail;
  app.fields.ts = {"/t~1s"};
  app.fields.level = {};
  c.sources.push_back(app);
  c.sources.push_back(*config::preset("claude-code"));
  EXPECT_EQ(roundTrip(c), c);
}

TEST(CheckToml, SourceNotesGoAfterEachSourcesKeys) {
  config::Config c;
  c.sources.resize(2);
  c.sources[0].name = "a";
  c.sources[0].paths = {"a/*"};
  c.sources[1].name = "b";
  c.sources[1].paths = {"b/*"};
  const std::string text =
      resolvedToml(c, [](std::size_t i) { return "# note " + std::to_string(i) + "\n"; });
  const auto note0 = text.find("# note 0"), note1 = text.find("# note 1");
  ASSERT_NE(note0, std::string::npos);
  ASSERT_NE(note1, std::string::npos);
  EXPECT_LT(text.find("name = \"a\""), note0);
  EXPECT_LT(note0, text.find("[source.fields]"));
  EXPECT_LT(text.find("name = \"b\""), note1);
  EXPECT_EQ(roundTrip(c), c);
}

TEST(CheckToml, UnitsAreTheLargestExactOne) {
  EXPECT_EQ(durationText(1000), "1s");
  EXPECT_EQ(durationText(1500), "1500ms");
  EXPECT_EQ(durationText(300000), "5m");
  EXPECT_EQ(durationText(86400000), "1d");
  EXPECT_EQ(durationText(0), "0ms");
  EXPECT_EQ(sizeText(4 << 20), "4MiB");
  EXPECT_EQ(sizeText(1000), "1000");
  EXPECT_EQ(sizeText(0), "0");
  EXPECT_EQ(tomlString("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000A\"");
}

}  // namespace
}  // namespace sqtail::cli
