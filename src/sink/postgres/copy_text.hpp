// Owns the encoding of rows into COPY's text format (tab-separated, \N for NULL, backslash
// escapes), written into a buffer the caller flushes. Pure; any thread may use its own writer.
#pragma once

#include <array>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace sqtail::sink {

namespace copy_detail {
constexpr std::array<bool, 256> escapeTable() {
  std::array<bool, 256> t{};
  t['\\'] = t['\n'] = t['\r'] = t['\t'] = t[0] = true;
  return t;
}
inline constexpr std::array<bool, 256> kEscape = escapeTable();
}  // namespace copy_detail

class CopyTextWriter {
 public:
  std::string& buffer() { return buf_; }
  std::size_t size() const { return buf_.size(); }
  void clear() { buf_.clear(); }

  // A text value. Events are valid UTF-8 without NUL (the parser rejects the rest), but
  // PostgreSQL refuses NUL in text outright and one such byte would wedge the sink on its
  // batch forever: it becomes U+FFFD instead.
  void text(std::string_view s) {
    sep();
    const char* p = s.data();
    const char* const end = p + s.size();
    while (p < end) {
      const char* run = p;
      while (p < end && !copy_detail::kEscape[static_cast<unsigned char>(*p)]) ++p;
      buf_.append(run, static_cast<std::size_t>(p - run));
      if (p == end) break;
      switch (*p) {
        case '\\':
          buf_ += "\\\\";
          break;
        case '\n':
          buf_ += "\\n";
          break;
        case '\r':
          buf_ += "\\r";
          break;
        case '\t':
          buf_ += "\\t";
          break;
        default:
          buf_ += "\xef\xbf\xbd";
          break;  // NUL
      }
      ++p;
    }
  }
  // A value already in COPY form (escaped once, written many times).
  void escaped(std::string_view s) {
    sep();
    buf_.append(s);
  }
  // A bytea value, any bytes: hex form, its backslash doubled for COPY.
  void bytea(std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    sep();
    buf_ += "\\\\x";
    for (unsigned char c : s) {
      buf_ += kHex[c >> 4];
      buf_ += kHex[c & 15];
    }
  }
  void int64(std::int64_t v) {
    sep();
    char tmp[24];
    auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
    buf_.append(tmp, static_cast<std::size_t>(r.ptr - tmp));
  }
  // Shortest form that reads back to the same double.
  void float64(double v) {
    sep();
    char tmp[32];
    auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
    buf_.append(tmp, static_cast<std::size_t>(r.ptr - tmp));
  }
  void boolean(bool v) {
    sep();
    buf_ += v ? 't' : 'f';
  }
  void null() {
    sep();
    buf_ += "\\N";
  }
  void endRow() {
    buf_ += '\n';
    first_ = true;
  }

 private:
  void sep() {
    if (!first_) buf_ += '\t';
    first_ = false;
  }

  std::string buf_;
  bool first_ = true;
};

}  // namespace sqtail::sink
