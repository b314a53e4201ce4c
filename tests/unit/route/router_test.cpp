// The [[route]] rules as the config loader reads them and as the router applies them.
#include "route/router.hpp"

#include <gtest/gtest.h>

#include "config/config.hpp"
#include "parse/extractor.hpp"
#include "parse/field_reader.hpp"

namespace sqtail::route {
namespace {

constexpr std::string_view kHead =
    "[[source]]\nname = \"app\"\npaths = [\"l/*.jsonl\"]\n"
    "[sink.files.cat]\ndir = \"out\"\n"
    "[sink.files.err]\ndir = \"err\"\npath = \"{level}.jsonl\"\n";

config::Config load(std::string_view routes) {
  auto c = config::loadString(std::string(kHead) + std::string(routes), "t.toml");
  EXPECT_TRUE(c.has_value()) << (c ? "" : c.error().message);
  return c ? *c : config::Config{};
}

std::string loadError(std::string_view routes) {
  auto c = config::loadString(std::string(kHead) + std::string(routes), "t.toml");
  return c ? std::string("(loaded)") : c.error().message;
}

const Mask kSqlite = bit(kSqliteBit);
const Mask kCat = bit(kFirstFileBit);
const Mask kErr = bit(kFirstFileBit + 1);
const Mask kStdout = bit(kStdoutBit);

// Routes a JSON line as the tail thread does: mapped fields, then the pointers routes read.
Decision routeLine(const Router& router, std::string line, std::string source = "app") {
  line.append(parse::kPadding, '\0');
  const std::string_view text(line.data(), line.size() - parse::kPadding);
  parse::Extractor extractor(config::FieldMap{});
  auto fields = extractor.extract(text);
  EXPECT_TRUE(fields.has_value());
  parse::FieldReader reader(router.pointers());
  const auto& values = reader.read(text);
  return router.explain(RecordView{fields->level, fields->category, source, &values});
}

TEST(Router, WithoutRoutesEverythingGoesToTheDefaults) {
  Router router(load(""));
  EXPECT_TRUE(router.trivial());
  EXPECT_EQ(routeLine(router, R"({"level":"info"})").to, kSqlite);
  EXPECT_EQ(routeLine(router, R"({"level":"error"})").priority, 10);
  EXPECT_EQ(routeLine(router, R"({"level":"warning"})").priority, 9) << "normalized to warn";
  EXPECT_EQ(routeLine(router, R"({"level":"info"})").priority, 1);
}

TEST(Router, FirstMatchWinsUnlessItContinues) {
  Router router(
      load("[[route]]\nname = \"e\"\nmatch = { level = [\"error\", \"fatal\"] }\n"
           "to = [\"files:err\"]\ncontinue = true\n"
           "[[route]]\nname = \"eng\"\nmatch = { category = { prefix = \"engine\" } }\n"
           "to = [\"files:cat\"]\n"
           "[[route]]\nname = \"rest\"\nto = [\"sqlite\"]\n"));
  EXPECT_EQ(routeLine(router, R"({"level":"error","category":"engine.io"})").to, kErr | kCat);
  EXPECT_EQ(routeLine(router, R"({"level":"error","category":"web"})").to, kErr | kSqlite);
  EXPECT_EQ(routeLine(router, R"({"level":"info","category":"engine"})").to, kCat);
  EXPECT_EQ(routeLine(router, R"({"level":"info"})").to, kSqlite) << "no category: no prefix";
  EXPECT_EQ(routeLine(router, R"({"level":"info","category":"web"})").routes, std::vector<int>{2});
}

TEST(Router, NoMatchGoesToRoutingDefault) {
  Router router(
      load("[routing]\ndefault = [\"stdout\", \"files:cat\"]\n"
           "[[route]]\nmatch = { source = \"other\" }\nto = [\"sqlite\"]\n"));
  EXPECT_EQ(routeLine(router, R"({"level":"info"})").to, kStdout | kCat);
  EXPECT_EQ(routeLine(router, R"({"level":"info"})", "other").to, kSqlite);
}

TEST(Router, PointerConditionsEqualsOneOfAndRe2) {
  Router router(
      load("[[route]]\nmatch = { \"/ctx/user\" = { regex = \"^bot-[0-9]+$\" }, \"/code\" = "
           "[\"500\", \"503\"] }\nto = [\"files:err\"]\n"
           "[[route]]\nmatch = { \"/ctx/user\" = { equals = \"root\" } }\nto = [\"stdout\"]\n"));
  EXPECT_EQ(router.pointers().size(), 2u);
  EXPECT_EQ(routeLine(router, R"({"ctx":{"user":"bot-17"},"code":503})").to, kErr)
      << "numbers compare as their JSON text";
  EXPECT_EQ(routeLine(router, R"({"ctx":{"user":"bot-17x"},"code":503})").to, kSqlite);
  EXPECT_EQ(routeLine(router, R"({"ctx":{"user":"bot-1"},"code":404})").to, kSqlite);
  EXPECT_EQ(routeLine(router, R"({"ctx":{"user":"root"}})").to, kStdout);
  EXPECT_EQ(routeLine(router, R"({"ctx":{"user":null}})").to, kSqlite) << "null is missing";
  EXPECT_EQ(routeLine(router, R"({"ctx":"root"})").to, kSqlite);
}

TEST(Router, RoutePriorityOverridesTheLevel) {
  Router router(
      load("[routing]\npriorities = { info = 5 }\n"
           "[[route]]\nmatch = { category = \"audit\" }\nto = [\"sqlite\"]\n"
           "priority = 10\n"));
  EXPECT_EQ(routeLine(router, R"({"level":"debug","category":"audit"})").priority, 10);
  EXPECT_EQ(routeLine(router, R"({"level":"info","category":"x"})").priority, 5);
  EXPECT_EQ(routeLine(router, R"({"level":"error","category":"x"})").priority, 1)
      << "priorities replaces the whole level table";
}

TEST(RoutingConfig, ErrorsNameFileLineAndKey) {
  EXPECT_NE(loadError("[[route]]\nmatch = { level = { regex = \"(a\" } }\nto = [\"sqlite\"]\n")
                .find("t.toml:10: key 'route[0].match.level.regex': invalid regular expression"),
            std::string::npos);
  EXPECT_NE(loadError("[[route]]\nto = [\"files:nope\"]\n")
                .find("t.toml:9: key 'route[0].to': destination \"files:nope\" needs a "
                      "[sink.files.nope] table"),
            std::string::npos);
  EXPECT_NE(loadError("[[route]]\nto = [\"postgres\"]\n").find("needs a [sink.postgres] table"),
            std::string::npos);
  EXPECT_NE(loadError("[[route]]\nto = [\"kafka\"]\n").find("unknown destination \"kafka\""),
            std::string::npos);
  EXPECT_NE(loadError("[[route]]\nmatch = { lvl = \"x\" }\nto = [\"sqlite\"]\n")
                .find("key 'route[0].match.lvl': a match names"),
            std::string::npos);
  EXPECT_NE(loadError("[[route]]\nname = \"x\"\n").find("key 'route[0].to': missing"),
            std::string::npos);
  EXPECT_NE(loadError("[[route]]\nmatch = { level = { like = \"x\" } }\nto = [\"sqlite\"]\n")
                .find("unknown key 'route[0].match.level.like'"),
            std::string::npos);
  EXPECT_NE(loadError("[sink.files.x]\npath = \"a\"\n").find("key 'sink.files.x.dir': missing"),
            std::string::npos);
  EXPECT_NE(loadError("[routing]\npriority_flush = \"0ms\"\n")
                .find("key 'routing.priority_flush': must be greater than zero"),
            std::string::npos);
}

}  // namespace
}  // namespace sqtail::route
