#include "parse/extractor.hpp"

#include <gtest/gtest.h>

#include <ctime>
#include <ostream>
#include <random>
#include <string>
#include <vector>

namespace sqtail::parse {

// Readable failure messages (found by ADL for RejectReason and optional<RejectReason>).
void PrintTo(RejectReason reason, std::ostream* out) { *out << reasonName(reason); }

namespace {

using namespace std::string_literals;

// What one extract() produced, copied out so that runs with different paddings can be compared.
struct Result {
  bool ok = false;
  RejectReason reason = RejectReason::kInvalidJson;
  std::optional<std::int64_t> ts;
  std::optional<std::string> level;
  std::optional<std::string> category;
  std::optional<std::string> message;

  bool operator==(const Result&) const = default;
};

void PrintTo(const Result& result, std::ostream* out) {
  if (!result.ok) {
    *out << "rejected(" << reasonName(result.reason) << ")";
    return;
  }
  const auto show = [&](const char* name, const std::optional<std::string>& value) {
    *out << " " << name << "=" << (value ? "\"" + *value + "\"" : "-");
  };
  *out << "ok ts=" << (result.ts ? std::to_string(*result.ts) : "-");
  show("level", result.level);
  show("category", result.category);
  show("message", result.message);
}

std::optional<std::string> copy(const std::optional<std::string_view>& view) {
  if (!view) return std::nullopt;
  return std::string(*view);
}

Result toResult(const tl::expected<Fields, RejectReason>& out) {
  Result result;
  result.ok = out.has_value();
  if (!out) {
    result.reason = out.error();
    return result;
  }
  result.ts = out->ts_ms;
  result.level = copy(out->level);
  result.category = copy(out->category);
  result.message = copy(out->message);
  return result;
}

// Padding that would turn a truncated line into valid JSON if simdjson read it as content,
// plus bytes that are neither JSON nor UTF-8. Never zeros: padding content must not matter.
const std::vector<std::string>& paddings() {
  static const std::vector<std::string> kPaddings = [] {
    std::vector<std::string> out;
    out.push_back(std::string(kPadding, '}'));
    std::string mixed;
    const std::string cycle = "\"}]},\"x\":1e5]}tru\xff\xfe";
    while (mixed.size() < kPadding) mixed += cycle;
    out.push_back(mixed.substr(0, kPadding));
    std::string quotes;
    for (std::size_t i = 0; i < kPadding; ++i) quotes.push_back(i % 2 ? '"' : '\x80');
    out.push_back(quotes);
    out.push_back(std::string(kPadding, '7'));
    return out;
  }();
  return kPaddings;
}

// Runs `line` once per padding pattern (each time in a fresh buffer with the line followed by
// the garbage) and requires identical results.
Result run(Extractor& extractor, std::string_view line) {
  std::optional<Result> first;
  for (const std::string& padding : paddings()) {
    std::string buffer;
    buffer.reserve(line.size() + kPadding);
    buffer.append(line);
    buffer.append(padding);
    const Result result = toResult(extractor.extract(std::string_view(buffer.data(), line.size())));
    if (!first) {
      first = result;
    } else {
      EXPECT_EQ(result, *first) << "result depends on padding for line: " << line;
    }
  }
  return *first;
}

Result run(std::string_view line) {
  Extractor extractor{config::FieldMap{}};
  return run(extractor, line);
}

Result runWith(const config::FieldMap& map, std::string_view line) {
  Extractor extractor{map};
  return run(extractor, line);
}

std::optional<RejectReason> rejection(std::string_view line) {
  const Result result = run(line);
  if (result.ok) return std::nullopt;
  return result.reason;
}

constexpr std::int64_t kNov22 = 1795341600000;  // 2026-11-22T10:00:00Z

// ---------------------------------------------------------------- default field map

TEST(ExtractorDefaults, EveryTsPointer) {
  for (const char* key : {"ts", "timestamp", "time", "@timestamp"}) {
    const Result r = run("{\""s + key + "\":\"2026-11-22T10:00:00Z\"}");
    ASSERT_TRUE(r.ok) << key;
    EXPECT_EQ(r.ts, kNov22) << key;
  }
}

TEST(ExtractorDefaults, EveryLevelPointer) {
  for (const char* key : {"level", "severity", "lvl"}) {
    const Result r = run("{\""s + key + "\":\"WARN\"}");
    ASSERT_TRUE(r.ok) << key;
    EXPECT_EQ(r.level, "warn") << key;
  }
}

TEST(ExtractorDefaults, EveryCategoryPointer) {
  for (const char* key : {"category", "logger", "component", "source"}) {
    const Result r = run("{\""s + key + "\":\"db.pool\"}");
    ASSERT_TRUE(r.ok) << key;
    EXPECT_EQ(r.category, "db.pool") << key;
  }
}

TEST(ExtractorDefaults, EveryMessagePointer) {
  for (const char* key : {"message", "msg"}) {
    const Result r = run("{\""s + key + "\":\"hello\"}");
    ASSERT_TRUE(r.ok) << key;
    EXPECT_EQ(r.message, "hello") << key;
  }
}

TEST(ExtractorDefaults, AllFieldsTogetherAmongOthers) {
  const Result r =
      run(R"({"pid":42,"ts":"2026-11-22T10:00:00.250Z","extra":{"a":[1,2,{"b":null}]},)"
          R"("level":"info","logger":"http","msg":"GET / 200","tags":["x","y"]})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.ts, kNov22 + 250);
  EXPECT_EQ(r.level, "info");
  EXPECT_EQ(r.category, "http");
  EXPECT_EQ(r.message, "GET / 200");
}

TEST(ExtractorDefaults, MissingFieldsAreAbsentNotRejected) {
  const Result r = run(R"({"unrelated":1})");
  ASSERT_TRUE(r.ok);
  EXPECT_FALSE(r.ts);
  EXPECT_FALSE(r.level);
  EXPECT_FALSE(r.category);
  EXPECT_FALSE(r.message);
  EXPECT_TRUE(run("{}").ok);
  EXPECT_TRUE(run("  { }  ").ok);
}

TEST(ExtractorDefaults, KeysAreCaseSensitive) {
  const Result r = run(R"({"Message":"x","LEVEL":"info"})");
  ASSERT_TRUE(r.ok);
  EXPECT_FALSE(r.message);
  EXPECT_FALSE(r.level);
}

// ---------------------------------------------------------------- priority

TEST(ExtractorPriority, EarlierPointerWinsWhateverTheKeyOrder) {
  // The lower-priority key comes first in the line each time.
  Result r = run(R"({"msg":"second","message":"first"})");
  EXPECT_EQ(r.message, "first");
  r = run(R"({"message":"first","msg":"second"})");
  EXPECT_EQ(r.message, "first");
  r = run(R"({"@timestamp":"2026-11-22T10:00:00Z","time":1,"timestamp":2,"ts":3})");
  EXPECT_EQ(r.ts, 3000);
  r = run(R"({"lvl":"debug","severity":"error","level":"info"})");
  EXPECT_EQ(r.level, "info");
  r = run(R"({"source":"s","component":"c","logger":"l","category":"cat"})");
  EXPECT_EQ(r.category, "cat");
  r = run(R"({"source":"s","component":"c","logger":"l"})");
  EXPECT_EQ(r.category, "l");
}

TEST(ExtractorPriority, UnusableValueFallsThroughToNextPointer) {
  Result r = run(R"({"message":null,"msg":"fallback"})");
  EXPECT_EQ(r.message, "fallback");
  r = run(R"({"ts":"not a time","time":"2026-11-22T10:00:00Z"})");
  EXPECT_EQ(r.ts, kNov22);
  r = run(R"({"level":{"name":"x"},"severity":"error"})");
  EXPECT_EQ(r.level, "error");
  r = run(R"({"category":["a"],"logger":"l"})");
  EXPECT_EQ(r.category, "l");
}

TEST(ExtractorPriority, UnparseableTsIsAbsentNotRejected) {
  const Result r = run(R"({"ts":"yesterday","message":"m"})");
  ASSERT_TRUE(r.ok);
  EXPECT_FALSE(r.ts);
  EXPECT_EQ(r.message, "m");
}

TEST(ExtractorPriority, SamePointerListedTwiceKeepsItsFirstIndex) {
  config::FieldMap map;
  map.message = {"/a", "/b", "/a"};
  const Result r = runWith(map, R"({"b":"b","a":"a"})");
  EXPECT_EQ(r.message, "a");
}

TEST(ExtractorPriority, OnePointerCanFeedSeveralTargets) {
  config::FieldMap map;
  map.category = {"/event"};
  map.message = {"/event"};
  const Result r = runWith(map, R"({"event":"login"})");
  EXPECT_EQ(r.category, "login");
  EXPECT_EQ(r.message, "login");
}

// Duplicate keys: the first occurrence with a usable value wins.
TEST(ExtractorPriority, DuplicateKeysFirstWins) {
  Result r = run(R"({"message":"first","message":"second"})");
  EXPECT_EQ(r.message, "first");
  r = run(R"({"level":null,"level":"warn","level":"error"})");
  EXPECT_EQ(r.level, "warn");
  r = run(R"({"ts":1000,"ts":2000})");
  EXPECT_EQ(r.ts, 1000'000);
}

// ---------------------------------------------------------------- nested and escaped pointers

TEST(ExtractorPointers, NestedPointers) {
  config::FieldMap map;
  map.ts = {"/meta/time/unix"};
  map.level = {"/log/level"};
  map.category = {"/message/usage/input_tokens"};
  map.message = {"/message/content/text", "/message/role"};
  const Result r = runWith(
      map, R"({"meta":{"host":"h","time":{"unix":1795341600}},"log":{"level":"ERR"},)"
           R"("message":{"role":"assistant","usage":{"output_tokens":5,"input_tokens":1234},)"
           R"("content":[{"text":"not an object path"}]}})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.ts, kNov22);
  EXPECT_EQ(r.level, "error");
  EXPECT_EQ(r.category, "1234");
  // /message/content/text needs an object, content is an array: the next pointer wins.
  EXPECT_EQ(r.message, "assistant");
}

TEST(ExtractorPointers, NestedPointerDoesNotMatchAtTopLevel) {
  config::FieldMap map;
  map.message = {"/outer/msg"};
  EXPECT_FALSE(runWith(map, R"({"msg":"top"})").message);
  EXPECT_FALSE(runWith(map, R"({"outer":"scalar","msg":"top"})").message);
  EXPECT_FALSE(runWith(map, R"({"inner":{"outer":{"msg":"deeper"}}})").message);
  EXPECT_EQ(runWith(map, R"({"outer":{"msg":"yes"}})").message, "yes");
}

TEST(ExtractorPointers, LeafThatIsAlsoAPrefix) {
  config::FieldMap map;
  map.message = {"/message", "/message/text"};
  map.category = {"/message/kind"};
  // /message wins: the whole object as raw JSON, while /message/kind is still found inside.
  Result r = runWith(map, R"({"message": {"kind":"k", "text":"t"} , "x":1})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.message, R"({"kind":"k", "text":"t"})");
  EXPECT_EQ(r.category, "k");

  map.message = {"/message/text", "/message"};
  r = runWith(map, R"({"message":{"kind":"k","text":"t"}})");
  EXPECT_EQ(r.message, "t");
  r = runWith(map, R"({"message":{"kind":"k"}})");
  EXPECT_EQ(r.message, R"({"kind":"k"})");
  r = runWith(map, R"({"message":"plain"})");
  EXPECT_EQ(r.message, "plain");
  EXPECT_FALSE(r.category);
}

TEST(ExtractorPointers, EscapedPointerTokens) {
  config::FieldMap map;
  map.message = {"/a~1b"};
  map.category = {"/m~0n"};
  map.level = {"/x~01"};  // the key "x~1", not "x/"
  const Result r = runWith(map, R"({"a/b":"slash","m~n":"tilde","x/":"no","x~1":"info"})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.message, "slash");
  EXPECT_EQ(r.category, "tilde");
  EXPECT_EQ(r.level, "info");
}

TEST(ExtractorPointers, KeysAreMatchedAfterUnescaping) {
  Result r = run(R"({"\u006dessage":"escaped key","lev\u0065l":"info"})");
  EXPECT_EQ(r.message, "escaped key");
  EXPECT_EQ(r.level, "info");
  config::FieldMap map;
  map.message = {"/a~1b"};
  EXPECT_EQ(runWith(map, R"({"a\/b":"escaped slash"})").message, "escaped slash");
}

TEST(ExtractorPointers, EmptyKeyAndInvalidPointers) {
  config::FieldMap map;
  map.message = {"", "message", "/bad~2", "/bad~", "/"};
  const Result r = runWith(map, R"({"message":"no","bad~2":"no","":"empty key"})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.message, "empty key");
}

TEST(ExtractorPointers, IsFieldPointer) {
  for (const char* good : {"/", "/a", "/a/b/c", "/a~0b", "/a~1b", "/~01", "//", "/@timestamp"}) {
    EXPECT_TRUE(isFieldPointer(good)) << good;
  }
  for (const char* bad : {"", "a", "a/b", "/a~", "/a~2", "/~x", "#/a"}) {
    EXPECT_FALSE(isFieldPointer(bad)) << bad;
  }
}

TEST(ExtractorPointers, EmptyFieldMapStillValidates) {
  config::FieldMap map;
  map.ts.clear();
  map.level.clear();
  map.category.clear();
  map.message.clear();
  EXPECT_TRUE(runWith(map, R"({"message":"x"})").ok);
  EXPECT_FALSE(runWith(map, R"({"message":"x"} x)").ok);
  EXPECT_FALSE(runWith(map, R"({"message":"x")").ok);
}

// ---------------------------------------------------------------- values

TEST(ExtractorValues, StringsAreUnescaped) {
  const Result r = run(R"({"message":"a\"b\\c\/d\n\t\r\b\f"})");
  EXPECT_EQ(r.message, "a\"b\\c/d\n\t\r\b\f");
}

TEST(ExtractorValues, UnicodeEscapes) {
  Result r = run(R"({"message":"caf\u00e9 \u20ac \ud83d\ude00"})");
  EXPECT_EQ(r.message, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  r = run("{\"message\":\"raw utf-8: \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}");
  EXPECT_EQ(r.message, "raw utf-8: \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
  // \u0000 is a legal escape: the unescaped value holds a NUL, the line has none.
  r = run(R"({"message":"a\u0000b"})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.message, "a\0b"s);
}

TEST(ExtractorValues, BadEscapesInMappedValuesReject) {
  EXPECT_EQ(rejection(R"({"message":"bad \q escape"})"), RejectReason::kInvalidJson);
  EXPECT_EQ(rejection(R"({"message":"short \u12"})"), RejectReason::kInvalidJson);
  EXPECT_EQ(rejection(R"({"message":"lone \ud83d surrogate"})"), RejectReason::kInvalidJson);
  EXPECT_EQ(rejection(R"({"bad\qkey":1})"), RejectReason::kInvalidJson);
}

TEST(ExtractorValues, NonStringCategoryAndMessage) {
  Result r = run(R"({"category":42,"message":-1.5e3})");
  EXPECT_EQ(r.category, "42");
  EXPECT_EQ(r.message, "-1.5e3");
  r = run(R"({"category":true,"message":false})");
  EXPECT_EQ(r.category, "true");
  EXPECT_EQ(r.message, "false");
  r = run(R"({"message" : {"a": [1, 2], "b" : "c"}  ,"x":0})");
  EXPECT_EQ(r.message, R"({"a": [1, 2], "b" : "c"})");
  r = run(R"({"message":[1,"two",{"three":3}] })");
  EXPECT_EQ(r.message, R"([1,"two",{"three":3}])");
  r = run(R"({"message":{}})");
  EXPECT_EQ(r.message, "{}");
  r = run(R"({"category":{"a":1}})");
  EXPECT_FALSE(r.category);
  r = run(R"({"category":null,"message":null})");
  EXPECT_FALSE(r.category);
  EXPECT_FALSE(r.message);
}

// simdjson cannot represent these numbers, but they are JSON: kept as text, never a reject.
TEST(ExtractorValues, NumbersBeyondSimdjsonRange) {
  Result r = run(R"({"category":123456789012345678901234567890,"message":"after"})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.category, "123456789012345678901234567890");
  EXPECT_EQ(r.message, "after");
  r = run(R"({"level":1e400,"message":-1E+400 })");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.level, "1e400");
  EXPECT_EQ(r.message, "-1E+400");
  EXPECT_EQ(rejection(R"({"category":1e})"), RejectReason::kInvalidJson);
  EXPECT_EQ(rejection(R"({"category":+1})"), RejectReason::kInvalidJson);
}

TEST(ExtractorValues, BadScalarsInMappedValuesReject) {
  EXPECT_EQ(rejection(R"({"message":tru})"), RejectReason::kInvalidJson);
  EXPECT_EQ(rejection(R"({"message":nul})"), RejectReason::kInvalidJson);
  EXPECT_EQ(rejection(R"({"category":01})"), RejectReason::kInvalidJson);
  EXPECT_EQ(rejection(R"({"category":1.})"), RejectReason::kInvalidJson);
  EXPECT_EQ(rejection(R"({"ts":-})"), RejectReason::kInvalidJson);
  EXPECT_EQ(rejection(R"({"message":[1 2]})"), RejectReason::kInvalidJson);
}

// A message taken as raw JSON is parsed in full, so the stored text is always valid JSON.
TEST(ExtractorValues, RawJsonMessagesAreFullyValidated) {
  EXPECT_EQ(rejection(R"({"message":{"a":tru}})"), RejectReason::kInvalidJson);
  EXPECT_EQ(rejection(R"({"message":[{"a":"\q"}]})"), RejectReason::kInvalidJson);
  EXPECT_EQ(rejection(R"({"message":{"a":[1,,2]}})"), RejectReason::kInvalidJson);
  EXPECT_EQ(rejection(R"({"message":{"a":01}})"), RejectReason::kInvalidJson);
  EXPECT_EQ(rejection(R"({"message":{"bad\qkey":1}})"), RejectReason::kInvalidJson);
  config::FieldMap map;
  map.message = {"/message", "/message/text"};
  EXPECT_EQ(runWith(map, R"({"message":{"text":"t","other":tru}})").reason,
            RejectReason::kInvalidJson);
  EXPECT_FALSE(runWith(map, R"({"message":{"text":"t","other":tru}})").ok);
  // Still a candidate when reached (the better /message/text was not yet seen): parsed in full.
  map.message = {"/message/text", "/message"};
  EXPECT_FALSE(runWith(map, R"({"message":{"text":"t","other":tru}})").ok);
  // No longer a candidate once a better pointer has won: only walked, as anywhere else.
  map.message = {"/msg", "/message"};
  EXPECT_EQ(runWith(map, R"({"msg":"m","message":{"other":tru}})").message, "m");

  const Result deep = run(R"({"message":)" + std::string(1000, '[') + std::string(1000, ']') + "}");
  ASSERT_TRUE(deep.ok);
  EXPECT_EQ(deep.message->size(), 2000u);
  // Deeper than simdjson's DOM would accept: refused rather than recursing without bound.
  EXPECT_EQ(rejection(R"({"message":)" + std::string(5000, '[') + std::string(5000, ']') + "}"),
            RejectReason::kInvalidJson);
}

// On-demand does not parse what it skips: documented, and pinned here so that a change in
// simdjson (or in how we walk) is noticed.
TEST(ExtractorValues, ScalarsOfSkippedFieldsAreNotValidated) {
  EXPECT_TRUE(run(R"({"other":tru,"message":"m"})").ok);
  EXPECT_TRUE(run(R"({"other":01})").ok);
  EXPECT_TRUE(run(R"({"other":"\q"})").ok);
  // Structure is still checked: keys, colons, commas between fields, balance.
  EXPECT_FALSE(run(R"({"other":[1,2})").ok);
  EXPECT_FALSE(run(R"({"other" 1})").ok);
  EXPECT_FALSE(run(R"({"a":1 "b":2})").ok);
}

TEST(ExtractorValues, VeryLongStrings) {
  std::string big;
  for (int i = 0; i < 200'000; ++i) big += "abc\\\"\\u00e9";  // 2.2 MB of escapes
  std::string expected;
  for (int i = 0; i < 200'000; ++i) expected += "abc\"\xc3\xa9";
  Extractor extractor{config::FieldMap{}};
  Result r = run(extractor, R"({"ts":1,"message":")" + big + R"(","level":"info"})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.message, expected);
  EXPECT_EQ(r.level, "info");
  // The parser grew for that line; a short one afterwards must still be right.
  r = run(extractor, R"({"message":"short"})");
  EXPECT_EQ(r.message, "short");
  // A long key that is not mapped is skipped.
  r = run(extractor, R"({")" + std::string(100'000, 'k') + R"(":1,"message":"after"})");
  EXPECT_EQ(r.message, "after");
}

TEST(ExtractorValues, DeepNestingNotInTheMapIsSkipped) {
  const std::string deep = std::string(800, '[') + "1" + std::string(800, ']');
  std::string objects;
  for (int i = 0; i < 500; ++i) objects += R"({"message":)";
  objects += "0";
  objects += std::string(500, '}');
  const Result r = run(R"({"a":)" + deep + R"(,"b":)" + objects + R"(,"message":"top"})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.message, "top");
  EXPECT_FALSE(run(R"({"a":)" + deep + "]" + R"(,"message":"top"})").ok);
}

TEST(ExtractorValues, ViewsOutliveTheLineBuffer) {
  Extractor extractor{config::FieldMap{}};
  std::string buffer =
      R"({"message":{"k":"v"},"category":7,"level":35,"ts":"2026-11-22T10:00:00Z"})";
  const std::size_t size = buffer.size();
  buffer.append(kPadding, ' ');
  const auto out = extractor.extract(std::string_view(buffer.data(), size));
  ASSERT_TRUE(out);
  std::fill(buffer.begin(), buffer.end(), 'X');
  EXPECT_EQ(out->message, R"({"k":"v"})");
  EXPECT_EQ(out->category, "7");
  EXPECT_EQ(out->level, "35");
  EXPECT_EQ(out->ts_ms, kNov22);

  buffer =
      std::string(R"({"message":"unescaped \u00e9","category":"c"})") + std::string(kPadding, ' ');
  const auto strings =
      extractor.extract(std::string_view(buffer).substr(0, buffer.size() - kPadding));
  ASSERT_TRUE(strings);
  std::fill(buffer.begin(), buffer.end(), 'X');
  EXPECT_EQ(strings->message, "unescaped \xc3\xa9");
  EXPECT_EQ(strings->category, "c");
}

TEST(ExtractorValues, NothingLeaksIntoTheNextLine) {
  Extractor extractor{config::FieldMap{}};
  Result r = run(extractor, R"({"ts":5,"level":"info","category":"c","message":"m"})");
  ASSERT_TRUE(r.ok);
  r = run(extractor, R"({"other":1})");
  ASSERT_TRUE(r.ok);
  EXPECT_FALSE(r.ts);
  EXPECT_FALSE(r.level);
  EXPECT_FALSE(r.category);
  EXPECT_FALSE(r.message);
  // A rejected line in between does not disturb the next one either.
  EXPECT_FALSE(run(extractor, R"({"message":"half)").ok);
  r = run(extractor, R"({"msg":"after reject"})");
  EXPECT_EQ(r.message, "after reject");
}

TEST(ExtractorValues, CrLfLineEnding) {
  Result r = run("{\"message\":\"windows\"}\r");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.message, "windows");
  r = run("{\"message\":\"windows\"}  \r");
  EXPECT_TRUE(r.ok);
  // Only the line ending is ignored: a '\r' inside a string is still a raw control character.
  EXPECT_EQ(rejection("{\"message\":\"a\rb\"}"), RejectReason::kInvalidJson);
  EXPECT_EQ(rejection("\r"), RejectReason::kInvalidJson);
}

// ---------------------------------------------------------------- level

TEST(ExtractorLevel, NormalizedStrings) {
  const std::vector<std::pair<std::string, std::string>> cases = {{"INFO", "info"},
                                                                  {"Warning", "warn"},
                                                                  {"WARN", "warn"},
                                                                  {"warn", "warn"},
                                                                  {"err", "error"},
                                                                  {"ERR", "error"},
                                                                  {"Error", "error"},
                                                                  {"DEBUG", "debug"},
                                                                  {"Trace", "trace"},
                                                                  {"CRITICAL", "critical"},
                                                                  {"crit", "crit"},
                                                                  {"FATAL", "fatal"},
                                                                  {"Panic", "panic"},
                                                                  {"notice", "notice"},
                                                                  {"\u00c9", "\u00c9"},
                                                                  {"warnings", "warnings"},
                                                                  {"", ""}};
  for (const auto& [given, expected] : cases) {
    const Result r = run(R"({"level":")" + given + R"("})");
    ASSERT_TRUE(r.ok) << given;
    EXPECT_EQ(r.level, expected) << given;
  }
  std::string out;
  EXPECT_EQ(normalizeLevel("WARNING", out), "warn");
  EXPECT_EQ(out, "warn");
}

TEST(ExtractorLevel, PinoNumbers) {
  const std::vector<std::pair<int, std::string>> cases = {
      {10, "trace"}, {20, "debug"}, {30, "info"}, {40, "warn"}, {50, "error"}, {60, "fatal"}};
  for (const auto& [number, name] : cases) {
    EXPECT_EQ(run(R"({"level":)" + std::to_string(number) + "}").level, name) << number;
    EXPECT_EQ(numericLevel(number), name);
  }
  EXPECT_EQ(run(R"({"level":35})").level, "35");
  EXPECT_EQ(run(R"({"level":-1})").level, "-1");
  EXPECT_EQ(run(R"({"level":30.5})").level, "30.5");
  EXPECT_EQ(run(R"({"level":"30"})").level, "30");  // strings are names, not numbers
  EXPECT_FALSE(run(R"({"level":true})").level);
  EXPECT_FALSE(numericLevel(0));
  EXPECT_FALSE(numericLevel(31));
}

// ---------------------------------------------------------------- timestamps

TEST(Rfc3339, Forms) {
  EXPECT_EQ(parseRfc3339("2026-11-22T10:00:00Z"), kNov22);
  EXPECT_EQ(parseRfc3339("2026-11-22t10:00:00z"), kNov22);
  EXPECT_EQ(parseRfc3339("2026-11-22 10:00:00Z"), kNov22);
  EXPECT_EQ(parseRfc3339("2026-11-22T10:00:00.1Z"), kNov22 + 100);
  EXPECT_EQ(parseRfc3339("2026-11-22T10:00:00.12Z"), kNov22 + 120);
  EXPECT_EQ(parseRfc3339("2026-11-22T10:00:00.123Z"), kNov22 + 123);
  EXPECT_EQ(parseRfc3339("2026-11-22T10:00:00.123999999Z"), kNov22 + 123);  // truncated
  EXPECT_EQ(parseRfc3339("2026-11-22T10:00:00.000000001+00:00"), kNov22);
  EXPECT_EQ(parseRfc3339("2026-11-22T12:00:00+02:00"), kNov22);
  EXPECT_EQ(parseRfc3339("2026-11-22T12:00:00+0200"), kNov22);
  EXPECT_EQ(parseRfc3339("2026-11-22T12:00:00+02"), kNov22);
  EXPECT_EQ(parseRfc3339("2026-11-22T04:30:00-0530"), kNov22);
  EXPECT_EQ(parseRfc3339("2026-11-22T04:30:00.5-05:30"), kNov22 + 500);
  EXPECT_EQ(parseRfc3339("2026-11-22T10:00:00-00:00"), kNov22);
  EXPECT_EQ(parseRfc3339("2026-11-22"), 1795305600000);  // midnight UTC
  EXPECT_EQ(parseRfc3339("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parseRfc3339("1970-01-01"), 0);
  EXPECT_EQ(parseRfc3339("1969-12-31T23:59:59.500Z"), -500);
  EXPECT_EQ(parseRfc3339("2000-03-01"), 951868800000);
  EXPECT_EQ(parseRfc3339("9999-12-31T23:59:59Z"), 253402300799000);
  EXPECT_EQ(parseRfc3339("0001-01-01T00:00:00Z"), -62135596800000);
  EXPECT_EQ(parseRfc3339("2026-11-22T10:00:60Z"), kNov22 + 60'000);  // leap second
  EXPECT_EQ(parseRfc3339("2026-11-23T00:30:00+23:59"), 1795305600000 + 31 * 60'000);
}

TEST(Rfc3339, LeapDays) {
  EXPECT_EQ(parseRfc3339("2024-02-29T00:00:00Z"), 1709164800000);
  EXPECT_EQ(parseRfc3339("2000-02-29"), 951782400000);  // divisible by 400
  EXPECT_FALSE(parseRfc3339("1900-02-29"));             // divisible by 100 only
  EXPECT_FALSE(parseRfc3339("2023-02-29"));
  EXPECT_FALSE(parseRfc3339("2024-02-30"));
}

TEST(Rfc3339, Rejects) {
  for (const char* bad : {"",
                          "2026",
                          "2026-11",
                          "2026-11-2",
                          "2026-13-01",
                          "2026-00-10",
                          "2026-11-00",
                          "2026-11-31",
                          "2026-04-31",
                          "2026-11-22T",
                          "2026-11-22T10:00Z",
                          "2026-11-22T10:00:00",  // no offset: RFC 3339 requires one
                          "2026-11-22T24:00:00Z",
                          "2026-11-22T10:60:00Z",
                          "2026-11-22T10:00:61Z",
                          "2026-11-22T10:00:00.Z",
                          "2026-11-22T10:00:00,5Z",
                          "2026-11-22T10:00:00ZZ",
                          "2026-11-22T10:00:00Z ",
                          " 2026-11-22T10:00:00Z",
                          "2026-11-22T10:00:00+2",
                          "2026-11-22T10:00:00+02:",
                          "2026-11-22T10:00:00+02:0",
                          "2026-11-22T10:00:00+24:00",
                          "2026-11-22T10:00:00+02:60",
                          "2026-11-22T10:00:00+02:00:00",
                          "2026-11-22X10:00:00Z",
                          "2026-11-22 ",
                          "2026/11/22",
                          "+2026-11-22",
                          "2026-1a-22",
                          "Sun, 22 Nov 2026 10:00:00 GMT"}) {
    EXPECT_FALSE(parseRfc3339(bad)) << bad;
  }
}

// Cross-check our days-from-civil against the C library over random instants.
TEST(Rfc3339, AgreesWithTimegm) {
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<std::int64_t> seconds(-5'000'000'000, 250'000'000'000);
  for (int i = 0; i < 20'000; ++i) {
    const std::time_t t = static_cast<std::time_t>(seconds(rng));
    std::tm tm{};
    ASSERT_NE(gmtime_r(&t, &tm), nullptr);
    char text[64];
    std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    ASSERT_EQ(parseRfc3339(text), std::int64_t{t} * 1000) << text;
  }
}

TEST(EpochNumber, Magnitudes) {
  EXPECT_EQ(epochNumberToMillis(1795341600), kNov22);                   // seconds
  EXPECT_EQ(epochNumberToMillis(1795341600.123), kNov22 + 123);         // float seconds
  EXPECT_EQ(epochNumberToMillis(1795341600123.0), kNov22 + 123);        // milliseconds
  EXPECT_EQ(epochNumberToMillis(1795341600123456.0), kNov22 + 123);     // microseconds
  EXPECT_EQ(epochNumberToMillis(1795341600123456789.0), kNov22 + 123);  // nanoseconds
  EXPECT_EQ(epochNumberToMillis(0), 0);
  EXPECT_EQ(epochNumberToMillis(99'999'999'999.0), 99'999'999'999'000);  // still seconds
  EXPECT_EQ(epochNumberToMillis(100'000'000'000.0), 100'000'000'000);    // now milliseconds
  EXPECT_EQ(epochNumberToMillis(-1.5), -1500);
  EXPECT_EQ(epochNumberToMillis(1e300), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(epochNumberToMillis(-1e300), std::numeric_limits<std::int64_t>::min());
}

TEST(ExtractorTs, EpochNumbers) {
  EXPECT_EQ(run(R"({"ts":1795341600})").ts, kNov22);
  EXPECT_EQ(run(R"({"ts":1795341600123})").ts, kNov22 + 123);
  EXPECT_EQ(run(R"({"ts":1795341600123456})").ts, kNov22 + 123);
  EXPECT_EQ(run(R"({"ts":1795341600123456789})").ts, kNov22 + 123);
  EXPECT_EQ(run(R"({"ts":1795341600.123})").ts, kNov22 + 123);
  EXPECT_EQ(run(R"({"ts":1795341600.9999999})").ts, kNov22 + 999);  // truncated, not rounded
  EXPECT_EQ(run(R"({"ts":1795341600123.9})").ts, kNov22 + 123);
  EXPECT_EQ(run(R"({"ts":1.7953416e9})").ts, kNov22);
  EXPECT_EQ(run(R"({"ts":1.7953416E12})").ts, kNov22);
  EXPECT_EQ(run(R"({"ts":-1.5})").ts, -1500);
  EXPECT_EQ(run(R"({"ts":-1})").ts, -1000);
  EXPECT_EQ(run(R"({"ts":0})").ts, 0);
  // Out of any clock's range: absent, and the line is kept.
  Result r = run(R"({"ts":1e300,"message":"m"})");
  ASSERT_TRUE(r.ok);
  EXPECT_FALSE(r.ts);
  r = run(R"({"ts":123456789012345678901234567890})");
  ASSERT_TRUE(r.ok);
  EXPECT_FALSE(r.ts);
  r = run(R"({"ts":1e400,"time":1795341600})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.ts, kNov22);
}

TEST(ExtractorTs, StringForms) {
  EXPECT_EQ(run(R"({"ts":"2026-11-22T10:00:00Z"})").ts, kNov22);
  EXPECT_EQ(run(R"({"ts":"2026-11-22 12:00:00.123456+02:00"})").ts, kNov22 + 123);
  EXPECT_EQ(run(R"({"ts":"2026-11-22"})").ts, 1795305600000);
  EXPECT_EQ(run(R"({"ts":"2024-02-29T00:00:00Z"})").ts, 1709164800000);
  EXPECT_EQ(run(R"({"ts":"1795341600"})").ts, kNov22);
  EXPECT_EQ(run(R"({"ts":"1795341600.123"})").ts, kNov22 + 123);
  EXPECT_EQ(run(R"({"ts":"1795341600123"})").ts, kNov22 + 123);
  EXPECT_EQ(run(R"({"ts":"1795341600123456789"})").ts, kNov22 + 123);
  // An escaped string is unescaped before parsing.
  EXPECT_EQ(run(R"({"ts":"2026-11-22T10:00:00\u005a"})").ts, kNov22);
  for (const char* bad :
       {"2024-02-30T00:00:00Z", "2026-11-22T10:00:00", "-1795341600", "1795341600.", ".5",
        "17953416e2", "1795341600 ", "", "99999999999999999999999", "0x10", "soon"}) {
    const Result result = run(R"({"ts":")"s + bad + R"(","message":"kept"})");
    ASSERT_TRUE(result.ok) << bad;
    EXPECT_FALSE(result.ts) << bad;
    EXPECT_EQ(result.message, "kept") << bad;
  }
  EXPECT_FALSE(run(R"({"ts":true})").ts);
  EXPECT_FALSE(run(R"({"ts":{"unix":1}})").ts);
}

// ---------------------------------------------------------------- rejects

TEST(ExtractorRejects, InvalidJson) {
  for (const std::string line : {"{",
                                 "}",
                                 "{\"a\":1",
                                 "{\"a\":1,}",
                                 "{\"a\"}",
                                 "{\"a\" 1}",
                                 "{\"a\":}",
                                 "{a:1}",
                                 "{'a':1}",
                                 "{\"a\":1,,\"b\":2}",
                                 "{\"message\":\"unterminated}",
                                 "{\"message\":\"tab\tinside\"}",
                                 "{\"a\":{\"b\":1}",
                                 "{\"a\":[}",
                                 "{\"a\":1}}",
                                 "{\"a\":1]",
                                 "{\"a\":1} x",
                                 "{\"a\":1} {\"b\":2}",
                                 "{\"a\":1}{}",
                                 "{\"a\":1},",
                                 "{\"a\":1} 42",
                                 "[1",
                                 "[1] x",
                                 "42 43",
                                 "nope",
                                 "tru",
                                 "",
                                 "   ",
                                 "\t"}) {
    EXPECT_EQ(rejection(line), RejectReason::kInvalidJson) << line;
  }
}

TEST(ExtractorRejects, NotObject) {
  for (const std::string line :
       {"[1]", "[]", "\"x\"", "42", "-1.5", "true", "false", "null", " [ {\"a\":1} ] "}) {
    EXPECT_EQ(rejection(line), RejectReason::kNotObject) << line;
  }
}

TEST(ExtractorRejects, InvalidUtf8) {
  for (const std::string line : {"{\"message\":\"\xff\"}",
                                 "{\"other\":\"\xc0\xaf\"}",    // overlong, in a skipped field
                                 "{\"message\":\"\xe2\x82\"}",  // truncated sequence
                                 "{\"\xed\xa0\x80\":1}",        // encoded surrogate, in a key
                                 "{\"a\":1}\xf5",               // after the object
                                 "\xef\xbb\xbf{\"a\":1}\x80",   // BOM, then a stray byte
                                 "{\"message\":\"\xf4\x90\x80\x80\"}"}) {  // above U+10FFFF
    EXPECT_EQ(rejection(line), RejectReason::kInvalidUtf8) << line;
  }
}

TEST(ExtractorRejects, NulByte) {
  EXPECT_EQ(rejection("{\"message\":\"a\0b\"}"s), RejectReason::kNulByte);
  EXPECT_EQ(rejection("\0{\"a\":1}"s), RejectReason::kNulByte);
  EXPECT_EQ(rejection("{\"a\":1}\0"s), RejectReason::kNulByte);
  EXPECT_EQ(rejection("\0"s), RejectReason::kNulByte);
  // NUL wins over other problems: it is checked first.
  EXPECT_EQ(rejection("{\"a\":\xff\0"s), RejectReason::kNulByte);
}

TEST(ExtractorRejects, ReasonNames) {
  EXPECT_EQ(reasonName(RejectReason::kInvalidJson), "invalid_json");
  EXPECT_EQ(reasonName(RejectReason::kNotObject), "not_object");
  EXPECT_EQ(reasonName(RejectReason::kInvalidUtf8), "invalid_utf8");
  EXPECT_EQ(reasonName(RejectReason::kNulByte), "nul_byte");
  EXPECT_EQ(reasonName(RejectReason::kLineTooLong), "line_too_long");
  EXPECT_EQ(kRejectReasonCount, 5);
}

// Found by the fuzzer: on-demand's skip trusts a value's first token. It takes a string followed
// by ':' for a key, steps over a stray ':' ',' '}' or ']', and then swallows one closing bracket
// too many, so these lines were accepted unless the padding began with '}'.
TEST(ExtractorRejects, MalformedFirstTokenOfSkippedValue) {
  EXPECT_EQ(rejection(R"({"a":"b":1}})"), RejectReason::kInvalidJson);
  EXPECT_EQ(rejection(R"({"k":"v":"w" ,"x"}})"), RejectReason::kInvalidJson);
  EXPECT_EQ(rejection(R"({"message":"m","message":"dup":1}})"), RejectReason::kInvalidJson);
  EXPECT_EQ(rejection(R"({"n":{"a":"b":1}}})"), RejectReason::kInvalidJson);
  EXPECT_EQ(rejection(R"({"a"::"W",1]})"), RejectReason::kInvalidJson);
  EXPECT_EQ(rejection(R"({"a":},"b":1})"), RejectReason::kInvalidJson);
  EXPECT_EQ(rejection(R"({"a":],"b":1})"), RejectReason::kInvalidJson);
  EXPECT_EQ(rejection(R"({"a":,1]})"), RejectReason::kInvalidJson);
  // A colon inside a string is just text.
  EXPECT_TRUE(run(R"({"a":"b:c","message":"x:y"})").ok);
}

// A truncated line whose padding happens to complete it must still be rejected.
TEST(ExtractorRejects, PaddingNeverCompletesATruncatedLine) {
  for (const std::string& line :
       {R"({"message":"abc)"s, R"({"level":3)"s, R"({"a":{"b":1})"s, R"({"a":1,)"s,
        R"({"message":tru)"s, R"({"a":1)"s, R"({)"s, R"({"a":[1,2)"s, R"({"message":{"x":1})"s}) {
    for (const std::string& tail : {"}"s, "0}"s, "e}"s, "\"}"s, "}}"s, "]}"s, ",\"b\":2}"s}) {
      std::string buffer = line + tail;
      buffer.append(kPadding, ' ');
      Extractor extractor{config::FieldMap{}};
      const auto out = extractor.extract(std::string_view(buffer.data(), line.size()));
      EXPECT_FALSE(out) << line << " + " << tail;
    }
  }
}

}  // namespace
}  // namespace sqtail::parse
