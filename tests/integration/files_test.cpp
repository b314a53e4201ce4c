// `sqtail files` on the real binary: each tracked file's state, committed offset and lag in
// bytes and lines as the file system shows it now (appended, rotated, truncated, deleted).
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

#include <fmt/core.h>

#include <gtest/gtest.h>

#include "harness.hpp"

namespace sqtail::test {
namespace {

std::string lines(const std::string& tag, int from, int to) {
  std::string s;
  for (int i = from; i < to; ++i) s += jsonLine(tag, i);
  return s;
}

using Row = std::map<std::string, std::string>;

// `sqtail files --format tsv`, one map per row (header -> cell), in output order.
std::vector<Row> files(const TempDir& dir) {
  auto p = Process::start({"files", "--db", "s.db", "--format", "tsv"}, dir.path(), dir.path());
  EXPECT_EQ(p.wait(60s), 0) << p.stderrText();
  std::istringstream in(readFile(p.stdoutPath()));
  std::string line;
  std::vector<std::string> header;
  std::vector<Row> rows;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::string cell;
    std::istringstream l(line);
    while (std::getline(l, cell, '\t')) cells.push_back(cell);
    if (!line.empty() && line.back() == '\t') cells.emplace_back();
    if (header.empty()) {
      header = cells;
      continue;
    }
    Row row;
    for (std::size_t i = 0; i < header.size(); ++i)
      row[header[i]] = i < cells.size() ? cells[i] : "";
    rows.push_back(std::move(row));
  }
  return rows;
}

const Row* find(const std::vector<Row>& rows, const std::string& path) {
  for (const auto& r : rows) {
    if (r.at("path") == path) return &r;
  }
  return nullptr;
}

TEST(Files, StateAndLagInBytesAndLines) {
  TempDir dir;
  const std::string a = dir / "logs/a.jsonl", b = dir / "logs/b.jsonl", c = dir / "logs/c.jsonl",
                    d = dir / "logs/d.jsonl", e = dir / "logs/e.jsonl";
  writeText(a, lines("a", 0, 100));
  writeText(b, lines("b", 0, 50));
  writeText(c, lines("c", 0, 40));
  writeText(d, lines("d", 0, 10));
  writeText(e, lines("e", 0, 5));
  ASSERT_EQ(runSqtail({"run", "--once", "--db", "s.db", "logs/*.jsonl"}, dir.path()), 0);

  // Nothing pending: every lag is 0 and every file active.
  for (const auto& r : files(dir)) {
    EXPECT_EQ(r.at("state"), "active") << r.at("path");
    EXPECT_EQ(r.at("lag_bytes"), "0") << r.at("path");
    EXPECT_EQ(r.at("lag_lines"), "0") << r.at("path");
  }

  // sqtail is not running now; the files change under it.
  const std::string a_more = lines("a", 100, 107);
  appendText(a, a_more + R"({"partial":)");  // a partial line is lag in bytes, not a line
  const std::string b_more = lines("b", 50, 54);
  std::filesystem::rename(b, b + ".1");  // rotated, and its writer still appends to it
  appendText(b + ".1", b_more);
  writeText(b, lines("b2", 0, 3));
  const std::string c_new = lines("c2", 0, 2);
  writeText(c, c_new);  // copytruncate: shorter than its offset
  std::filesystem::remove(d);

  const auto rows = files(dir);
  ASSERT_EQ(rows.size(), 5u);
  const Row* ra = find(rows, a);
  const Row* rb = find(rows, b);
  const Row* rc = find(rows, c);
  const Row* rd = find(rows, d);
  const Row* re = find(rows, e);
  ASSERT_TRUE(ra && rb && rc && rd && re);

  EXPECT_EQ(ra->at("state"), "active");
  EXPECT_EQ(ra->at("offset"), std::to_string(lines("a", 0, 100).size()));
  EXPECT_EQ(ra->at("size"), std::to_string(fileSize(a)));
  EXPECT_EQ(ra->at("lag_bytes"), std::to_string(fileSize(a) - lines("a", 0, 100).size()));
  EXPECT_EQ(ra->at("lag_lines"), "7");
  EXPECT_EQ(ra->at("lines"), "100");

  // The path names a new file; the tracked one lives on as b.jsonl.1 and lags there.
  EXPECT_EQ(rb->at("state"), "rotated");
  EXPECT_EQ(rb->at("lag_bytes"), std::to_string(b_more.size()));
  EXPECT_EQ(rb->at("lag_lines"), "4");

  // Shorter than its offset: sqtail reads it again from 0, so all of it is lag.
  EXPECT_EQ(rc->at("state"), "truncated");
  EXPECT_EQ(rc->at("lag_bytes"), std::to_string(c_new.size()));
  EXPECT_EQ(rc->at("lag_lines"), "2");

  // Deleted: nothing to read, so no line count.
  EXPECT_EQ(rd->at("state"), "deleted");
  EXPECT_EQ(rd->at("lag_bytes"), "0");
  EXPECT_EQ(rd->at("lag_lines"), "");

  EXPECT_EQ(re->at("state"), "active");
  EXPECT_EQ(re->at("lag_bytes"), "0");
  EXPECT_EQ(re->at("last_event"), "2026-11-22T10:00:04Z");
  EXPECT_EQ(re->at("rejects"), "0");

  // Sorted by lag, largest first.
  for (std::size_t i = 1; i < rows.size(); ++i) {
    EXPECT_GE(std::stoll(rows[i - 1].at("lag_bytes")), std::stoll(rows[i].at("lag_bytes")));
  }
  EXPECT_EQ(rows[0].at("path"), a);

  // JSON: numbers as numbers, an unknown line count as null.
  auto p = Process::start({"files", "--db", "s.db", "--format", "json"}, dir.path(), dir.path());
  ASSERT_EQ(p.wait(60s), 0) << p.stderrText();
  const std::string json = readFile(p.stdoutPath());
  EXPECT_NE(json.find(fmt::format(R"({{"path": "{}", "source": "default", "state": "active", )"
                                  R"("size": {}, "offset": {}, "lag_bytes": {}, "lag_lines": 7, )"
                                  R"("lines": 100, "rejects": 0, "truncations": 0, )"
                                  R"("last_event": "2026-11-22T10:01:39Z"}})",
                                  a, fileSize(a), lines("a", 0, 100).size(),
                                  fileSize(a) - lines("a", 0, 100).size())),
            std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("state": "deleted", )"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("lag_lines": null)"), std::string::npos) << json;
}

TEST(Files, LineCountStopsAt64MiB) {
  TempDir dir;
  const std::string a = dir / "logs/a.jsonl";
  writeText(a, lines("a", 0, 1));
  ASSERT_EQ(runSqtail({"run", "--once", "--db", "s.db", "logs/*.jsonl"}, dir.path()), 0);
  // 66,000 lines of exactly 1 KiB: 64 MiB holds 65,536 of them.
  std::string line = R"({"m":")" + std::string(1024 - 9, 'x') + "\"}\n";
  ASSERT_EQ(line.size(), 1024u);
  std::string chunk;
  for (int i = 0; i < 1000; ++i) chunk += line;
  for (int i = 0; i < 66; ++i) appendText(a, chunk);
  const auto rows = files(dir);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at("lag_bytes"), std::to_string(66'000 * 1024));
  EXPECT_EQ(rows[0].at("lag_lines"), ">65536");

  // In a table too, with the separator.
  auto p = Process::start({"files", "--db", "s.db"}, dir.path(), dir.path());
  ASSERT_EQ(p.wait(60s), 0) << p.stderrText();
  EXPECT_NE(readFile(p.stdoutPath()).find(">65,536"), std::string::npos);
}

}  // namespace
}  // namespace sqtail::test
