// Owns the per-line JSON work: one simdjson on-demand pass that validates a line and pulls
// out the mapped fields. One Extractor per thread (the tail thread); not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

#include "config/config.hpp"

namespace sqtail::parse {

enum class RejectReason : std::uint8_t {
  kInvalidJson,  // simdjson refused it (syntax, trailing content, bad escape, ...)
  kNotObject,    // valid JSON, but not an object ("42", "[1]", "\"x\"")
  kInvalidUtf8,  // the bytes are not UTF-8
  kNulByte,      // a NUL byte anywhere in the line
  kLineTooLong,  // longer than max_line_bytes (decided by the line reader, not here)
};
inline constexpr int kRejectReasonCount = 5;

// Stable snake_case names, used in the rejects table and in metrics labels.
std::string_view reasonName(RejectReason reason);

// Extracted fields. The views stay valid until the next extract() call on the same Extractor.
struct Fields {
  std::optional<std::int64_t> ts_ms;         // Unix epoch milliseconds, UTC
  std::optional<std::string_view> level;     // normalized: lowercase; pino numbers mapped
  std::optional<std::string_view> category;  // unescaped string (numbers/bools as their text)
  std::optional<std::string_view> message;   // unescaped string (non-strings as raw JSON)
};

// Number of bytes that must be readable (any content) after a line passed to extract().
inline constexpr std::size_t kPadding = 64;  // == SIMDJSON_PADDING, checked in extractor.cpp

class Extractor {
 public:
  explicit Extractor(const config::FieldMap& map);
  ~Extractor();
  Extractor(const Extractor&) = delete;
  Extractor& operator=(const Extractor&) = delete;

  // `line` excludes the newline; a trailing '\r' is ignored. kPadding bytes after
  // line.data() + line.size() must be readable.
  tl::expected<Fields, RejectReason> extract(std::string_view line);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// True when `pointer` is an RFC 6901 pointer to a field: "/a/b", "~1" for '/', "~0" for '~'.
// Extractor ignores other entries of a FieldMap ("", "message", "/a~2"), so the caller should
// refuse them at start-up, naming the key.
bool isFieldPointer(std::string_view pointer);

// RFC 3339 ("2026-11-22T10:00:00Z", "...T10:00:00.123+02:00", space instead of 'T',
// fraction of any length) to epoch milliseconds; nullopt when it is not one.
std::optional<std::int64_t> parseRfc3339(std::string_view text);

// A number of seconds, milliseconds, microseconds or nanoseconds since the epoch, told
// apart by magnitude (< 1e11 seconds, < 1e14 ms, < 1e17 us, else ns), to milliseconds.
std::int64_t epochNumberToMillis(double value);

// Level text normalized: lowercased; "warning" -> "warn", "err" -> "error",
// "critical"/"crit"/"fatal"/"panic" kept as given but lowercased; writes into `out`.
std::string_view normalizeLevel(std::string_view level, std::string& out);
// pino/bunyan numeric levels: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal.
std::optional<std::string_view> numericLevel(std::int64_t value);

}  // namespace sqtail::parse
