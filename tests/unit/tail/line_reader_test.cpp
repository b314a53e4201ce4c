#include "tail/line_reader.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tail/identity.hpp"

namespace sqtail::tail {
namespace {

// A real file in a temp dir: the reader works on descriptors, so the test does too.
class TempFile {
 public:
  TempFile() {
    char tmpl[] = "/tmp/sqtail-lr-XXXXXX";
    fd_ = mkstemp(tmpl);
    path_ = tmpl;
  }
  ~TempFile() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  void append(const std::string& s) {
    ASSERT_EQ(::pwrite(fd_, s.data(), s.size(), size_), static_cast<ssize_t>(s.size()));
    size_ += static_cast<off_t>(s.size());
  }
  void truncate() {
    ASSERT_EQ(::ftruncate(fd_, 0), 0);
    size_ = 0;
  }
  int fd() const { return fd_; }

 private:
  int fd_;
  std::string path_;
  off_t size_ = 0;
};

struct Seen {
  std::string text;
  std::int64_t offset, line_no, length;
  bool too_long;
};

std::vector<Seen> readAll(LineReader& reader, int fd, ReadPosition& pos, bool* partial = nullptr) {
  std::vector<Seen> out;
  for (;;) {
    auto turn = reader.readTurn(fd, pos, [&](const LineReader::Line& l) {
      out.push_back({std::string(l.text), l.offset, l.line_no, l.length, l.too_long});
    });
    EXPECT_TRUE(turn.has_value());
    if (partial != nullptr) *partial = turn->eof_partial;
    if (!turn->more) break;
  }
  return out;
}

TEST(LineReader, SplitsCompleteLinesWithOffsetsAndNumbers) {
  TempFile f;
  f.append("a\nbb\n\nccc\n");
  LineReader reader(4096, 1024, 64);
  ReadPosition pos;
  auto lines = readAll(reader, f.fd(), pos);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0].text, "a");
  EXPECT_EQ(lines[1].text, "bb");
  EXPECT_EQ(lines[1].offset, 2);
  EXPECT_EQ(lines[2].text, "");
  EXPECT_EQ(lines[3].text, "ccc");
  EXPECT_EQ(lines[3].offset, 6);
  EXPECT_EQ(lines[3].line_no, 4);
  EXPECT_EQ(lines[3].length, 4);
  EXPECT_EQ(pos.offset, 10);
  EXPECT_EQ(pos.line_no, 4);
}

TEST(LineReader, PartialTailWaitsAndIsReadAgainWhole) {
  TempFile f;
  f.append("one\ntw");
  LineReader reader(4096, 1024, 64);
  ReadPosition pos;
  bool partial = false;
  auto first = readAll(reader, f.fd(), pos, &partial);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_TRUE(partial);
  EXPECT_EQ(pos.offset, 4);  // the checkpoint stays at the start of the unfinished line
  f.append("o\nthree\n");
  auto second = readAll(reader, f.fd(), pos);
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(second[0].text, "two");
  EXPECT_EQ(second[0].offset, 4);
  EXPECT_EQ(second[0].line_no, 2);
  EXPECT_EQ(second[1].text, "three");
}

TEST(LineReader, QuantumBoundsATurnButNotALine) {
  TempFile f;
  std::string expect;
  for (int i = 0; i < 2000; ++i) f.append("line-" + std::to_string(i) + "\n");
  LineReader reader(4096, 1 << 20, 64);
  ReadPosition pos;
  int turns = 0;
  std::vector<std::string> got;
  for (;;) {
    ++turns;
    auto turn =
        reader.readTurn(f.fd(), pos, [&](const LineReader::Line& l) { got.emplace_back(l.text); });
    ASSERT_TRUE(turn.has_value());
    EXPECT_LE(turn->bytes_consumed, 4096);
    if (!turn->more) break;
  }
  EXPECT_GT(turns, 3);
  ASSERT_EQ(got.size(), 2000u);
  for (int i = 0; i < 2000; ++i)
    ASSERT_EQ(got[static_cast<std::size_t>(i)], "line-" + std::to_string(i));
}

TEST(LineReader, LineLongerThanQuantumButUnderMaxIsWhole) {
  TempFile f;
  std::string big(20000, 'x');
  f.append("a\n" + big + "\nb\n");
  LineReader reader(4096, 65536, 64);
  ReadPosition pos;
  auto lines = readAll(reader, f.fd(), pos);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1].text, big);
  EXPECT_FALSE(lines[1].too_long);
  EXPECT_EQ(lines[2].text, "b");
}

TEST(LineReader, OverlongLineBecomesOneSnippetWithItsFullLength) {
  TempFile f;
  std::string huge(300000, 'y');
  f.append("a\n" + huge + "\nb\n");
  LineReader reader(4096, 10000, 64);
  ReadPosition pos;
  auto lines = readAll(reader, f.fd(), pos);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_TRUE(lines[1].too_long);
  EXPECT_EQ(lines[1].text.size(), LineReader::kSnippetBytes);
  EXPECT_EQ(lines[1].length, 300001);
  EXPECT_EQ(lines[1].offset, 2);
  EXPECT_EQ(lines[1].line_no, 2);
  EXPECT_EQ(lines[2].text, "b");
  EXPECT_EQ(lines[2].line_no, 3);
  EXPECT_EQ(pos.offset, static_cast<std::int64_t>(2 + 300001 + 2));
}

TEST(LineReader, OverlongLineStillGrowingIsSkippedWithoutBuffering) {
  TempFile f;
  f.append(std::string(50000, 'z'));
  LineReader reader(4096, 10000, 64);
  ReadPosition pos;
  auto lines = readAll(reader, f.fd(), pos);
  EXPECT_TRUE(lines.empty());
  EXPECT_TRUE(pos.skipping);
  EXPECT_EQ(pos.offset, 0);  // nothing is checkpointed past the unfinished line
  f.append(std::string(50000, 'z') + "\nok\n");
  lines = readAll(reader, f.fd(), pos);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(lines[0].too_long);
  EXPECT_EQ(lines[0].length, 100001);
  EXPECT_EQ(lines[1].text, "ok");
}

TEST(LineReader, TurnHashesTheBytesBeforeItsNewOffset) {
  TempFile f;
  const std::string content = "{\"a\":1}\n" + std::string(100, 'x') + "\npartial";
  f.append(content);
  LineReader reader(4096, 1024, 64);
  ReadPosition pos;
  auto turn = reader.readTurn(f.fd(), pos, [](const LineReader::Line&) {});
  ASSERT_TRUE(turn.has_value());
  ASSERT_EQ(pos.offset, 109);
  EXPECT_EQ(turn->tail_len, 64u);
  auto expected = hashRange(f.fd(), pos.offset - 64, 64);
  ASSERT_TRUE(expected.has_value() && expected->has_value());
  EXPECT_EQ(turn->tail_hash, **expected);

  // A turn that advanced over fewer bytes hashes only those.
  f.append("\n");
  turn = reader.readTurn(f.fd(), pos, [](const LineReader::Line&) {});
  EXPECT_EQ(turn->tail_len, 8u);  // "partial\n"
  EXPECT_EQ(turn->tail_hash, **hashRange(f.fd(), pos.offset - 8, 8));
}

TEST(Identity, FingerprintGrowsWithTheFileAndDiffersByContent) {
  TempFile a, b;
  a.append("short");
  auto ia = identify(a.fd(), 1024);
  ASSERT_TRUE(ia.has_value());
  EXPECT_EQ(ia->fingerprint_len, 5u);
  b.append("other");
  auto ib = identify(b.fd(), 1024);
  EXPECT_NE(ia->fingerprint, ib->fingerprint);
  a.append(std::string(2000, 'q'));
  auto grown = identify(a.fd(), 1024);
  EXPECT_EQ(grown->fingerprint_len, 1024u);
  auto prefix = hashPrefix(a.fd(), 5);
  ASSERT_TRUE(prefix.has_value() && prefix->has_value());
  EXPECT_EQ(**prefix, ia->fingerprint);  // the young fingerprint still identifies the file
}

}  // namespace
}  // namespace sqtail::tail
