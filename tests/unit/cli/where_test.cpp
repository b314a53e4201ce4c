#include "cli/where.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace sqtail::cli {
namespace {

std::vector<WhereTerm> parse(std::string_view text) {
  auto terms = parseWhere(text);
  if (!terms) {
    ADD_FAILURE() << text << ": " << terms.error();
    return {};
  }
  return *terms;
}

std::string errorOf(std::string_view text) {
  auto terms = parseWhere(text);
  if (terms) {
    ADD_FAILURE() << "expected an error for " << text;
    return {};
  }
  return terms.error();
}

std::string plainColumn(std::string_view key) { return "c_" + std::string(key); }

TEST(ParseWhere, OneEquality) {
  EXPECT_EQ(parse("level=error"), (std::vector<WhereTerm>{{"level", false, {"error"}}}));
}

TEST(ParseWhere, SeveralTermsAreAnded) {
  EXPECT_EQ(parse("level=error,category=engine,source=app,file=/var/log/a.jsonl"),
            (std::vector<WhereTerm>{{"level", false, {"error"}},
                                    {"category", false, {"engine"}},
                                    {"source", false, {"app"}},
                                    {"file", false, {"/var/log/a.jsonl"}}}));
}

TEST(ParseWhere, NotEqualAndOneOf) {
  EXPECT_EQ(parse("level!=debug"), (std::vector<WhereTerm>{{"level", true, {"debug"}}}));
  EXPECT_EQ(parse("level=warn|error|fatal"),
            (std::vector<WhereTerm>{{"level", false, {"warn", "error", "fatal"}}}));
  EXPECT_EQ(parse("category!=a|b"), (std::vector<WhereTerm>{{"category", true, {"a", "b"}}}));
}

TEST(ParseWhere, EmptyValueMeansAbsentField) {
  EXPECT_EQ(parse("category="), (std::vector<WhereTerm>{{"category", false, {""}}}));
  EXPECT_EQ(parse("level=|error"), (std::vector<WhereTerm>{{"level", false, {"", "error"}}}));
}

TEST(ParseWhere, BackslashEscapesSeparators) {
  EXPECT_EQ(
      parse(R"(category=a\,b\|c\=d\\e,level=x)"),
      (std::vector<WhereTerm>{{"category", false, {R"(a,b|c=d\e)"}}, {"level", false, {"x"}}}));
  // An escaped '!' is part of nothing: keys are plain words, so it is an unknown key.
  EXPECT_NE(errorOf(R"(level\!=x)").find("unknown key"), std::string::npos);
  // Values may hold '!' and spaces as they are.
  EXPECT_EQ(parse("category=hello world!"),
            (std::vector<WhereTerm>{{"category", false, {"hello world!"}}}));
}

TEST(ParseWhere, UnknownKeyNamesTheAllowedOnes) {
  EXPECT_EQ(errorOf("lvl=error"),
            "--where: unknown key 'lvl': use level, category, source or file");
  EXPECT_EQ(errorOf("message=boom"),
            "--where: unknown key 'message': use level, category, source or file");
  EXPECT_EQ(errorOf("hour=10"),
            "--where: unknown key 'hour': use level, category, source or file (time is "
            "filtered with --since and --until)");
  // Keys are exact: no case folding, no trimming.
  EXPECT_FALSE(parseWhere("Level=error"));
  EXPECT_FALSE(parseWhere(" level=error"));
}

TEST(ParseWhere, MalformedTerms) {
  EXPECT_EQ(errorOf(""), "--where: empty filter (write it like level=error)");
  EXPECT_EQ(errorOf("level"), "--where: 'level' has no '=' or '!=' (write it like level=error)");
  EXPECT_EQ(errorOf("=error"), "--where: '=error' has no key before the '='");
  EXPECT_EQ(errorOf("!=error"), "--where: '!=error' has no key before the '!='");
  EXPECT_EQ(errorOf("level=error,,category=x"),
            "--where: 'level=error,,category=x' has an empty condition (a ',' too many?)");
  EXPECT_EQ(errorOf("level=error,"),
            "--where: 'level=error,' has an empty condition (a ',' too many?)");
  EXPECT_EQ(errorOf("level==error"),
            "--where: 'level==error': use one '=' or '!=' per condition (write '\\=' for a "
            "literal '=')");
  EXPECT_EQ(errorOf(R"(level=error\)"),
            R"(--where: 'level=error\' ends in a lone '\' (write '\\' for a backslash))");
  // An even run of backslashes at the end is escaped backslashes, not a lone one.
  EXPECT_EQ(parse(R"(level=a\\)"), (std::vector<WhereTerm>{{"level", false, {R"(a\)"}}}));
  // Comparison operators other than = and != are not part of the grammar.
  EXPECT_FALSE(parseWhere("level<error"));
  EXPECT_FALSE(parseWhere("level>=error"));
}

TEST(WhereToSql, ValuesBecomeNumberedParameters) {
  const auto terms = parse("level=error|warn,category!=engine,source=app,file!=a|b");
  const SqlCondition cond = whereToSql(terms, plainColumn, 3);
  EXPECT_EQ(cond.sql,
            "c_level IN (?3, ?4) AND c_category != ?5 AND c_source = ?6 AND c_file NOT IN "
            "(?7, ?8)");
  EXPECT_EQ(cond.params, (std::vector<std::string>{"error", "warn", "engine", "app", "a", "b"}));
}

TEST(WhereToSql, HostileValuesNeverReachTheSqlText) {
  // The '=' in the second value is refused by the grammar, before any SQL exists.
  EXPECT_FALSE(parseWhere("category=x,level=\" OR 1=1 --"));
  const auto terms = parse(R"(category='); DROP TABLE events; --,level=" OR 1\=1 --)");
  const SqlCondition cond = whereToSql(terms, plainColumn, 1);
  EXPECT_EQ(cond.sql, "c_category = ?1 AND c_level = ?2");
  EXPECT_EQ(cond.params, (std::vector<std::string>{"'); DROP TABLE events; --", "\" OR 1=1 --"}));
}

TEST(WhereToSql, NoTermsNoCondition) {
  const SqlCondition cond = whereToSql({}, plainColumn, 3);
  EXPECT_EQ(cond.sql, "");
  EXPECT_TRUE(cond.params.empty());
}

}  // namespace
}  // namespace sqtail::cli
