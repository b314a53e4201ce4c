#include "config/config.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace sqtail::config {
namespace {

using std::chrono::milliseconds;

// Loads text that must be rejected and returns the message.
std::string errorOf(std::string_view toml) {
  auto loaded = loadString(toml, "t.toml");
  if (loaded) {
    ADD_FAILURE() << "expected an error for:\n" << toml;
    return {};
  }
  return loaded.error().message;
}

Config load(std::string_view toml) {
  auto loaded = loadString(toml, "t.toml");
  if (!loaded) {
    ADD_FAILURE() << loaded.error().message;
    return {};
  }
  return *loaded;
}

// ---- durations ----

TEST(ParseDuration, AcceptsEveryUnit) {
  EXPECT_EQ(parseDuration("250ms"), milliseconds{250});
  EXPECT_EQ(parseDuration("1s"), milliseconds{1000});
  EXPECT_EQ(parseDuration("5m"), milliseconds{5 * 60 * 1000});
  EXPECT_EQ(parseDuration("1h"), milliseconds{60 * 60 * 1000});
  EXPECT_EQ(parseDuration("7d"), milliseconds{7LL * 24 * 60 * 60 * 1000});
  EXPECT_EQ(parseDuration("0ms"), milliseconds{0});
}

TEST(ParseDuration, BareNumberIsSeconds) {
  EXPECT_EQ(parseDuration("30"), milliseconds{30'000});
  EXPECT_EQ(parseDuration("0"), milliseconds{0});
}

TEST(ParseDuration, SpaceBetweenNumberAndUnit) {
  EXPECT_EQ(parseDuration("10 s"), milliseconds{10'000});
}

TEST(ParseDuration, LargestValue) {
  // INT64_MAX milliseconds is the top of std::chrono::milliseconds.
  EXPECT_EQ(parseDuration("9223372036854775807ms"), milliseconds::max());
  EXPECT_FALSE(parseDuration("9223372036854775808ms"));
}

TEST(ParseDuration, RejectsGarbage) {
  for (std::string_view bad :
       {"", "abc", "s", "ms", " 1s", "+1s", "1s ", "1 sec", "1S", "5x", "1h30m", "0x10", "1e3ms"}) {
    EXPECT_FALSE(parseDuration(bad)) << '"' << bad << '"';
  }
}

TEST(ParseDuration, ErrorMessages) {
  EXPECT_EQ(parseDuration("-1s").error(), R"("-1s": a duration cannot be negative)");
  EXPECT_EQ(parseDuration("5x").error(), R"("5x": unknown unit "x", use ms, s, m, h or d)");
  EXPECT_EQ(parseDuration("1.5s").error(),
            R"("1.5s": fractions are not supported, use a smaller unit)");
  EXPECT_EQ(parseDuration("soon").error(),
            R"(expected a duration like "250ms", "1s", "5m", "1h", "7d", got "soon")");
  EXPECT_EQ(parseDuration("99999999999999999999s").error(),
            R"("99999999999999999999s": the duration is too large)");
  // Fits in 64 bits as a number, not once it is scaled to milliseconds.
  EXPECT_EQ(parseDuration("106751991167301d").error(),
            R"("106751991167301d": the duration is too large)");
}

// ---- sizes ----

TEST(ParseSize, AcceptsEveryUnit) {
  EXPECT_EQ(parseSize("4096"), 4096u);
  EXPECT_EQ(parseSize("0"), 0u);
  EXPECT_EQ(parseSize("7B"), 7u);
  EXPECT_EQ(parseSize("500kB"), 500'000u);
  EXPECT_EQ(parseSize("2KB"), 2'000u);
  EXPECT_EQ(parseSize("10MB"), 10'000'000u);
  EXPECT_EQ(parseSize("3GB"), 3'000'000'000u);
  EXPECT_EQ(parseSize("2TB"), 2'000'000'000'000u);
  EXPECT_EQ(parseSize("64KiB"), 64u * 1024);
  EXPECT_EQ(parseSize("16MiB"), 16u * 1024 * 1024);
  EXPECT_EQ(parseSize("1GiB"), 1ull << 30);
  EXPECT_EQ(parseSize("2TiB"), 2ull << 40);
  EXPECT_EQ(parseSize("16 MiB"), 16u * 1024 * 1024);
}

TEST(ParseSize, Limits) {
  EXPECT_EQ(parseSize("18446744073709551615"), UINT64_MAX);
  EXPECT_FALSE(parseSize("18446744073709551616"));
  EXPECT_EQ(parseSize("16777215TiB"), 16777215ull << 40);
  EXPECT_EQ(parseSize("16777216TiB").error(), R"("16777216TiB": the size is too large)");
}

TEST(ParseSize, RejectsGarbage) {
  for (std::string_view bad :
       {"", "abc", "MiB", " 1MiB", "1MiB ", "10kib", "10mb", "10K", "10M", "1_000", "0x10", "+5"}) {
    EXPECT_FALSE(parseSize(bad)) << '"' << bad << '"';
  }
}

TEST(ParseSize, ErrorMessages) {
  EXPECT_EQ(parseSize("-1").error(), R"("-1": a size cannot be negative)");
  EXPECT_EQ(parseSize("1.5MiB").error(),
            R"("1.5MiB": fractions are not supported, use a smaller unit)");
  EXPECT_EQ(parseSize("10XB").error(),
            R"("10XB": unknown unit "XB", use B, kB, KB, MB, GB, TB, KiB, MiB, GiB or TiB)");
  EXPECT_EQ(parseSize("big").error(),
            R"(expected a size like "4096", "64KiB", "16MiB", "1GiB", "10MB", got "big")");
}

// ---- JSON pointers ----

TEST(CheckJsonPointer, Valid) {
  for (std::string_view ok : {"/", "/ts", "/a/b", "/@timestamp", "/a~0b", "/a~1b", "/~01", "/0"}) {
    EXPECT_TRUE(checkJsonPointer(ok)) << ok;
  }
}

TEST(CheckJsonPointer, Invalid) {
  EXPECT_EQ(checkJsonPointer("").error(),
            R"("" is not allowed: the empty JSON pointer is the whole line, not a field)");
  EXPECT_EQ(checkJsonPointer("ts").error(),
            R"("ts" is not a JSON pointer: it must start with '/' (like "/ts"))");
  for (std::string_view bad : {"/a~", "/a~2", "/~/x", "/a~a"}) {
    auto checked = checkJsonPointer(bad);
    ASSERT_FALSE(checked) << bad;
    EXPECT_NE(checked.error().find("'~' must be followed by '0' or '1'"), std::string::npos)
        << checked.error();
  }
}

// ---- loading: good configs ----

TEST(LoadString, EmptyConfigIsAllDefaults) {
  const Config config = load("");
  EXPECT_EQ(config, Config{});
  EXPECT_TRUE(config.sources.empty());
  // The documented defaults (conf/sqtail.toml spells them out too).
  EXPECT_EQ(config.db, "sqtail.db");
  EXPECT_TRUE(config.store_raw);
  EXPECT_EQ(config.flush_interval, milliseconds{1000});
  EXPECT_EQ(config.batch_max_rows, 20000u);
  EXPECT_EQ(config.batch_max_bytes, 4u << 20);
  EXPECT_EQ(config.max_buffer_bytes, 24u << 20);
  EXPECT_EQ(config.max_line_bytes, 1u << 20);
  EXPECT_EQ(config.read_chunk_bytes, 256u << 10);
  EXPECT_EQ(config.fingerprint_bytes, 1024u);
}

TEST(LoadString, FullConfig) {
  const Config config = load(R"(db = "/var/lib/sqtail/stats.db"
store_raw = false
flush_interval = "250ms"
batch_max_rows = 500
batch_max_bytes = "1MiB"
max_buffer_bytes = 8388608
max_line_bytes = "64KiB"
read_chunk_bytes = "32KiB"
fingerprint_bytes = "4KiB"
rotate_wait = "30s"
poll_interval = "250ms"
follow_symlinks = true

[[source]]
name = "api.v2-prod_1"
paths = ["/var/log/api/*.jsonl", "/var/log/api/**/*.json"]
exclude = ["*.gz", "**/old/**"]
read_from = "tail"

[source.fields]
ts = "/time"
message = ["/msg", "/text", "/a~1b"]

[[source]]
name = "agent"
paths = "agent.jsonl"
fields = { level = [] }
)");
  EXPECT_EQ(config.db, "/var/lib/sqtail/stats.db");
  EXPECT_FALSE(config.store_raw);
  EXPECT_EQ(config.flush_interval, milliseconds{250});
  EXPECT_EQ(config.batch_max_rows, 500u);
  EXPECT_EQ(config.batch_max_bytes, 1u << 20);
  EXPECT_EQ(config.max_buffer_bytes, 8u << 20);
  EXPECT_EQ(config.max_line_bytes, 64u << 10);
  EXPECT_EQ(config.read_chunk_bytes, 32u << 10);
  EXPECT_EQ(config.fingerprint_bytes, 4096u);
  EXPECT_EQ(config.rotate_wait, milliseconds{30000});
  EXPECT_EQ(config.poll_interval, milliseconds{250});
  EXPECT_TRUE(config.follow_symlinks);
  ASSERT_EQ(config.sources.size(), 2u);

  const Source& api = config.sources[0];
  EXPECT_EQ(api.name, "api.v2-prod_1");
  EXPECT_EQ(api.paths,
            (std::vector<std::string>{"/var/log/api/*.jsonl", "/var/log/api/**/*.json"}));
  EXPECT_EQ(api.exclude, (std::vector<std::string>{"*.gz", "**/old/**"}));
  EXPECT_EQ(api.read_from, ReadFrom::kTail);
  // Given keys replace their default list; the others keep it.
  EXPECT_EQ(api.fields.ts, (std::vector<std::string>{"/time"}));
  EXPECT_EQ(api.fields.message, (std::vector<std::string>{"/msg", "/text", "/a~1b"}));
  EXPECT_EQ(api.fields.level, FieldMap{}.level);
  EXPECT_EQ(api.fields.category, FieldMap{}.category);

  const Source& agent = config.sources[1];
  EXPECT_EQ(agent.name, "agent");
  EXPECT_EQ(agent.paths, (std::vector<std::string>{"agent.jsonl"}));
  EXPECT_TRUE(agent.exclude.empty());
  EXPECT_EQ(agent.read_from, ReadFrom::kHead);
  EXPECT_TRUE(agent.fields.level.empty());
  EXPECT_EQ(agent.fields.ts, FieldMap{}.ts);
}

TEST(LoadString, IntegerDurationIsSeconds) {
  EXPECT_EQ(load("flush_interval = 5").flush_interval, milliseconds{5000});
  EXPECT_EQ(load(R"(flush_interval = "2m")").flush_interval, milliseconds{120'000});
}

TEST(LoadString, ZeroFingerprintIsAllowed) {
  EXPECT_EQ(load("fingerprint_bytes = 0").fingerprint_bytes, 0u);
}

TEST(LoadString, BatchMayExceedBuffer) {
  const Config config = load(R"(batch_max_bytes = "1GiB")");
  EXPECT_EQ(config.batch_max_bytes, 1ull << 30);
}

TEST(LoadString, LimitsMayEqualBuffer) {
  const Config config = load(R"(max_buffer_bytes = "1MiB"
max_line_bytes = "1MiB"
read_chunk_bytes = "1MiB")");
  EXPECT_EQ(config.max_line_bytes, config.max_buffer_bytes);
  EXPECT_EQ(config.read_chunk_bytes, config.max_buffer_bytes);
}

TEST(LoadString, EmptySourceArrayIsValid) { EXPECT_TRUE(load("source = []").sources.empty()); }

TEST(LoadString, RetentionKeys) {
  // Unset is "keep forever", for events and rollups alike.
  EXPECT_FALSE(Config{}.retention);
  EXPECT_FALSE(Config{}.max_events);
  EXPECT_FALSE(Config{}.rollup_retention);
  const Config config = load(R"(retention = "30d"
max_events = 5000000
rollup_retention = 3600)");
  EXPECT_EQ(config.retention, milliseconds{30LL * 24 * 3600 * 1000});
  EXPECT_EQ(config.max_events, 5'000'000u);
  EXPECT_EQ(config.rollup_retention, milliseconds{3'600'000});
}

TEST(LoadErrors, BadRetentionKeys) {
  EXPECT_EQ(errorOf(R"(retention = "0d")"), "t.toml:1: key 'retention': must be greater than zero");
  EXPECT_EQ(errorOf(R"(retention = "a month")"),
            R"(t.toml:1: key 'retention': expected a duration like "250ms", "1s", "5m", "1h", )"
            R"("7d", got "a month")");
  EXPECT_EQ(errorOf("max_events = 0"),
            "t.toml:1: key 'max_events': must be greater than zero, got 0");
  EXPECT_EQ(errorOf(R"(max_events = "1M")"),
            "t.toml:1: key 'max_events': expected an integer, got a string");
  EXPECT_EQ(errorOf("rollup_retention = true"),
            R"(t.toml:1: key 'rollup_retention': expected a duration (a string like "250ms", )"
            R"("1s", "5m", "1h", "7d" or an integer number of seconds), got a boolean)");
  EXPECT_EQ(errorOf("retension = \"1d\""),
            "t.toml:1: unknown key 'retension' (did you mean 'retention'?)");
}

// ---- loading: errors, each naming file, line and key ----

TEST(LoadErrors, UnknownTopLevelKeyWithHint) {
  EXPECT_EQ(errorOf(R"(db = "x.db"

flush_intervall = "1s"
)"),
            "t.toml:3: unknown key 'flush_intervall' (did you mean 'flush_interval'?)");
}

TEST(LoadErrors, UnknownTopLevelKeyWithoutHint) {
  EXPECT_EQ(errorOf("colour = 1"), "t.toml:1: unknown key 'colour'");
}

TEST(LoadErrors, UnknownKeyInSource) {
  EXPECT_EQ(errorOf(R"([[source]]
name = "app"
paths = ["a"]

[[source]]
name = "b"
pathz = ["x"]
paths = ["y"]
)"),
            "t.toml:7: unknown key 'source[1].pathz' (did you mean 'paths'?)");
}

TEST(LoadErrors, UnknownSourceKeySuggestsTheClosestOne) {
  EXPECT_EQ(errorOf(R"([[source]]
name = "app"
paths = ["a"]
presets = "claude-code"
)"),
            "t.toml:4: unknown key 'source[0].presets' (did you mean 'preset'?)");
}

TEST(Presets, ClaudeCodeFillsTheSourceAndKeysBesideItOverride) {
  setenv("CLAUDE_CONFIG_DIR", "/cfg/a, /cfg/b/", 1);
  const Config config = load(R"([[source]]
preset = "claude-code"

[[source]]
preset = "claude-code"
name = "agents-2"
paths = ["/elsewhere/**/*.jsonl"]
read_from = "tail"
)");
  unsetenv("CLAUDE_CONFIG_DIR");
  ASSERT_EQ(config.sources.size(), 2u);
  const Source& a = config.sources[0];
  EXPECT_EQ(a.name, "claude-code");
  EXPECT_EQ(a.usage, "claude-code");
  EXPECT_EQ(a.paths,
            (std::vector<std::string>{"/cfg/a/projects/**/*.jsonl", "/cfg/b/projects/**/*.jsonl"}));
  EXPECT_EQ(a.fields.ts, (std::vector<std::string>{"/timestamp"}));
  EXPECT_EQ(a.fields.category, (std::vector<std::string>{"/type"}));
  const Source& b = config.sources[1];
  EXPECT_EQ(b.name, "agents-2");
  EXPECT_EQ(b.usage, "claude-code");
  EXPECT_EQ(b.paths, (std::vector<std::string>{"/elsewhere/**/*.jsonl"}));
  EXPECT_EQ(b.read_from, ReadFrom::kTail);
}

TEST(Presets, UnknownPresetAndBadUsageAndPricingKey) {
  EXPECT_EQ(errorOf(R"([[source]]
preset = "codex"
)"),
            "t.toml:2: key 'source[0].preset': unknown preset \"codex\" (known: claude-code)");
  EXPECT_EQ(errorOf(R"([[source]]
name = "x"
paths = ["a"]
usage = "gemini"
)"),
            "t.toml:4: key 'source[0].usage': expected \"claude-code\" or \"\", got \"gemini\"");
  EXPECT_EQ(load("pricing = \"conf/pricing.toml\"\n").pricing, "conf/pricing.toml");
}

TEST(LoadErrors, TopLevelKeyAfterSource) {
  EXPECT_EQ(errorOf(R"([[source]]
name = "app"
paths = ["a"]
flush_interval = "1s"
)"),
            "t.toml:4: unknown key 'source[0].flush_interval' ('flush_interval' is a top-level "
            "key: move it above the first [[source]])");
}

TEST(LoadErrors, UnknownFieldKey) {
  EXPECT_EQ(errorOf(R"([[source]]
name = "app"
paths = ["a"]
[source.fields]
time = "/t"
)"),
            "t.toml:5: unknown key 'source[0].fields.time' (expected one of: ts, level, category, "
            "message)");
}

TEST(LoadErrors, WrongTypes) {
  EXPECT_EQ(errorOf("db = 1"), "t.toml:1: key 'db': expected a string, got an integer");
  EXPECT_EQ(errorOf("\nstore_raw = \"yes\""),
            "t.toml:2: key 'store_raw': expected a boolean, got a string");
  EXPECT_EQ(errorOf("batch_max_rows = \"10\""),
            "t.toml:1: key 'batch_max_rows': expected an integer, got a string");
  EXPECT_EQ(errorOf("flush_interval = 1.5"),
            "t.toml:1: key 'flush_interval': expected a duration (a string like \"250ms\", \"1s\", "
            "\"5m\", \"1h\", \"7d\" or an integer number of seconds), got a float");
  EXPECT_EQ(errorOf("max_line_bytes = true"),
            "t.toml:1: key 'max_line_bytes': expected a size (a string like \"4096\", \"64KiB\", "
            "\"16MiB\", \"1GiB\", \"10MB\" or an integer number of bytes), got a boolean");
  EXPECT_EQ(errorOf("[source]\nname = \"x\""),
            "t.toml:1: key 'source': expected an array of tables ([[source]]), got a table");
  EXPECT_EQ(errorOf("source = [1]"), "t.toml:1: key 'source[0]': expected a table, got an integer");
  EXPECT_EQ(errorOf("[[source]]\nname = \"a\"\npaths = 5"),
            "t.toml:3: key 'source[0].paths': expected a string or an array of strings, got an "
            "integer");
  EXPECT_EQ(errorOf("[[source]]\nname = \"a\"\npaths = [\"a\", 3]"),
            "t.toml:3: key 'source[0].paths[1]': expected a string, got an integer");
  EXPECT_EQ(errorOf("[[source]]\nname = \"a\"\npaths = [\"a\"]\nfields = 1"),
            "t.toml:4: key 'source[0].fields': expected a table, got an integer");
  EXPECT_EQ(errorOf("[[source]]\nname = 7\npaths = [\"a\"]"),
            "t.toml:2: key 'source[0].name': expected a string, got an integer");
}

TEST(LoadErrors, BadDuration) {
  EXPECT_EQ(errorOf("db = \"x\"\nflush_interval = \"1 sec\""),
            R"(t.toml:2: key 'flush_interval': "1 sec": unknown unit "sec", use ms, s, m, h or d)");
  EXPECT_EQ(errorOf("flush_interval = \"-5s\""),
            R"(t.toml:1: key 'flush_interval': "-5s": a duration cannot be negative)");
  EXPECT_EQ(errorOf("flush_interval = -5"),
            "t.toml:1: key 'flush_interval': a duration cannot be negative, got -5");
  EXPECT_EQ(errorOf("flush_interval = 9223372036854775807"),
            "t.toml:1: key 'flush_interval': 9223372036854775807 seconds is too large");
}

TEST(LoadErrors, ZeroDurationOrCount) {
  EXPECT_EQ(errorOf(R"(flush_interval = "0ms")"),
            "t.toml:1: key 'flush_interval': must be greater than zero");
  EXPECT_EQ(errorOf("flush_interval = 0"),
            "t.toml:1: key 'flush_interval': must be greater than zero");
  EXPECT_EQ(errorOf("batch_max_rows = 0"),
            "t.toml:1: key 'batch_max_rows': must be greater than zero, got 0");
  EXPECT_EQ(errorOf("batch_max_rows = -3"),
            "t.toml:1: key 'batch_max_rows': must be greater than zero, got -3");
}

TEST(LoadErrors, BadSizes) {
  for (std::string_view key :
       {"batch_max_bytes", "max_buffer_bytes", "max_line_bytes", "read_chunk_bytes"}) {
    EXPECT_EQ(errorOf(std::string{key} + " = 0"),
              "t.toml:1: key '" + std::string{key} + "': must be greater than zero");
    EXPECT_EQ(errorOf(std::string{key} + " = \"0KiB\""),
              "t.toml:1: key '" + std::string{key} + "': must be greater than zero");
  }
  EXPECT_EQ(errorOf("max_line_bytes = -1"),
            "t.toml:1: key 'max_line_bytes': a size cannot be negative, got -1");
  EXPECT_EQ(errorOf(R"(batch_max_bytes = "16 megs")"),
            R"(t.toml:1: key 'batch_max_bytes': "16 megs": unknown unit "megs", )"
            "use B, kB, KB, MB, GB, TB, KiB, MiB, GiB or TiB");
  EXPECT_EQ(errorOf(R"(fingerprint_bytes = "99999999999TiB")"),
            R"(t.toml:1: key 'fingerprint_bytes': "99999999999TiB": the size is too large)");
}

TEST(LoadErrors, LineLongerThanBuffer) {
  EXPECT_EQ(errorOf(R"(db = "x"
max_line_bytes = "128MiB"
)"),
            "t.toml:2: key 'max_line_bytes': 134217728 bytes is more than max_buffer_bytes "
            "(25165824 bytes); a whole line must fit in the buffer");
}

TEST(LoadErrors, BufferSmallerThanDefaultLine) {
  // Only the buffer was written, so the message points at it and names the other key.
  EXPECT_EQ(errorOf(R"(max_buffer_bytes = "512KiB")"),
            "t.toml:1: key 'max_buffer_bytes': 524288 bytes is less than max_line_bytes (1048576 "
            "bytes); a whole line must fit in the buffer");
}

TEST(LoadErrors, ReadChunkLargerThanBuffer) {
  EXPECT_EQ(errorOf(R"(max_buffer_bytes = "4MiB"
max_line_bytes = "1MiB"
read_chunk_bytes = "8MiB"
)"),
            "t.toml:3: key 'read_chunk_bytes': 8388608 bytes is more than max_buffer_bytes "
            "(4194304 bytes); one read must fit in the buffer");
}

TEST(LoadErrors, BadReadFrom) {
  EXPECT_EQ(errorOf(R"([[source]]
name = "a"
paths = ["a"]

[[source]]
name = "b"
paths = ["b"]
read_from = "middle"
)"),
            R"(t.toml:8: key 'source[1].read_from': expected "head" or "tail", got "middle")");
  EXPECT_EQ(errorOf("[[source]]\nname = \"a\"\npaths = [\"a\"]\nread_from = 0"),
            R"(t.toml:4: key 'source[0].read_from': expected "head" or "tail", got an integer)");
}

TEST(LoadErrors, DuplicateSourceName) {
  EXPECT_EQ(
      errorOf(R"([[source]]
name = "app"
paths = ["a"]

[[source]]
name = "app"
paths = ["b"]
)"),
      R"(t.toml:6: key 'source[1].name': duplicate source name "app" (first used at line 2))");
}

TEST(LoadErrors, InvalidSourceName) {
  EXPECT_EQ(errorOf("[[source]]\nname = \"my app\"\npaths = [\"a\"]"),
            R"(t.toml:2: key 'source[0].name': "my app" is not a valid source name )"
            "(use letters, digits, '_', '.' and '-')");
  EXPECT_EQ(errorOf("[[source]]\nname = \"\"\npaths = [\"a\"]"),
            R"(t.toml:2: key 'source[0].name': "" is not a valid source name )"
            "(use letters, digits, '_', '.' and '-')");
}

TEST(LoadErrors, MissingPaths) {
  // Reported on the [[source]] line, the table that lacks it.
  EXPECT_EQ(errorOf(R"(db = "x"

[[source]]
name = "app"
)"),
            "t.toml:3: key 'source[0].paths': missing (a source needs at least one glob)");
}

TEST(LoadErrors, MissingName) {
  EXPECT_EQ(errorOf("[[source]]\npaths = [\"a\"]"),
            "t.toml:1: key 'source[0].name': missing (every source needs a unique name)");
}

TEST(LoadErrors, EmptyPaths) {
  EXPECT_EQ(errorOf("[[source]]\nname = \"a\"\npaths = []"),
            "t.toml:3: key 'source[0].paths': must list at least one glob");
  EXPECT_EQ(errorOf("[[source]]\nname = \"a\"\npaths = [\"x\",\n  \"\"]"),
            "t.toml:4: key 'source[0].paths[1]': must not be empty");
  EXPECT_EQ(errorOf("[[source]]\nname = \"a\"\npaths = [\"x\"]\nexclude = [\"\"]"),
            "t.toml:4: key 'source[0].exclude[0]': must not be empty");
}

TEST(LoadErrors, BadJsonPointer) {
  EXPECT_EQ(errorOf(R"([[source]]
name = "app"
paths = ["a"]

[source.fields]
ts = "ts"
)"),
            R"(t.toml:6: key 'source[0].fields.ts': "ts" is not a JSON pointer: )"
            R"(it must start with '/' (like "/ts"))");
  EXPECT_EQ(errorOf(R"([[source]]
name = "app"
paths = ["a"]
[source.fields]
level = ["/level",
  "/a~2"]
)"),
            R"(t.toml:6: key 'source[0].fields.level[1]': "/a~2" is not a valid JSON pointer: )"
            "'~' must be followed by '0' or '1' (write '~0' for '~' and '~1' for '/')");
  EXPECT_EQ(errorOf("[[source]]\nname = \"a\"\npaths = [\"a\"]\nfields = { message = \"\" }"),
            R"(t.toml:4: key 'source[0].fields.message': "" is not allowed: )"
            "the empty JSON pointer is the whole line, not a field");
}

TEST(LoadErrors, SyntaxErrorHasLineAndColumn) {
  const std::string message = errorOf("db = \"x\"\nstore_raw = = true\n");
  const std::string prefix = "t.toml:2:13: ";
  EXPECT_EQ(message.substr(0, prefix.size()), prefix) << message;
  EXPECT_GT(message.size(), prefix.size() + 10) << "toml++'s description is missing: " << message;
}

TEST(LoadErrors, DuplicateKeyIsASyntaxError) {
  const std::string message = errorOf("db = \"a\"\n\ndb = \"b\"\n");
  EXPECT_EQ(message.substr(0, 9), "t.toml:3:") << message;
  EXPECT_NE(message.find("db"), std::string::npos) << message;
}

TEST(LoadErrors, AllErrorsInFileOrder) {
  // Keys iterate in name order inside toml++; the report must follow the file instead.
  EXPECT_EQ(errorOf(R"(store_raw = 1
zzz = 2
batch_max_rows = 0
)"),
            "t.toml:1: key 'store_raw': expected a boolean, got an integer\n"
            "t.toml:2: unknown key 'zzz'\n"
            "t.toml:3: key 'batch_max_rows': must be greater than zero, got 0");
}

// ---- files ----

class LoadFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path{::testing::TempDir()} /
           ("config_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path write(std::string_view name, std::string_view text) {
    const auto path = dir_ / name;
    std::ofstream{path} << text;
    return path;
  }

  std::filesystem::path dir_;
};

TEST_F(LoadFileTest, ReadsAFile) {
  const auto path = write("a.toml", "flush_interval = \"3s\"\n");
  auto loaded = loadFile(path);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->flush_interval, milliseconds{3000});
}

TEST_F(LoadFileTest, ErrorsNameThePath) {
  const auto path = write("b.toml", "\nflush_intervall = 1\n");
  auto loaded = loadFile(path);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().message,
            path.string() + ":2: unknown key 'flush_intervall' (did you mean 'flush_interval'?)");
}

TEST_F(LoadFileTest, MissingFile) {
  const auto path = dir_ / "x.toml";
  auto loaded = loadFile(path);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().message,
            "cannot read config '" + path.string() + "': No such file or directory");
}

TEST_F(LoadFileTest, Directory) {
  auto loaded = loadFile(dir_);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().message, "cannot read config '" + dir_.string() + "': Is a directory");
}

TEST(ShippedConfig, LoadsAndSpellsOutTheDefaults) {
  auto loaded = loadFile(std::filesystem::path{SQTAIL_SOURCE_ROOT} / "conf" / "sqtail.toml");
  ASSERT_TRUE(loaded) << loaded.error().message;
  Config expected;
  Source app;
  app.name = "app";
  app.paths = {"logs/**/*.jsonl"};
  expected.sources.push_back(app);
  EXPECT_EQ(*loaded, expected);
}

}  // namespace
}  // namespace sqtail::config
