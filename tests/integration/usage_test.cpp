// `sqtail usage` end to end: the real binary tails the claude-code corpus (resumed sessions,
// streaming repeats, sidechains, subagent files, <synthetic>, a cut-off last line, non-JSON)
// with the preset, and each report equals the totals worked out by hand in
// tests/integration/usage_corpus/README.md: tokens exactly, dollars within a micro-dollar.
#include <cmath>
#include <sstream>

#include <fmt/core.h>
#include <gtest/gtest.h>

#include "harness.hpp"

namespace sqtail::test {
namespace {

std::vector<std::vector<std::string>> parseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::vector<std::string> cells;
    std::istringstream cs(line);
    std::string cell;
    while (std::getline(cs, cell, ',')) cells.push_back(cell);
    rows.push_back(std::move(cells));
  }
  return rows;
}

void expectSameReport(const std::string& got, const std::string& want, const std::string& what) {
  auto g = parseCsv(got), w = parseCsv(want);
  ASSERT_EQ(g.size(), w.size()) << what << "\n" << got;
  for (std::size_t r = 0; r < w.size(); ++r) {
    ASSERT_EQ(g[r].size(), w[r].size()) << what << " row " << r;
    for (std::size_t c = 0; c < w[r].size(); ++c) {
      if (r > 0 && w[0][c] == "cost_usd") {
        EXPECT_NEAR(std::stod(g[r][c]), std::stod(w[r][c]), 1e-6) << what << " row " << r;
      } else {
        EXPECT_EQ(g[r][c], w[r][c]) << what << " row " << r << " column " << w[0][c];
      }
    }
  }
}

class Usage : public ::testing::Test {
 protected:
  void SetUp() override {
    writeText(dir_ / "cc.toml", fmt::format("[[source]]\npreset = \"claude-code\"\n"
                                            "paths = [\"{}/projects/**/*.jsonl\"]\n",
                                            corpus_));
    ASSERT_EQ(runSqtail({"run", "--once", "--db", "u.db", "-c", "cc.toml"}, dir_.path()), 0);
  }
  std::string report(std::vector<std::string> args) {
    args.insert(args.begin(), {"usage", "--db", "u.db", "--format", "csv"});
    auto p = Process::start(args, dir_.path(), dir_.path());
    EXPECT_EQ(p.wait(30s), 0) << p.stderrText();
    // The harness sends stdout to sqtail-N.out next to stderr's file.
    return readFile(p.stdoutPath());
  }
  std::string expected(const std::string& name) { return readFile(corpus_ + "/" + name); }

  TempDir dir_;
  std::string corpus_ = SQTAIL_USAGE_CORPUS;
};

TEST_F(Usage, ByDayAndModelInUtcAndTokyo) {
  expectSameReport(report({"--by", "day,model", "--timezone", "UTC"}),
                   expected("expected_day_model_utc.csv"), "day,model UTC");
  expectSameReport(report({"--by", "day,model", "--timezone", "Asia/Tokyo"}),
                   expected("expected_day_model_tokyo.csv"), "day,model Tokyo");
}

TEST_F(Usage, ByDayWeekAndSession) {
  expectSameReport(report({"--by", "day", "--timezone", "UTC"}),
                   expected("expected_by_day_utc.csv"), "day");
  expectSameReport(report({"--by", "week", "--timezone", "UTC"}),
                   expected("expected_by_week_utc.csv"), "week");
  expectSameReport(report({"--by", "session", "--timezone", "UTC"}),
                   expected("expected_by_session.csv"), "session");
}

TEST_F(Usage, ARestartAddsNothingAndTheDedupHolds) {
  ASSERT_EQ(runSqtail({"run", "--once", "--db", "u.db", "-c", "cc.toml"}, dir_.path()), 0);
  expectSameReport(report({"--by", "day,model", "--timezone", "UTC"}),
                   expected("expected_day_model_utc.csv"), "after restart");
  Db db(dir_ / "u.db");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM usage WHERE sidechain = 1"), 1);  // A4 only
}

// Two copies of one entry with equal totals, on different days, in two files: the copy in the
// path that sorts first counts (as in ccusage), even when it is read second.
TEST(UsageTies, ThePathThatSortsFirstWinsWhateverWasReadFirst) {
  TempDir dir;
  auto entry = [](const std::string& ts) {
    return fmt::format(
        R"({{"type":"assistant","timestamp":"{}","sessionId":"s1","requestId":"req_1",)"
        R"("message":{{"id":"msg_1","model":"claude-sonnet-4-20250514","usage":)"
        R"({{"input_tokens":10,"output_tokens":20}}}}}})"
        "\n",
        ts);
  };
  writeText(dir / "cc.toml",
            "[[source]]\npreset = \"claude-code\"\n"
            "paths = [\"projects/**/*.jsonl\"]\n");
  writeText(dir / "projects/p/b.jsonl", entry("2026-01-02T10:00:00.000Z"));
  ASSERT_EQ(runSqtail({"run", "--once", "--db", "u.db", "-c", "cc.toml"}, dir.path()), 0);
  writeText(dir / "projects/p/a.jsonl", entry("2026-01-01T10:00:00.000Z"));
  ASSERT_EQ(runSqtail({"run", "--once", "--db", "u.db", "-c", "cc.toml"}, dir.path()), 0);
  Db db(dir / "u.db");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM usage"), 1);
  EXPECT_EQ(db.scalar("SELECT ts FROM usage"), 1767261600000)
      << "2026-01-01T10:00:00Z, from a.jsonl";
  // And a replay of the other copy changes nothing.
  appendText(dir / "projects/p/b.jsonl", entry("2026-01-03T10:00:00.000Z"));
  ASSERT_EQ(runSqtail({"run", "--once", "--db", "u.db", "-c", "cc.toml"}, dir.path()), 0);
  EXPECT_EQ(db.scalar("SELECT ts FROM usage"), 1767261600000);
}

}  // namespace
}  // namespace sqtail::test
