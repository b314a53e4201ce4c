// Owns splitting a file's bytes into complete lines from a byte offset. The file itself is
// the buffer: a partial last line is not kept in memory but read again from its start next
// turn, so a tracked file costs no buffer of its own. Call only from the tail thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "sys/sys.hpp"

namespace sqtail::tail {

// Where a file has been split up to. `offset` is the start of the first line not yet
// emitted: checkpointing it is always safe.
struct ReadPosition {
  std::int64_t offset = 0;
  std::int64_t line_no = 0;  // lines emitted so far (the next line is line_no + 1)
  // A line longer than max_line_bytes is being skipped: scanned from offset to `skip_scan`.
  bool skipping = false;
  std::int64_t skip_scan = 0;
  std::string skip_snippet;
};

// One reader (and its buffer) serves every file of the tail thread.
class LineReader {
 public:
  struct Line {
    std::string_view text;  // without '\n'; readable padding follows it in the buffer
    std::int64_t offset;    // of its first byte
    std::int64_t line_no;   // 1-based
    std::int64_t length;    // bytes including the '\n' (for long lines: the whole line)
    bool too_long;          // text is only a snippet; the line is a reject
  };
  struct Turn {
    std::int64_t bytes_consumed = 0;  // bytes the position advanced over
    bool more = false;                // stopped at the quantum with bytes still unread
    bool eof_partial = false;         // bytes after the last newline wait for completion
    // xxh64 of the tail_len (<= kTailBytes) bytes just before the new offset, when the turn
    // advanced over them: lets the next turn tell an append from a rewrite.
    std::uint64_t tail_hash = 0;
    std::uint32_t tail_len = 0;
  };

  LineReader(std::size_t quantum, std::size_t max_line_bytes, std::size_t padding);

  // Reads at most about `quantum` bytes of `fd` at pos.offset (more for one long line, up to
  // max_line_bytes), calls `emit` for each complete line in file order, advances `pos`.
  sys::Result<Turn> readTurn(int fd, ReadPosition& pos,
                             const std::function<void(const Line&)>& emit);

  static constexpr std::size_t kSnippetBytes = 256;
  static constexpr std::size_t kTailBytes = 64;

 private:
  std::size_t quantum_;
  std::size_t max_line_;
  std::size_t padding_;
  std::string buf_;
};

}  // namespace sqtail::tail
