#include "tail/line_reader.hpp"

#include <algorithm>
#include <cstring>

#include <xxhash.h>

namespace sqtail::tail {

LineReader::LineReader(std::size_t quantum, std::size_t max_line_bytes, std::size_t padding)
    : quantum_(std::max<std::size_t>(quantum, 4096)), max_line_(max_line_bytes), padding_(padding) {
  // One buffer for every file: a full quantum or one maximal line (+ its newline).
  buf_.resize(std::max(quantum_, max_line_ + 1) + padding_);
}

sys::Result<LineReader::Turn> LineReader::readTurn(int fd, ReadPosition& pos,
                                                   const std::function<void(const Line&)>& emit) {
  Turn turn;
  char* buf = buf_.data();

  if (pos.skipping) {
    // The rest of an over-long line: find its end without keeping its bytes.
    auto got = sys::preadFull(fd, buf, quantum_, pos.skip_scan);
    if (!got) return tl::unexpected(got.error());
    const auto* nl = static_cast<const char*>(std::memchr(buf, '\n', *got));
    if (nl == nullptr) {
      pos.skip_scan += static_cast<std::int64_t>(*got);
      turn.more = *got == quantum_;
      turn.eof_partial = !turn.more;
      return turn;
    }
    const std::int64_t end = pos.skip_scan + (nl - buf);  // offset of the '\n'
    Line line{pos.skip_snippet, pos.offset, pos.line_no + 1, end + 1 - pos.offset, true};
    emit(line);
    turn.bytes_consumed = line.length;
    pos.line_no += 1;
    pos.offset = end + 1;
    pos.skipping = false;
    pos.skip_snippet.clear();
    turn.more = true;
    return turn;
  }

  std::size_t want = quantum_;
  std::size_t got = 0;
  const char* last_nl = nullptr;
  for (;;) {
    auto r = sys::preadFull(fd, buf, want, pos.offset);
    if (!r) return tl::unexpected(r.error());
    got = *r;
    last_nl = static_cast<const char*>(memrchr(buf, '\n', got));
    if (last_nl != nullptr) break;
    if (got > max_line_) {
      // No newline within max_line_bytes: a reject whose end we look for without buffering.
      pos.skipping = true;
      pos.skip_scan = pos.offset + static_cast<std::int64_t>(got);
      pos.skip_snippet.assign(buf, std::min(got, kSnippetBytes));
      turn.more = true;
      return turn;
    }
    if (got < want) {  // EOF inside a line that is not complete yet
      turn.eof_partial = got > 0;
      return turn;
    }
    want = std::min(want * 4, max_line_ + 1);
  }

  const char* p = buf;
  const char* end = last_nl + 1;
  std::int64_t offset = pos.offset;
  std::int64_t line_no = pos.line_no;
  while (p < end) {
    const auto* nl =
        static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    const auto len = static_cast<std::size_t>(nl - p);
    Line line{{p, len}, offset, ++line_no, static_cast<std::int64_t>(len) + 1, len > max_line_};
    if (line.too_long) line.text = line.text.substr(0, kSnippetBytes);
    emit(line);
    offset += line.length;
    p = nl + 1;
  }
  turn.bytes_consumed = offset - pos.offset;
  turn.tail_len =
      static_cast<std::uint32_t>(std::min<std::int64_t>(kTailBytes, turn.bytes_consumed));
  turn.tail_hash = XXH64(end - turn.tail_len, turn.tail_len, 0);
  pos.offset = offset;
  pos.line_no = line_no;
  turn.more = got == want;
  turn.eof_partial = !turn.more && end < buf + got;
  return turn;
}

}  // namespace sqtail::tail
