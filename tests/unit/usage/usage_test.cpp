#include "usage/usage.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "config/presets.hpp"
#include "parse/extractor.hpp"
#include "sink/sqlite/usage_sql.hpp"

namespace sqtail::usage {
namespace {

using namespace std::string_literals;

std::optional<std::int64_t> parseRfc3339ForTest(std::string_view text) {
  return parse::parseRfc3339(text);
}

constexpr std::string_view kPath = "/home/u/.claude/projects/-home-u-app/sess-1.jsonl";

// extract() reads up to 64 bytes past the line: give it a padded copy.
std::optional<Entry> extractLine(Extractor& ex, std::string_view line,
                                 std::string_view path = kPath) {
  std::string padded(line);
  padded.append(64, ' ');
  return ex.extract(std::string_view(padded).substr(0, line.size()), path);
}

std::optional<Entry> extractLine(std::string_view line, std::string_view path = kPath) {
  Extractor ex(builtinPricing());
  return extractLine(ex, line, path);
}

// An assistant line; `usage` and `extra` are JSON fragments.
std::string line(
    std::string_view usage, std::string_view extra = "",
    std::string_view message_extra = R"("id":"msg_1","model":"claude-sonnet-4-20250514",)") {
  return fmt::format(
      R"({{"type":"assistant","sessionId":"s1","requestId":"req_1",{}"message":{{{}"role":"assistant","content":[{{"type":"text","text":"hi"}}],"usage":{{{}}}}},"timestamp":"2026-01-10T09:00:00.000Z"}})",
      extra, message_extra, usage);
}

// ---- Extraction ----------------------------------------------------------------------------

TEST(UsageExtract, AssistantLine) {
  auto e = extractLine(line(
      R"("input_tokens":100,"output_tokens":20,"cache_creation_input_tokens":1000,"cache_read_input_tokens":50)"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->dedup_key, "mid:msg_1:req_1");
  EXPECT_EQ(e->ts_ms, 1768035600000);
  EXPECT_EQ(e->project, "-home-u-app");
  EXPECT_EQ(e->session, "sess-1");
  EXPECT_EQ(e->model, "claude-sonnet-4-20250514");
  EXPECT_EQ(e->input, 100);
  EXPECT_EQ(e->output, 20);
  EXPECT_EQ(e->cache_creation_5m, 1000);
  EXPECT_EQ(e->cache_creation_1h, 0);
  EXPECT_EQ(e->cache_read, 50);
  EXPECT_EQ(e->total(), 1170);
  EXPECT_FALSE(e->cost_record);
  EXPECT_FALSE(e->sidechain);
  EXPECT_NEAR(e->cost_calc, (100 * 3 + 20 * 15 + 1000 * 3.75 + 50 * 0.3) / 1e6, 1e-12);
}

TEST(UsageExtract, CacheDefaultsToZero) {
  auto e = extractLine(line(R"("input_tokens":1,"output_tokens":2)"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->cache_creation_5m + e->cache_creation_1h + e->cache_read, 0);
}

TEST(UsageExtract, CacheCreationSplitReplacesTheSum) {
  auto e = extractLine(line(
      R"("input_tokens":1,"output_tokens":2,"cache_creation_input_tokens":999,"cache_creation":{"ephemeral_5m_input_tokens":300,"ephemeral_1h_input_tokens":200})"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->cache_creation_5m, 300);
  EXPECT_EQ(e->cache_creation_1h, 200);
  EXPECT_EQ(e->total(), 503);
  // A split with one part only: the other is 0.
  e = extractLine(line(
      R"("input_tokens":1,"output_tokens":2,"cache_creation_input_tokens":999,"cache_creation":{"ephemeral_1h_input_tokens":7})"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->cache_creation_5m, 0);
  EXPECT_EQ(e->cache_creation_1h, 7);
}

TEST(UsageExtract, DedupKeyForms) {
  // id + requestId
  EXPECT_EQ(extractLine(line(R"("input_tokens":1,"output_tokens":2)"))->dedup_key,
            "mid:msg_1:req_1");
  // id without requestId: (id, sessionId, timestamp)
  const std::string no_request =
      R"({"type":"assistant","sessionId":"s9","message":{"id":"msg_7","model":"m","usage":{"input_tokens":1,"output_tokens":1}},"timestamp":"2026-01-10T09:00:00.000Z"})";
  EXPECT_EQ(extractLine(no_request)->dedup_key, "mids:msg_7:s9:2026-01-10T09:00:00.000Z");
  // ... and without sessionId either: the session of the file (as ccusage 20)
  const std::string bare =
      R"({"message":{"id":"msg_7","usage":{"input_tokens":1,"output_tokens":1}},"timestamp":"2026-01-10T09:00:00Z"})";
  EXPECT_EQ(extractLine(bare)->dedup_key, "mids:msg_7:sess-1:2026-01-10T09:00:00Z");
  // no id: no key (the writer keys the row by file and offset)
  auto none = extractLine(
      line(R"("input_tokens":1,"output_tokens":2)", "", R"("model":"claude-sonnet-4-20250514",)"));
  ASSERT_TRUE(none);
  EXPECT_EQ(none->dedup_key, "");
}

TEST(UsageExtract, FastSuffix) {
  auto fast = extractLine(line(R"("input_tokens":100,"output_tokens":100,"speed":"fast")"));
  ASSERT_TRUE(fast);
  EXPECT_EQ(fast->model, "claude-sonnet-4-20250514-fast");
  EXPECT_NEAR(fast->cost_calc, 1800 / 1e6, 1e-12);  // priced as the base model
  auto standard = extractLine(line(R"("input_tokens":1,"output_tokens":1,"speed":"standard")"));
  ASSERT_TRUE(standard);
  EXPECT_EQ(standard->model, "claude-sonnet-4-20250514");
  // ccusage's schema allows only these two
  EXPECT_FALSE(extractLine(line(R"("input_tokens":1,"output_tokens":1,"speed":"turbo")")));
}

TEST(UsageExtract, FastMultiplier) {
  Pricing pricing = builtinPricing();
  pricing.models.at("claude-sonnet-4-20250514").fast_multiplier = 6;
  Extractor ex(pricing);
  auto e = extractLine(ex, line(R"("input_tokens":100,"output_tokens":100,"speed":"fast")"));
  ASSERT_TRUE(e);
  EXPECT_NEAR(e->cost_calc, 6 * 1800 / 1e6, 1e-12);
}

TEST(UsageExtract, SyntheticAndMissingModelHaveNoModel) {
  auto synthetic =
      extractLine(line(R"("input_tokens":7,"output_tokens":3)", R"("isApiErrorMessage":true,)",
                       R"("id":"msg_1","model":"<synthetic>",)"));
  ASSERT_TRUE(synthetic);
  EXPECT_EQ(synthetic->model, "");
  EXPECT_EQ(synthetic->cost_calc, 0);
  EXPECT_EQ(synthetic->total(), 10);
  auto missing = extractLine(line(R"("input_tokens":7,"output_tokens":3)", "", R"("id":"msg_1",)"));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->model, "");
  EXPECT_EQ(missing->cost_calc, 0);
}

TEST(UsageExtract, CostUsdAndSidechain) {
  auto e = extractLine(
      line(R"("input_tokens":1,"output_tokens":1)", R"("costUSD":0.25,"isSidechain":true,)"));
  ASSERT_TRUE(e);
  ASSERT_TRUE(e->cost_record);
  EXPECT_EQ(*e->cost_record, 0.25);
  EXPECT_TRUE(e->sidechain);
  EXPECT_GT(e->cost_calc, 0);
}

TEST(UsageExtract, ProgressRecordUsesDataMessage) {
  const std::string progress =
      R"({"isSidechain":false,"sessionId":"outer-s","type":"progress","data":{"message":{"type":"assistant","timestamp":"2026-01-10T10:00:00.000Z","message":{"model":"claude-haiku-4-5-20251001","id":"msg_3","usage":{"input_tokens":300,"output_tokens":40,"cache_read_input_tokens":500}},"requestId":"req_3"},"type":"agent_progress"},"timestamp":"2026-01-10T10:00:00.100Z"})";
  auto e = extractLine(progress);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->dedup_key, "mid:msg_3:req_3");
  EXPECT_EQ(e->ts_ms, 1768039200000);  // the inner timestamp
  EXPECT_EQ(e->model, "claude-haiku-4-5-20251001");
  EXPECT_EQ(e->total(), 840);
  EXPECT_FALSE(e->sidechain);
}

// Regression (compare-ccusage, ccusage 20.0.24): a relay takes only its sessionId from the
// outer line. The outer requestId made sqtail merge the relay with another entry, the outer
// isSidechain made it lose to a smaller main-thread copy, the outer timestamp stood in for a
// missing inner one; ccusage does none of that.
TEST(UsageExtract, Ccusage20RelayTakesOnlyTheSessionFromTheOuterLine) {
  const std::string sparse =
      R"({"type":"progress","sessionId":"outer-s","requestId":"req_out","isSidechain":true,"costUSD":"x","version":"bad","data":{"message":{"timestamp":"2026-01-10T10:00:00Z","message":{"id":"msg_4","usage":{"input_tokens":1,"output_tokens":1}}}},"timestamp":"2026-01-10T11:00:00Z"})";
  auto e = extractLine(sparse);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->dedup_key, "mids:msg_4:outer-s:2026-01-10T10:00:00Z");
  EXPECT_EQ(e->ts_ms, 1768039200000);
  EXPECT_FALSE(e->sidechain);
  EXPECT_FALSE(e->cost_record);
  // Without an outer sessionId: the file's session. The inner sessionId is not read.
  e = extractLine(
      R"({"type":"progress","data":{"message":{"sessionId":"inner-s","timestamp":"2026-01-10T10:00:00Z","message":{"id":"msg_4","usage":{"input_tokens":1,"output_tokens":1}}}}})");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->dedup_key, "mids:msg_4:sess-1:2026-01-10T10:00:00Z");
  // The inner record's own fields, checked as a record's.
  e = extractLine(
      R"({"type":"progress","data":{"message":{"timestamp":"2026-01-10T10:00:00.000Z","requestId":"req_in","isSidechain":true,"costUSD":0.5,"message":{"id":"msg_5","usage":{"input_tokens":1,"output_tokens":1}}}}})");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->dedup_key, "mid:msg_5:req_in");
  EXPECT_TRUE(e->sidechain);
  EXPECT_EQ(e->cost_record, 0.5);
  // No inner timestamp: no entry (the outer one does not stand in).
  EXPECT_FALSE(extractLine(
      R"({"type":"progress","timestamp":"2026-01-10T11:00:00Z","requestId":"r","data":{"message":{"message":{"id":"m","usage":{"input_tokens":1,"output_tokens":1}}}}})"));
  EXPECT_FALSE(extractLine(
      R"({"type":"progress","data":{"message":{"timestamp":"2026-01-10T10:00:00Z","isSidechain":"yes","message":{"id":"m","usage":{"input_tokens":1,"output_tokens":1}}}}})"));
  // A bad or repeated outer sessionId fails the relay too.
  EXPECT_FALSE(extractLine(
      R"({"type":"progress","sessionId":7,"data":{"message":{"timestamp":"2026-01-10T10:00:00Z","message":{"id":"m","usage":{"input_tokens":1,"output_tokens":1}}}}})"));
  EXPECT_FALSE(extractLine(
      R"({"type":"progress","sessionId":"a","sessionId":"a","data":{"message":{"timestamp":"2026-01-10T10:00:00Z","message":{"id":"m","usage":{"input_tokens":1,"output_tokens":1}}}}})"));
}

// Regression (compare-ccusage, ccusage 20.0.24): data.message counts on a line of any type,
// when the line itself is not a record; when it is one, the line's own message counts.
TEST(UsageExtract, Ccusage20RelayOnAnyLineThatIsNoRecord) {
  const std::string inner =
      R"({"timestamp":"2026-01-10T10:00:00Z","requestId":"r_in","message":{"id":"m_in","usage":{"input_tokens":1,"output_tokens":77}}})";
  for (const std::string type : {R"("type":"assistant",)", R"("type":"user",)", ""}) {
    auto e = extractLine("{" + type + R"("data":{"message":)" + inner + "}}");
    ASSERT_TRUE(e) << type;
    EXPECT_EQ(e->output, 77);
  }
  // The line is a record: its message, not data.message.
  auto e = extractLine(
      R"({"type":"progress","timestamp":"2026-01-10T11:00:00Z","message":{"id":"m_out","usage":{"input_tokens":1,"output_tokens":5}},"data":{"message":)" +
      inner + "}}");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->output, 5);
  // The line's message fails the record shape (no output count, a repeated key): the relay.
  e = extractLine(
      R"({"timestamp":"2026-01-10T11:00:00Z","message":{"id":"m_out","usage":{"input_tokens":1}},"data":{"message":)" +
      inner + "}}");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->output, 77);
  e = extractLine(
      R"({"timestamp":"2026-01-10T11:00:00Z","message":{"model":"a","model":"b","usage":{"input_tokens":1,"output_tokens":5}},"data":{"message":)" +
      inner + "}}");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->output, 77);
  // The record deserializes but fails a check (timestamp, version): nothing, no relay.
  EXPECT_FALSE(extractLine(
      R"({"timestamp":"yesterday","message":{"usage":{"input_tokens":1,"output_tokens":5}},"data":{"message":)" +
      inner + "}}"));
  EXPECT_FALSE(extractLine(
      R"({"timestamp":"2026-01-10T11:00:00Z","version":"x","message":{"usage":{"input_tokens":1,"output_tokens":5}},"data":{"message":)" +
      inner + "}}"));
  // A repeated data.message fails the relay.
  EXPECT_FALSE(extractLine(R"({"data":{"message":{},"message":)" + inner + "}}"));
}

// Regression (compare-ccusage, ccusage 20.0.24): ccusage skips a line without the bytes
// `"usage":{`, so a usage object written with spaces is no entry.
TEST(UsageExtract, Ccusage20NeedsCompactUsageKey) {
  EXPECT_TRUE(extractLine(line(R"("input_tokens":1,"output_tokens":1)")));
  for (const std::string spaced : {R"("usage": {)", R"("usage" :{)", R"("\u0075sage":{)"}) {
    std::string l = line(R"("input_tokens":1,"output_tokens":1)");
    l.replace(l.find(R"("usage":{)"), 9, spaced);
    EXPECT_FALSE(extractLine(l)) << l;
  }
}

// Regression (compare-ccusage, ccusage 20.0.24): only its timestamp forms.
TEST(UsageExtract, Ccusage20TimestampForms) {
  auto at = [](std::string_view ts) {
    return extractLine(fmt::format(
        R"({{"timestamp":"{}","message":{{"usage":{{"input_tokens":1,"output_tokens":1}}}}}})",
        ts));
  };
  const std::pair<std::string_view, std::int64_t> good[] = {
      {"2026-01-10T09:00:00Z", 1768035600000},
      {"2026-01-10T09:00:00.123Z", 1768035600123},
      {"2026-01-10T18:00:00+09:00", 1768035600000},
      {"2026-01-10T04:00:00.500-05:00", 1768035600500},
      {"2026-01-10T09:00:00.000-00:00", 1768035600000},
  };
  for (const auto& [ts, ms] : good) {
    auto e = at(ts);
    ASSERT_TRUE(e) << ts;
    EXPECT_EQ(e->ts_ms, ms) << ts;
  }
  for (std::string_view ts :
       {"2026-01-10T09:00:00.1Z", "2026-01-10T09:00:00.12Z", "2026-01-10T09:00:00.1234Z",
        "2026-01-10T09:00:00.123456Z", "2026-01-10T09:00:00.000z", "2026-01-10t09:00:00.000Z",
        "2026-01-10 09:00:00.000Z", "2026-01-10T09:00:00.000", "2026-01-10T09:00:00.000+0900",
        "2026-01-10T09:00:00+09", "2026-01-10T23:59:60.000Z", "2026-01-10", "2026-02-30T09:00:00Z",
        "2026-01-10T24:00:00Z", " 2026-01-10T09:00:00Z", "+02026-01-10T09:00:00Z"}) {
    EXPECT_FALSE(at(ts)) << ts;
  }
}

// Regression (compare-ccusage, ccusage 20.0.24): a key of ccusage's shape given twice fails
// it (the old rule, "the last one wins" as JSON.parse, counted such lines); other keys may
// repeat.
TEST(UsageExtract, Ccusage20RepeatedKeysFail) {
  const std::string ok = line(
      R"("input_tokens":1,"output_tokens":1,"cache_creation_input_tokens":1,"cache_read_input_tokens":1,"speed":"standard","cache_creation":{"ephemeral_5m_input_tokens":1,"ephemeral_1h_input_tokens":0})",
      R"("version":"2.0.31","isSidechain":false,"costUSD":0.1,)");
  ASSERT_TRUE(extractLine(ok));
  for (std::string key :
       {"timestamp", "sessionId", "requestId", "version", "isSidechain", "costUSD", "message", "id",
        "model", "usage", "input_tokens", "output_tokens", "cache_creation_input_tokens",
        "cache_read_input_tokens", "speed", "cache_creation", "ephemeral_5m_input_tokens",
        "ephemeral_1h_input_tokens"}) {
    std::string l = ok;
    const std::size_t at = l.find('"' + key + "\":");
    ASSERT_NE(at, std::string::npos) << key;
    // The same key and value again, right before the first one.
    const std::size_t value = at + key.size() + 3;
    std::size_t end = value;
    for (int depth = 0; end < l.size(); ++end) {
      const char c = l[end];
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') {
        if (depth == 0) break;
        if (--depth == 0) {
          ++end;
          break;
        }
      }
      if (c == ',' && depth == 0) break;
    }
    l.insert(at, l.substr(at, end - at) + ",");
    EXPECT_FALSE(extractLine(l)) << l;
  }
  for (std::string other : {R"("cwd":"a","cwd":"b",)", R"("type":"x","type":"assistant",)",
                            R"("data":{},"data":{},)", R"("uuid":"1","uuid":"2",)"}) {
    EXPECT_TRUE(extractLine(line(R"("input_tokens":1,"output_tokens":1)", other))) << other;
  }
}

TEST(UsageExtract, NotEntries) {
  const std::vector<std::string> lines = {
      R"({"type":"user","message":{"role":"user","content":"hi"},"timestamp":"2026-01-10T09:00:00Z"})",
      "this is not json \"usage\"",
      R"({"type":"assistant","message":{"usage":{"input_tokens":1,"output_tokens":1}},"timestamp":"2026-01-10T09:00:00Z"} trailing)",
      R"({"type":"assistant","message":{"usage":{"input_tokens":1,"output_tokens":1}},"timestamp":"2026-01-10)",
      R"({"type":"assistant","message":{"id":"msg_B9","model":"claude-sonnet-4-20250514","usage":{"input_tokens":9999)",
      R"([{"message":{"usage":{"input_tokens":1,"output_tokens":1}}}])",
      // No or bad timestamp
      R"({"message":{"usage":{"input_tokens":1,"output_tokens":1}}})",
      R"({"message":{"usage":{"input_tokens":1,"output_tokens":1}},"timestamp":"yesterday"})",
      R"({"message":{"usage":{"input_tokens":1,"output_tokens":1}},"timestamp":1768039200})",
      // No input or output count
      R"({"message":{"usage":{"output_tokens":1}},"timestamp":"2026-01-10T09:00:00Z"})",
      R"({"message":{"usage":{"input_tokens":1}},"timestamp":"2026-01-10T09:00:00Z"})",
      R"({"message":{"usage":null},"timestamp":"2026-01-10T09:00:00Z"})",
      R"({"message":"usage","timestamp":"2026-01-10T09:00:00Z"})",
  };
  for (const auto& l : lines) EXPECT_FALSE(extractLine(l)) << l;
}

TEST(UsageExtract, FieldsCcusageRefuses) {
  const std::vector<std::string> usages = {
      R"("input_tokens":-1,"output_tokens":1)",
      R"("input_tokens":1.5,"output_tokens":1)",
      R"("input_tokens":"1","output_tokens":1)",
      R"("input_tokens":1,"output_tokens":null)",
      R"("input_tokens":1,"output_tokens":1,"cache_read_input_tokens":null)",
      R"("input_tokens":1,"output_tokens":1,"cache_creation_input_tokens":-3)",
      R"("input_tokens":1,"output_tokens":1,"cache_creation":{"ephemeral_5m_input_tokens":-1})",
      R"("input_tokens":99999999999999999999,"output_tokens":1)",
  };
  for (const auto& u : usages) EXPECT_FALSE(extractLine(line(u))) << u;
  const std::string ok = R"("input_tokens":1,"output_tokens":1)";
  for (const auto& extra : {R"("costUSD":"0.1",)"s, R"("costUSD":null,)"s, R"("requestId":"",)"s,
                            R"("sessionId":"",)"s, R"("version":"beta",)"s}) {
    EXPECT_FALSE(extractLine(line(ok, extra))) << extra;
  }
  EXPECT_FALSE(extractLine(line(ok, "", R"("id":"","model":"m",)")));
  EXPECT_FALSE(extractLine(line(ok, "", R"("id":"m1","model":"",)")));
  EXPECT_FALSE(extractLine(line(ok, "", R"("id":"m1","model":7,)")));
  // Regression (compare-ccusage, ccusage 20.0.24): isSidechain, cache_creation and token
  // counts are typed too; null is none for the first two.
  EXPECT_FALSE(extractLine(line(ok, R"("isSidechain":"yes",)")));
  EXPECT_TRUE(extractLine(line(ok, R"("isSidechain":null,)")));
  EXPECT_FALSE(extractLine(line(R"("input_tokens":1,"output_tokens":1,"cache_creation":5)")));
  EXPECT_TRUE(extractLine(line(R"("input_tokens":1,"output_tokens":1,"cache_creation":null)")));
  EXPECT_FALSE(extractLine(line(R"("input_tokens":-0,"output_tokens":1)")));
  EXPECT_FALSE(extractLine(line(R"("input_tokens":1.0,"output_tokens":1)")));
  // Fields ccusage does not read do not matter.
  EXPECT_TRUE(extractLine(line(ok, R"("version":"2.0.31","isApiErrorMessage":"x","type":5,)")));
}

TEST(UsageExtract, ParserIsReusedAcrossLinesOfAnySize) {
  Extractor ex(builtinPricing());
  const std::string big = line(R"("input_tokens":1,"output_tokens":2)",
                               R"("pad":")" + std::string(200000, 'x') + R"(",)");
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(extractLine(ex, line(R"("input_tokens":1,"output_tokens":2)")));
    ASSERT_TRUE(extractLine(ex, big));
  }
}

TEST(UsagePaths, ProjectAndSession) {
  auto p = splitPath("/home/u/.claude/projects/-home-u-app/0a1b.jsonl");
  EXPECT_EQ(p.project, "-home-u-app");
  EXPECT_EQ(p.session, "0a1b");
  p = splitPath("/home/u/.claude/projects/-home-u-app/0a1b/subagents/agent-7.jsonl");
  EXPECT_EQ(p.project, "-home-u-app");
  EXPECT_EQ(p.session, "0a1b");
  // A home under ~/projects does not shift the project.
  p = splitPath("/home/u/projects/.claude/projects/-home-u-projects-x/s.jsonl");
  EXPECT_EQ(p.project, "-home-u-projects-x");
  EXPECT_EQ(p.session, "s");
  p = splitPath("/var/log/other/s.jsonl");
  EXPECT_EQ(p.project, "unknown");
  EXPECT_EQ(p.session, "s");
}

TEST(UsagePaths, ClaudeProjectGlobs) {
  EXPECT_EQ(config::claudeProjectGlobs(nullptr, "/home/u"),
            (std::vector<std::string>{"/home/u/.config/claude/projects/**/*.jsonl",
                                      "/home/u/.claude/projects/**/*.jsonl"}));
  EXPECT_EQ(config::claudeProjectGlobs("  ", "/home/u"),
            config::claudeProjectGlobs(nullptr, "/home/u"));
  EXPECT_EQ(config::claudeProjectGlobs("/a, /b/ ,,/a", "/home/u"),
            (std::vector<std::string>{"/a/projects/**/*.jsonl", "/b/projects/**/*.jsonl"}));
}

// ---- Cost ----------------------------------------------------------------------------------

Entry tokens(std::int64_t in, std::int64_t out, std::int64_t cw5m = 0, std::int64_t cw1h = 0,
             std::int64_t cr = 0) {
  Entry e;
  e.input = in;
  e.output = out;
  e.cache_creation_5m = cw5m;
  e.cache_creation_1h = cw1h;
  e.cache_read = cr;
  return e;
}

TEST(UsageCost, BaseRates) {
  const Pricing p = builtinPricing();
  EXPECT_NEAR(cost(p, "claude-sonnet-4-20250514", tokens(1000, 500, 300, 200, 10000)),
              (1000 * 3 + 500 * 15 + 300 * 3.75 + 200 * 6 + 10000 * 0.3) / 1e6, 1e-12);
  EXPECT_NEAR(cost(p, "claude-opus-4-1-20250805", tokens(1000, 500, 300, 200, 10000)),
              (1000 * 15 + 500 * 75 + 300 * 18.75 + 200 * 30 + 10000 * 1.5) / 1e6, 1e-12);
  EXPECT_NEAR(cost(p, "claude-opus-4-5-20251101", tokens(1000, 1000, 1000, 1000, 1000)),
              (5 + 25 + 6.25 + 10 + 0.5) / 1e3, 1e-12);
  EXPECT_NEAR(cost(p, "claude-3-5-haiku-20241022", tokens(1000, 1000, 1000, 1000, 1000)),
              (0.8 + 4 + 1 + 1.6 + 0.08) / 1e3, 1e-12);
  EXPECT_NEAR(cost(p, "claude-haiku-4-5-20251001", tokens(1000, 1000, 1000, 1000, 1000)),
              (1 + 5 + 1.25 + 2 + 0.1) / 1e3, 1e-12);
}

TEST(UsageCost, TierAbove200kPerCategory) {
  const Pricing p = builtinPricing();
  const std::string_view s4 = "claude-sonnet-4-20250514";
  EXPECT_NEAR(cost(p, s4, tokens(200'000, 0)), 0.6, 1e-12);  // exactly 200k: base only
  EXPECT_NEAR(cost(p, s4, tokens(200'001, 0)), 0.6 + 6e-6, 1e-12);
  EXPECT_NEAR(cost(p, s4, tokens(250'000, 1000, 210'000, 0, 300'000)), 1.86, 1e-12);
  // The 5m and 1h parts are tiered on their own: 2 x 150k stays at the base rates.
  EXPECT_NEAR(cost(p, s4, tokens(0, 0, 150'000, 150'000)), (150'000 * 3.75 + 150'000 * 6) / 1e6,
              1e-12);
  EXPECT_NEAR(cost(p, s4, tokens(0, 0, 0, 250'000)), (200'000 * 6 + 50'000 * 12) / 1e6, 1e-12);
  EXPECT_NEAR(cost(p, s4, tokens(0, 250'000)), (200'000 * 15 + 50'000 * 22.5) / 1e6, 1e-12);
  // No tier for opus: every token at the base rate.
  EXPECT_NEAR(cost(p, "claude-opus-4-20250514", tokens(300'000, 0)), 4.5, 1e-12);
}

TEST(UsageCost, ModelLookup) {
  const Pricing p = builtinPricing();
  const Entry e = tokens(1'000'000, 0);
  EXPECT_NEAR(cost(p, "sonnet-4-20250514", e), 3 + 800'000 * 3e-6, 1e-9);  // "claude-" added
  EXPECT_NEAR(cost(p, "claude-opus-4-5", e), 5, 1e-9);                     // contained in one id
  EXPECT_NEAR(cost(p, "CLAUDE-HAIKU-4-5", e), 1, 1e-9);                    // case-insensitive
  EXPECT_EQ(cost(p, "claude-future-9", e), 0);                             // unknown: 0, as ccusage
  EXPECT_EQ(cost(p, "", e), 0);
  EXPECT_EQ(cost(p, "<synthetic>", e), 0);
  // Contained in several ids: the shortest wins (opus-4-20250514 over opus-4-1-...).
  EXPECT_EQ(p.find("claude-opus-4"), &p.models.at("claude-opus-4-20250514"));
}

// ---- Pricing file ----------------------------------------------------------------------------

TEST(UsagePricing, ConfFileMatchesBuiltin) {
  auto loaded = loadPricing(std::filesystem::path(SQTAIL_SOURCE_ROOT) / "conf/pricing.toml");
  ASSERT_TRUE(loaded) << loaded.error();
  EXPECT_EQ(*loaded, builtinPricing());
}

TEST(UsagePricing, Errors) {
  auto bad = loadPricingString(R"(
[models."m"]
input = 1
output = -2
cache_rd = 1
above_200k = { input = "x", turbo = 1 }
[models."n"]
input = 1
[other]
)",
                               "p.toml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("p.toml:4: key 'models.\"m\".output': a price cannot be negative"),
            std::string::npos)
      << bad.error();
  EXPECT_NE(bad.error().find("p.toml:5: unknown key 'models.\"m\".cache_rd'"), std::string::npos);
  EXPECT_NE(bad.error().find("above_200k.input': expected a number"), std::string::npos);
  EXPECT_NE(bad.error().find("unknown key 'models.\"m\".above_200k.turbo'"), std::string::npos);
  EXPECT_NE(bad.error().find("'input' and 'output' are required"), std::string::npos);
  EXPECT_NE(bad.error().find("unknown key 'other'"), std::string::npos);
  EXPECT_FALSE(loadPricingString("[models\n", "p.toml"));
  EXPECT_FALSE(loadPricing("/nonexistent/pricing.toml"));
}

TEST(UsagePricing, TierKeysDefaultToBase) {
  auto p = loadPricingString(R"(
[models."m"]
input = 1
output = 2
cache_read = 0.5
fast_multiplier = 2
above_200k = { input = 4 }
)",
                             "p.toml");
  ASSERT_TRUE(p) << p.error();
  const ModelPrice& m = p->models.at("m");
  EXPECT_EQ(m.base, (Rates{1, 2, 0, 0, 0.5}));
  ASSERT_TRUE(m.above_threshold);
  EXPECT_EQ(*m.above_threshold, (Rates{4, 2, 0, 0, 0.5}));
  EXPECT_EQ(m.fast_multiplier, 2);
}

// ---- The usage table -------------------------------------------------------------------------

class Db {
 public:
  Db() {
    EXPECT_EQ(sqlite3_open(":memory:", &db_), SQLITE_OK);
    exec(std::string(sink::kUsageSchema));
    // The upsert breaks ties by the files' paths: a files table with just those two columns.
    exec("CREATE TABLE files(id INTEGER PRIMARY KEY, path TEXT NOT NULL)");
    EXPECT_EQ(sqlite3_prepare_v2(db_, sink::kUsageUpsert.data(),
                                 static_cast<int>(sink::kUsageUpsert.size()), &upsert_, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db_);
  }
  ~Db() {
    sqlite3_finalize(upsert_);
    sqlite3_close(db_);
  }

  void exec(const std::string& sql) {
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
        << (error ? error : "");
    sqlite3_free(error);
  }

  // Binds in kUsageUpsert's documented order.
  void upsert(const Entry& e, std::int64_t file_id, std::int64_t offset) {
    sqlite3_bind_text(upsert_, 1, e.dedup_key.data(), static_cast<int>(e.dedup_key.size()),
                      SQLITE_TRANSIENT);
    sqlite3_bind_int64(upsert_, 2, file_id);
    sqlite3_bind_int64(upsert_, 3, offset);
    sqlite3_bind_int64(upsert_, 4, e.ts_ms);
    sqlite3_bind_text(upsert_, 5, e.project.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(upsert_, 6, e.session.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(upsert_, 7, e.model.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(upsert_, 8, e.input);
    sqlite3_bind_int64(upsert_, 9, e.output);
    sqlite3_bind_int64(upsert_, 10, e.cache_creation_5m);
    sqlite3_bind_int64(upsert_, 11, e.cache_creation_1h);
    sqlite3_bind_int64(upsert_, 12, e.cache_read);
    if (e.cost_record) {
      sqlite3_bind_double(upsert_, 13, *e.cost_record);
    } else {
      sqlite3_bind_null(upsert_, 13);
    }
    sqlite3_bind_double(upsert_, 14, e.cost_calc);
    sqlite3_bind_int64(upsert_, 15, e.sidechain ? 1 : 0);
    sqlite3_bind_int64(upsert_, 16, e.total());
    EXPECT_EQ(sqlite3_step(upsert_), SQLITE_DONE) << sqlite3_errmsg(db_);
    sqlite3_reset(upsert_);
  }

  // Rows of a query as strings ("" for NULL), `binds` to ?1, ?2, ...
  std::vector<std::vector<std::string>> query(const std::string& sql,
                                              std::vector<std::int64_t> binds = {}) {
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db_) << "\n"
        << sql;
    for (std::size_t i = 0; i < binds.size(); ++i) {
      sqlite3_bind_int64(st, static_cast<int>(i + 1), binds[i]);
    }
    std::vector<std::vector<std::string>> rows;
    while (st != nullptr && sqlite3_step(st) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int c = 0; c < sqlite3_column_count(st); ++c) {
        const auto* text = sqlite3_column_text(st, c);
        row.emplace_back(text != nullptr ? reinterpret_cast<const char*>(text) : "");
      }
      rows.push_back(std::move(row));
    }
    sqlite3_finalize(st);
    return rows;
  }

  std::vector<std::vector<std::string>> report(const ReportSpec& spec,
                                               std::int64_t since = INT64_MIN,
                                               std::int64_t until = kNoLimit) {
    return query(reportSql(spec), {since, until});
  }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* upsert_ = nullptr;
};

Entry copy(std::string key, std::int64_t output, bool sidechain, std::int64_t ts = 1000) {
  Entry e = tokens(10, output);
  e.dedup_key = std::move(key);
  e.sidechain = sidechain;
  e.ts_ms = ts;
  e.project = "p";
  e.session = "s";
  e.model = "m";
  return e;
}

TEST(UsageUpsert, WinnerIsIndependentOfOrder) {
  // Copies of one entry: (output, sidechain). The winner: the non-sidechain copy with the
  // largest total, whatever the order they arrive in.
  const std::vector<std::pair<std::int64_t, bool>> copies = {
      {5, false}, {50, false}, {120, false}, {500, true}, {7, true}};
  std::vector<int> order = {0, 1, 2, 3, 4};
  int permutations = 0;
  do {
    Db db;
    for (int i : order) {
      db.upsert(copy("mid:a:b", copies[i].first, copies[i].second, 1000 + i), 1, i * 100);
    }
    auto rows = db.query("SELECT output_tokens, sidechain, ts, offset FROM usage");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0], (std::vector<std::string>{"120", "0", "1002", "200"}));
    ++permutations;
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_EQ(permutations, 120);
}

TEST(UsageUpsert, SidechainOnlyCopiesKeepTheLargest) {
  Db db;
  db.upsert(copy("mid:a:b", 10, true), 1, 0);
  db.upsert(copy("mid:a:b", 30, true), 1, 10);
  db.upsert(copy("mid:a:b", 20, true), 1, 20);
  EXPECT_EQ(db.query("SELECT output_tokens, sidechain FROM usage"),
            (std::vector<std::vector<std::string>>{{"30", "1"}}));
}

TEST(UsageUpsert, TiesKeepTheFirstAndReplaysChangeNothing) {
  Db db;
  db.upsert(copy("mid:a:b", 10, false, 1000), 1, 0);
  db.upsert(copy("mid:a:b", 10, false, 2000), 2, 0);  // a resumed session's copy
  db.upsert(copy("mid:a:b", 10, false, 1000), 1, 0);  // the first batch again after a crash
  EXPECT_EQ(db.query("SELECT file_id, ts FROM usage"),
            (std::vector<std::vector<std::string>>{{"1", "1000"}}));
}

TEST(UsageUpsert, EntriesWithoutKeyAreKeyedByPosition) {
  Db db;
  db.upsert(copy("", 10, false, 1000), 1, 0);
  db.upsert(copy("", 10, false, 1000), 1, 80);  // an identical line elsewhere: counted too
  db.upsert(copy("", 10, false, 1000), 1, 0);   // the same line replayed: once
  db.upsert(copy("", 10, false, 5000), 1, 0);   // new bytes at that offset after truncation
  EXPECT_EQ(db.query("SELECT dedup_key FROM usage ORDER BY id"),
            (std::vector<std::vector<std::string>>{
                {"pos:1:0:1000"}, {"pos:1:80:1000"}, {"pos:1:0:5000"}}));
}

// ---- The report ------------------------------------------------------------------------------

// Restores the process's zone after a test that changes it.
class UsageReport : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tz = std::getenv("TZ");
    saved_ = tz ? std::optional<std::string>(tz) : std::nullopt;
  }
  void TearDown() override {
    if (saved_) {
      setenv("TZ", saved_->c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }

 private:
  std::optional<std::string> saved_;
};

Entry at(std::string_view iso, std::string model, std::int64_t in, double cost_calc,
         std::optional<double> cost_record = std::nullopt) {
  Entry e = tokens(in, 1);
  e.ts_ms = *parseRfc3339ForTest(iso);
  e.model = std::move(model);
  e.cost_calc = cost_calc;
  e.cost_record = cost_record;
  e.project = "p";
  e.session = "s";
  static int n = 0;
  e.dedup_key = "k" + std::to_string(++n);
  return e;
}

TEST_F(UsageReport, DaysFollowTheTimezone) {
  Db db;
  db.upsert(at("2026-03-07T23:30:00Z", "a", 1, 0.1), 1, 0);  // Saturday
  db.upsert(at("2026-03-08T03:00:00Z", "a", 2, 0.2), 1, 1);  // Sunday 03:00 UTC
  db.upsert(at("2026-03-08T12:00:00Z", "b", 4, 0.4), 1, 2);
  const ReportSpec by_day{{Group::kDay}, CostMode::kAuto};

  ASSERT_TRUE(useTimezone("UTC"));
  auto rows = db.report(by_day);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0][0], "2026-03-07");
  EXPECT_EQ(rows[0][1], "1");
  EXPECT_EQ(rows[1][0], "2026-03-08");
  EXPECT_EQ(rows[1][1], "6");

  ASSERT_TRUE(useTimezone("Asia/Tokyo"));  // +09:00: 23:30Z is already Sunday
  rows = db.report(by_day);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0], "2026-03-08");
  EXPECT_EQ(rows[0][1], "7");

  // -05:00, and DST starts on 2026-03-08 at 07:00Z: 03:00Z is still Saturday 22:00 EST.
  ASSERT_TRUE(useTimezone("America/New_York"));
  rows = db.report(by_day);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0][0], "2026-03-07");
  EXPECT_EQ(rows[0][1], "3");
  EXPECT_EQ(rows[1][0], "2026-03-08");
  EXPECT_EQ(rows[1][1], "4");
}

TEST_F(UsageReport, WeeksStartOnSundayAndMonths) {
  Db db;
  db.upsert(at("2026-03-07T12:00:00Z", "a", 1, 0), 1, 0);  // Saturday
  db.upsert(at("2026-03-08T12:00:00Z", "a", 2, 0), 1, 1);  // Sunday
  db.upsert(at("2026-03-14T12:00:00Z", "a", 4, 0), 1, 2);  // Saturday
  db.upsert(at("2026-04-01T12:00:00Z", "a", 8, 0), 1, 3);  // Wednesday
  ASSERT_TRUE(useTimezone("UTC"));
  EXPECT_EQ(db.query("SELECT week, input_tokens FROM (" +
                         reportSql({{Group::kWeek}, CostMode::kAuto}) + ")",
                     {INT64_MIN, kNoLimit}),
            (std::vector<std::vector<std::string>>{
                {"2026-03-01", "1"}, {"2026-03-08", "6"}, {"2026-03-29", "8"}}));
  EXPECT_EQ(db.query("SELECT month, input_tokens FROM (" +
                         reportSql({{Group::kMonth}, CostMode::kAuto}) + ")",
                     {INT64_MIN, kNoLimit}),
            (std::vector<std::vector<std::string>>{{"2026-03", "7"}, {"2026-04", "8"}}));
}

TEST_F(UsageReport, ModelRowsLeaveOutEntriesWithoutModel) {
  Db db;
  db.upsert(at("2026-03-07T12:00:00Z", "a", 1, 0.5), 1, 0);
  db.upsert(at("2026-03-07T13:00:00Z", "", 2, 0, 0.25), 1, 1);  // <synthetic>
  db.upsert(at("2026-03-07T14:00:00Z", "b", 4, 1.0), 1, 2);
  ASSERT_TRUE(useTimezone("UTC"));
  const ReportSpec spec{{Group::kDay, Group::kModel}, CostMode::kAuto};
  auto rows = db.report(spec);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0][1], "b");  // costliest first within a day
  EXPECT_EQ(rows[1][1], "a");
  auto totals = db.query(totalsSql(spec), {INT64_MIN, kNoLimit});
  ASSERT_EQ(totals.size(), 1u);
  EXPECT_EQ(totals[0][0], "7");              // input_tokens: all three
  EXPECT_EQ(std::stod(totals[0][5]), 1.75);  // cost_usd
  // By day only: the day row has the entry without model too.
  rows = db.report({{Group::kDay}, CostMode::kAuto});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][1], "7");
}

TEST_F(UsageReport, CostModesAndRange) {
  Db db;
  db.upsert(at("2026-03-07T12:00:00Z", "a", 1, 0.5, 2.0), 1, 0);
  db.upsert(at("2026-03-08T12:00:00Z", "a", 2, 0.25), 1, 1);
  auto cost_of = [&](CostMode mode, std::int64_t since = INT64_MIN) {
    auto rows = db.query(totalsSql({{}, mode}), {since, kNoLimit});
    return std::stod(rows.at(0).at(5));
  };
  EXPECT_EQ(cost_of(CostMode::kAuto), 2.25);
  EXPECT_EQ(cost_of(CostMode::kCalculate), 0.75);
  EXPECT_EQ(cost_of(CostMode::kDisplay), 2.0);
  EXPECT_EQ(cost_of(CostMode::kAuto, *parseRfc3339ForTest("2026-03-08T00:00:00Z")), 0.25);
  auto empty = db.query(totalsSql({{}, CostMode::kAuto}), {kNoLimit - 1, kNoLimit});
  EXPECT_EQ(empty, (std::vector<std::vector<std::string>>{{"0", "0", "0", "0", "0", "0.0"}}));
}

TEST_F(UsageReport, TimezoneNamesAndLocalDays) {
  EXPECT_TRUE(useTimezone(""));
  EXPECT_TRUE(useTimezone("local"));
  EXPECT_FALSE(useTimezone("Mars/Olympus_Mons"));
  EXPECT_FALSE(useTimezone("../../etc/passwd"));
  EXPECT_FALSE(useTimezone("EST5EDT,M3.2.0,M11.1.0"));
  ASSERT_TRUE(useTimezone("Asia/Tokyo"));
  EXPECT_EQ(localDayStart("2026-01-11"), parseRfc3339ForTest("2026-01-10T15:00:00Z"));
  EXPECT_EQ(localDayStart("20260111"), parseRfc3339ForTest("2026-01-10T15:00:00Z"));
  EXPECT_EQ(localDayStart("2026-01-31", 1), parseRfc3339ForTest("2026-01-31T15:00:00Z"));
  EXPECT_FALSE(localDayStart("2026-02-30"));
  EXPECT_FALSE(localDayStart("2026-1-1"));
  EXPECT_FALSE(localDayStart("7d"));
  ASSERT_TRUE(useTimezone("America/New_York"));  // a 23-hour day
  EXPECT_EQ(*localDayStart("2026-03-08", 1) - *localDayStart("2026-03-08"), 23 * 3'600'000);
}

TEST(UsageReportSql, GroupsAndModes) {
  EXPECT_EQ(parseGroup("week"), Group::kWeek);
  EXPECT_FALSE(parseGroup("hour"));
  EXPECT_EQ(parseCostMode("calculate"), CostMode::kCalculate);
  EXPECT_FALSE(parseCostMode("estimate"));
  const std::string sql = reportSql({{Group::kSession, Group::kDay}, CostMode::kAuto});
  EXPECT_NE(sql.find("ORDER BY 2, cost_usd DESC, 1"), std::string::npos) << sql;
  EXPECT_EQ(reportSql({{Group::kDay}, CostMode::kAuto}).find("model <> ''"), std::string::npos);
}

// ---- The corpus (tests/integration/usage_corpus) ---------------------------------------------

std::vector<std::vector<std::string>> readCsv(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<std::vector<std::string>> rows;
  std::string text;
  std::getline(in, text);  // header
  while (std::getline(in, text)) {
    std::vector<std::string> cells;
    std::stringstream stream(text);
    std::string cell;
    while (std::getline(stream, cell, ',')) cells.push_back(cell);
    rows.push_back(cells);
  }
  return rows;
}

// What `sqtail run` does with the corpus: files in sorted path order, only complete lines
// (a last line without newline is not shipped), each usage entry upserted.
void loadCorpus(Db& db) {
  const auto root = std::filesystem::path(SQTAIL_SOURCE_ROOT) / "tests/integration/usage_corpus";
  std::vector<std::string> files;
  for (const auto& item : std::filesystem::recursive_directory_iterator(root / "projects")) {
    if (item.is_regular_file() && item.path().extension() == ".jsonl") {
      files.push_back(item.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  ASSERT_EQ(files.size(), 4u);
  Extractor ex(builtinPricing());
  for (std::size_t id = 0; id < files.size(); ++id) {
    std::ifstream in(files[id], std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    std::size_t offset = 0;
    for (std::size_t nl; (nl = text.find('\n', offset)) != std::string::npos; offset = nl + 1) {
      if (auto e = extractLine(ex, std::string_view(text).substr(offset, nl - offset), files[id])) {
        db.upsert(*e, static_cast<std::int64_t>(id + 1), static_cast<std::int64_t>(offset));
      }
    }
  }
}

// Token columns exactly, the last (cost_usd) within a micro-dollar.
void expectReport(const std::vector<std::vector<std::string>>& got,
                  const std::vector<std::vector<std::string>>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t r = 0; r < want.size(); ++r) {
    ASSERT_EQ(got[r].size(), want[r].size());
    for (std::size_t c = 0; c < want[r].size(); ++c) {
      if (c == want[r].size() - 1) {
        EXPECT_NEAR(std::stod(got[r][c]), std::stod(want[r][c]), 1e-6) << "row " << r;
      } else {
        EXPECT_EQ(got[r][c], want[r][c]) << "row " << r << " column " << c;
      }
    }
  }
}

const std::filesystem::path kCorpus =
    std::filesystem::path(SQTAIL_SOURCE_ROOT) / "tests/integration/usage_corpus";

TEST_F(UsageReport, CorpusByDayAndModel) {
  Db db;
  loadCorpus(db);
  ASSERT_TRUE(useTimezone("UTC"));
  expectReport(db.report({{Group::kDay, Group::kModel}, CostMode::kAuto}),
               readCsv(kCorpus / "expected_day_model_utc.csv"));
  ASSERT_TRUE(useTimezone("Asia/Tokyo"));
  expectReport(db.report({{Group::kDay, Group::kModel}, CostMode::kAuto}),
               readCsv(kCorpus / "expected_day_model_tokyo.csv"));
}

TEST_F(UsageReport, CorpusByDayWeekSessionAndTotals) {
  Db db;
  loadCorpus(db);
  ASSERT_TRUE(useTimezone("UTC"));
  expectReport(db.report({{Group::kDay}, CostMode::kAuto}),
               readCsv(kCorpus / "expected_by_day_utc.csv"));
  expectReport(db.report({{Group::kWeek}, CostMode::kAuto}),
               readCsv(kCorpus / "expected_by_week_utc.csv"));
  expectReport(db.report({{Group::kSession}, CostMode::kAuto}),
               readCsv(kCorpus / "expected_by_session.csv"));
  const auto totals = readCsv(kCorpus / "expected_totals.csv");
  ASSERT_EQ(totals.size(), 2u);
  for (const auto& want : totals) {
    const CostMode mode = *parseCostMode(want[1]);
    auto got = db.query(totalsSql({{}, mode}), {INT64_MIN, kNoLimit});
    expectReport(got, {std::vector<std::string>(want.begin() + 2, want.end())});
  }
}

}  // namespace
}  // namespace sqtail::usage
