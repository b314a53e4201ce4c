// Owns a file sink's path template: "{date}/{category}.jsonl" parsed once, then rendered per
// record into a path relative to the sink's directory that cannot leave it, whatever the
// record holds. Immutable after parse(): render() is const and any thread may call it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "sink/files/time_zone.hpp"

namespace sqtail::sink {

class PathTemplate {
 public:
  // What one record contributes to its path. Empty views and nullopt pointers are missing
  // values and render as "unknown".
  struct Values {
    std::optional<std::int64_t> ts_ms;  // the record's time, epoch ms
    std::int64_t now_ms = 0;            // used for {date}/{hour} when ts_ms is absent
    std::string_view source, host, level, category;
    // The values of pointers(), same order and size (shorter: the rest are missing).
    std::span<const std::optional<std::string_view>> pointers;
  };

  // Placeholders: {date} (YYYY-MM-DD), {hour} (HH), {source}, {host}, {level}, {category},
  // and {/json/pointer} (RFC 6901). No escapes for literal braces. Errors name the bad part:
  // an unknown placeholder, an unbalanced brace, an absolute path, a "." or ".." or empty
  // segment, control characters or '\' in the literal text. `zone` sets {date} and {hour}.
  static tl::expected<PathTemplate, std::string> parse(std::string_view text,
                                                       TimeZone zone = TimeZone());

  // The distinct JSON pointers of the template in order of first use: the parser must
  // extract these, and Values::pointers follows this order.
  const std::vector<std::string>& pointers() const { return pointers_; }
  bool usesTime() const { return uses_time_; }
  const std::string& text() const { return text_; }
  const TimeZone& zone() const { return zone_; }

  // Replaces `out` with the relative path for `values`. Every substituted value is made a
  // safe file-name part (see sanitizeComponent).
  void render(const Values& values, std::string& out) const;

  // Largest bytes one value may take; a segment with several placeholders gets less, so
  // that a rendered file name never exceeds 255 bytes.
  static constexpr std::size_t kMaxValueBytes = 100;
  static constexpr std::size_t kMaxNameBytes = 255;

 private:
  enum class Kind : std::uint8_t {
    kLiteral,
    kSlash,
    kDate,
    kHour,
    kSource,
    kHost,
    kLevel,
    kCategory,
    kPointer
  };
  struct Part {
    Kind kind;
    std::string literal;        // kLiteral
    std::size_t pointer = 0;    // kPointer: index into pointers_
    std::size_t max_bytes = 0;  // value placeholders: this segment's budget per value
  };

  std::string text_;
  TimeZone zone_;
  std::vector<Part> parts_;
  std::vector<std::string> pointers_;
  bool uses_time_ = false;
};

// Appends `value` to `out` as one file-name part of at most `max_bytes` bytes: '/', '\', NUL,
// C0/C1 control characters, DEL and bytes of invalid UTF-8 become '_'; a leading '.' becomes
// '_' (so "." and ".." cannot appear); empty becomes "unknown"; the cut falls on a character
// boundary. `max_bytes` must be at least 7.
void sanitizeComponent(std::string_view value, std::size_t max_bytes, std::string& out);

}  // namespace sqtail::sink
