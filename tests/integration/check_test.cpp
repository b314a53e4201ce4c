// `sqtail check` on the real binary: a config's errors exactly as `sqtail run` gives them, the
// resolved settings (which load back as the same config), the files each source matches now,
// and what the extractor makes of a sample line.
#include <regex>

#include <fmt/core.h>
#include <gtest/gtest.h>

#include "harness.hpp"

namespace sqtail::test {
namespace {

struct Result {
  std::optional<int> status;
  std::string out, err;
};

Result sqtail(const std::vector<std::string>& args, const std::string& cwd) {
  auto p = Process::start(args, cwd, cwd);
  Result r;
  r.status = p.wait(20s);
  r.out = readFile(p.stdoutPath());
  r.err = p.stderrText();
  return r;
}

std::string withoutFirstLine(const std::string& text) { return text.substr(text.find('\n') + 1); }

class CheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    writeText(dir_ / "logs/a.jsonl", jsonLine("a", 0));
    writeText(dir_ / "logs/b.jsonl", jsonLine("b", 0));
    writeText(dir_ / "logs/notes.txt", "not a log\n");
    writeText(dir_ / "c.toml",
              "flush_interval = \"250ms\"\nmax_line_bytes = \"64KiB\"\n"
              "[[source]]\nname = \"app\"\npaths = [\"logs/*.jsonl\"]\nexclude = [\"b.jsonl\"]\n"
              "[source.fields]\nlevel = [\"/sev\"]\n"
              "[[source]]\nname = \"later\"\npaths = \"nowhere/**/*.jsonl\"\n");
  }
  TempDir dir_;
};

TEST_F(CheckTest, PrintsResolvedSettingsSourcesAndTheFilesTheyMatch) {
  const Result r = sqtail({"check", "-c", "c.toml"}, dir_.path());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("# c.toml: valid"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("flush_interval = \"250ms\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("max_line_bytes = \"64KiB\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rotate_wait = \"5s\""), std::string::npos) << "defaults too\n" << r.out;
  EXPECT_NE(r.out.find("level = [\"/sev\"]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("message = [\"/message\", \"/msg\"]"), std::string::npos) << r.out;
  // app matches a.jsonl only: b.jsonl is excluded, notes.txt is not *.jsonl.
  EXPECT_NE(r.out.find("# 1 file matches now:\n#   " + (dir_ / "logs/a.jsonl") + "\n"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("b.jsonl\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("notes.txt"), std::string::npos) << r.out;
  const auto later = r.out.find("name = \"later\"");
  ASSERT_NE(later, std::string::npos);
  EXPECT_NE(r.out.find("# warning: matches no file now", later), std::string::npos) << r.out;

  // What it prints is a config: checked again, it gives the same settings.
  writeText(dir_ / "resolved.toml", r.out);
  const Result again = sqtail({"check", "-c", "resolved.toml"}, dir_.path());
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(withoutFirstLine(again.out), withoutFirstLine(r.out));
}

TEST_F(CheckTest, ConfigErrorsAreTheLoadersAndExitTwo) {
  writeText(dir_ / "bad.toml",
            "flush_interval = \"soon\"\nbogus = 1\n[[source]]\npaths = [\"x\"]\n");
  const Result r = sqtail({"check", "-c", "bad.toml"}, dir_.path());
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_NE(r.err.find("bad.toml:1:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("bad.toml:2:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("source"), std::string::npos) << r.err;
  // Word for word what `sqtail run` says about the same file.
  const Result run = sqtail({"run", "--once", "-c", "bad.toml"}, dir_.path());
  EXPECT_EQ(run.status, 2);
  EXPECT_EQ(r.err, run.err);

  const Result none = sqtail({"check"}, dir_.path());
  EXPECT_EQ(none.status, 2);
  EXPECT_NE(none.err.find("nothing to tail"), std::string::npos) << none.err;
}

TEST_F(CheckTest, ShowsWhatTheExtractorMakesOfALine) {
  const std::string line = R"({"ts":"2026-11-22T10:00:00.5Z","sev":"WARNING","level":"debug",)"
                           R"("category":"db","message":"slow query"})";
  Result r = sqtail({"check", "-c", "c.toml", "--line", line}, dir_.path());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("source 'app': accepted"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2026-11-22T10:00:00.500Z"), std::string::npos) << r.out;
  // Each source reads the line with its own field map: app's level is /sev.
  const auto app = r.out.find("source 'app': accepted");
  const auto later = r.out.find("source 'later': accepted");
  ASSERT_NE(later, std::string::npos) << r.out;
  EXPECT_NE(r.out.substr(app, later - app).find("level     \"warn\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.substr(later).find("level     \"debug\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("category  \"db\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("message   \"slow query\""), std::string::npos) << r.out;

  r = sqtail({"check", "-c", "c.toml", "--line", "{\"level\":\"info\""}, dir_.path());
  EXPECT_EQ(r.status, 1) << "a rejected line";
  EXPECT_NE(r.out.find("source 'app': rejected: invalid_json"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("source 'later': rejected: invalid_json"), std::string::npos) << r.out;
  r = sqtail({"check", "-c", "c.toml", "--line", "[1,2]"}, dir_.path());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("rejected: not_object"), std::string::npos) << r.out;
  r = sqtail({"check", "-c", "c.toml", "--line", "{\"pad\":\"" + std::string(70000, 'x') + "\"}"},
             dir_.path());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("rejected: line_too_long"), std::string::npos) << r.out;
}

TEST_F(CheckTest, PatternsAndPresetsFromTheCommandLine) {
  Result r = sqtail({"check", "logs/*.jsonl", "--exclude", "a.jsonl"}, dir_.path());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("name = \"default\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("# 1 file matches now:\n#   " + (dir_ / "logs/b.jsonl")), std::string::npos)
      << r.out;

  // The claude-code preset also reads usage entries; its globs come from CLAUDE_CONFIG_DIR.
  writeText(dir_ / "claude/projects/p/s.jsonl", "{}\n");
  ::setenv("CLAUDE_CONFIG_DIR", (dir_ / "claude").c_str(), 1);
  const std::string usage_line =
      R"({"type":"assistant","sessionId":"s","timestamp":"2026-01-10T12:00:00.000Z",)"
      R"("requestId":"r","message":{"id":"m","model":"claude-opus-4-1-20250805",)"
      R"("usage":{"input_tokens":1000,"output_tokens":500}},"costUSD":0.5})";
  r = sqtail({"check", "--preset", "claude-code", "--line", usage_line}, dir_.path());
  ::unsetenv("CLAUDE_CONFIG_DIR");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("usage = \"claude-code\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(dir_ / "claude/projects/p/s.jsonl"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("input 1000, output 500"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("$0.500000 (costUSD)"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace sqtail::test
