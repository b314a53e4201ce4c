// libFuzzer target for tail::LineReader: the line splitter with partial tails. Built by
// `meson setup -Dfuzz=true` (clang); run by `scripts/test --fuzz SECONDS`.
//
// Two files (memfds) grow in random chunks, the way writers append to logs, and one reader
// (one shared buffer, as in the tail thread) takes random numbers of turns on each between
// appends. Afterwards the emitted lines and their offsets must reconstruct every complete
// line of each file exactly once, in order:
//  - each line starts where the one before it ended; line numbers count up by one;
//  - a normal line is byte-for-byte the file's bytes up to (not including) its '\n', no
//    longer than max_line_bytes, with readable padding after it;
//  - a too-long line is longer than max_line_bytes, ends at a '\n', and its snippet is a
//    prefix of its own bytes (never bytes of another file or of an earlier read);
//  - the final position is just after the last '\n'; eof_partial says whether bytes follow;
//  - the tail hash covers exactly the bytes before the new offset.
#include <fuzzer/FuzzedDataProvider.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tail/line_reader.hpp"

namespace {

using sqtail::tail::LineReader;
using sqtail::tail::ReadPosition;

constexpr std::size_t kPadding = 64;

[[noreturn]] void fail(const char* what, std::int64_t a, std::int64_t b) {
  std::fprintf(stderr, "line_reader_fuzz: %s (%lld, %lld)\n", what, static_cast<long long>(a),
               static_cast<long long>(b));
  std::abort();
}

void check(bool ok, const char* what, std::int64_t a = 0, std::int64_t b = 0) {
  if (!ok) fail(what, a, b);
}

// A small deterministic generator, seeded from the input, for chunk sizes and turn counts.
struct SplitMix {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  std::size_t below(std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(next() % n); }
};

class GrowingFile {
 public:
  explicit GrowingFile(std::string content) : content_(std::move(content)) {
    fd_ = memfd_create("line_reader_fuzz", MFD_CLOEXEC);
    check(fd_ >= 0, "memfd_create failed", errno);
  }
  ~GrowingFile() { ::close(fd_); }
  GrowingFile(const GrowingFile&) = delete;
  GrowingFile& operator=(const GrowingFile&) = delete;

  bool complete() const { return written_ == content_.size(); }
  void append(std::size_t n) {
    n = std::min(n, content_.size() - written_);
    const ssize_t w = ::pwrite(fd_, content_.data() + written_, n, static_cast<off_t>(written_));
    check(w == static_cast<ssize_t>(n), "pwrite failed", w, errno);
    written_ += n;
  }

  // One turn of the reader, checking every line it emits against what was written.
  bool turn(LineReader& reader, std::size_t max_line) {
    const std::int64_t before = pos_.offset;
    auto result = reader.readTurn(fd_, pos_, [&](const LineReader::Line& line) {
      check(line.offset == next_offset_, "line does not start where the last one ended",
            line.offset, next_offset_);
      check(line.line_no == next_line_no_, "line numbers skip", line.line_no, next_line_no_);
      check(line.length >= 1, "empty line length", line.length);
      const auto end = static_cast<std::size_t>(line.offset + line.length);  // after the '\n'
      check(end <= written_, "line ends past what was written", static_cast<std::int64_t>(end),
            static_cast<std::int64_t>(written_));
      check(content_[end - 1] == '\n', "line does not end at a newline", line.offset);
      const auto body = static_cast<std::size_t>(line.length - 1);
      const std::string_view bytes(content_.data() + line.offset, body);
      check(bytes.find('\n') == std::string_view::npos, "two lines emitted as one", line.offset);
      if (line.too_long) {
        check(body > max_line, "too_long line within max_line_bytes",
              static_cast<std::int64_t>(body), static_cast<std::int64_t>(max_line));
        check(line.text.size() <= std::min(body, LineReader::kSnippetBytes),
              "snippet longer than its line", static_cast<std::int64_t>(line.text.size()),
              static_cast<std::int64_t>(body));
        check(bytes.substr(0, line.text.size()) == line.text, "snippet is not a prefix of its line",
              line.offset);
      } else {
        check(body <= max_line, "line over max_line_bytes not flagged",
              static_cast<std::int64_t>(body), static_cast<std::int64_t>(max_line));
        check(line.text == bytes, "line text differs from the file", line.offset);
        // The extractor reads up to kPadding bytes past the text: they must be addressable.
        volatile char last_padding = line.text.data()[line.text.size() + kPadding - 1];
        (void)last_padding;
      }
      next_offset_ = line.offset + line.length;
      ++next_line_no_;
    });
    check(result.has_value(), "readTurn failed on a memfd");
    check(pos_.offset == next_offset_, "position is not after the last emitted line", pos_.offset,
          next_offset_);
    check(pos_.line_no + 1 == next_line_no_, "position line_no is off", pos_.line_no,
          next_line_no_);
    check(result->bytes_consumed == pos_.offset - before, "bytes_consumed is off",
          result->bytes_consumed, pos_.offset - before);
    if (result->tail_len > 0) {
      check(result->tail_len <= LineReader::kTailBytes && result->tail_len <= pos_.offset,
            "tail_len out of range", result->tail_len, pos_.offset);
      const char* tail = content_.data() + pos_.offset - result->tail_len;
      check(XXH64(tail, result->tail_len, 0) == result->tail_hash,
            "tail hash is not of the bytes before the offset", pos_.offset);
    }
    last_eof_partial_ = result->eof_partial;
    return result->more;
  }

  void drain(LineReader& reader, std::size_t max_line) {
    // A turn reads at least 4 KiB or skips forward, so this terminates; the bound catches a
    // reader that stops making progress while saying `more`.
    for (std::size_t turns = 0; turn(reader, max_line); ++turns) {
      check(turns <= content_.size() + 2, "reader says `more` forever",
            static_cast<std::int64_t>(turns));
    }
  }

  void checkComplete() const {
    const std::size_t last_nl = content_.rfind('\n');
    const std::int64_t expected =
        last_nl == std::string::npos ? 0 : static_cast<std::int64_t>(last_nl) + 1;
    check(pos_.offset == expected, "final offset is not after the last newline", pos_.offset,
          expected);
    const bool partial = static_cast<std::size_t>(expected) < content_.size();
    check(last_eof_partial_ == partial, "eof_partial is wrong at the end", last_eof_partial_,
          partial);
  }

 private:
  std::string content_;
  int fd_ = -1;
  std::size_t written_ = 0;
  ReadPosition pos_;
  std::int64_t next_offset_ = 0;
  std::int64_t next_line_no_ = 1;
  bool last_eof_partial_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider input(data, size);
  // Small limits, so that short inputs reach the quantum and long-line paths. The reader
  // raises the quantum to at least 4 KiB itself.
  const auto quantum = input.ConsumeIntegralInRange<std::size_t>(1, 12 * 1024);
  const auto max_line = input.ConsumeIntegralInRange<std::size_t>(1, 9 * 1024);
  SplitMix rng{input.ConsumeIntegral<std::uint64_t>()};
  std::string first = input.ConsumeRemainingBytesAsString();
  // The second file holds other bytes, so a snippet or a line taken from a stale buffer shows.
  std::string second(first.rbegin(), first.rend());
  for (char& c : second) {
    if (c != '\n') c = static_cast<char>(c ^ 0x20);
  }

  LineReader reader(quantum, max_line, kPadding);
  GrowingFile files[2] = {GrowingFile(std::move(first)), GrowingFile(std::move(second))};
  const std::size_t max_chunk = 1 + std::max(quantum, max_line) * 2;
  while (!files[0].complete() || !files[1].complete()) {
    GrowingFile& file = files[rng.below(2)];
    // Mostly small appends, now and then a large one: lines split across writes either way.
    file.append(rng.below(4) == 0 ? 1 + rng.below(max_chunk) : 1 + rng.below(64));
    for (std::size_t turns = rng.below(4); turns > 0; --turns) {
      if (!file.turn(reader, max_line)) break;
    }
  }
  for (GrowingFile& file : files) {
    file.drain(reader, max_line);
    file.checkComplete();
  }
  return 0;
}
