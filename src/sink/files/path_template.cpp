#include "sink/files/path_template.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace sqtail::sink {

namespace {

constexpr std::string_view kUnknown = "unknown";
constexpr std::string_view kKnown =
    "{date} {hour} {source} {host} {level} {category} or a JSON pointer such as {/ctx/module}";
// {date} renders years 0000-9999 only, so it is always 10 bytes.
constexpr std::int64_t kMinMs = -62167219200000;  // 0000-01-01T00:00:00Z
constexpr std::int64_t kMaxMs = 253402214399999;  // 9999-12-30T23:59:59.999Z (a day of slack)

bool isControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not one.
std::size_t utf8Length(std::string_view s, std::size_t i) {
  const auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = at(i);
  std::size_t len;
  unsigned char lo = 0x80, hi = 0xbf;  // allowed range of the second byte
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    if (c == 0xe0) lo = 0xa0;  // overlong
    if (c == 0xed) hi = 0x9f;  // surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    if (c == 0xf0) lo = 0x90;  // overlong
    if (c == 0xf4) hi = 0x8f;  // above U+10FFFF
  } else {
    return 0;
  }
  if (s.size() - i < len) return 0;
  if (at(i + 1) < lo || at(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    if ((at(i + k) & 0xc0) != 0x80) return 0;
  }
  return len;
}

bool validPointer(std::string_view p) {
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (isControl(static_cast<unsigned char>(p[i]))) return false;
    if (p[i] == '~' && (i + 1 >= p.size() || (p[i + 1] != '0' && p[i + 1] != '1'))) return false;
  }
  return true;
}

void appendTwo(std::string& out, std::uint32_t v) {
  out += static_cast<char>('0' + v / 10 % 10);
  out += static_cast<char>('0' + v % 10);
}

}  // namespace

void sanitizeComponent(std::string_view value, std::size_t max_bytes, std::string& out) {
  if (value.empty()) {
    out += kUnknown;
    return;
  }
  if (value == "." || value == "..") {
    out += '_';
    return;
  }
  const std::size_t start = out.size();
  std::size_t i = 0;
  while (i < value.size()) {
    const std::size_t room = max_bytes - (out.size() - start);
    const auto c = static_cast<unsigned char>(value[i]);
    if (c < 0x80) {
      if (room < 1) break;
      const bool bad = isControl(c) || c == '/' || c == '\\' || (c == '.' && out.size() == start);
      out += bad ? '_' : static_cast<char>(c);
      ++i;
      continue;
    }
    const std::size_t len = utf8Length(value, i);
    // Invalid bytes and C1 controls (U+0080-U+009F, encoded C2 80-9F) become one '_'.
    if (len == 0 || (len == 2 && c == 0xc2 && static_cast<unsigned char>(value[i + 1]) < 0xa0)) {
      if (room < 1) break;
      out += '_';
      i += len == 0 ? 1 : len;
      continue;
    }
    if (room < len) break;
    out.append(value.data() + i, len);
    i += len;
  }
}

tl::expected<PathTemplate, std::string> PathTemplate::parse(std::string_view text, TimeZone zone) {
  const auto fail = [&](std::string why) {
    return tl::unexpected(fmt::format("path template '{}': {}", text, why));
  };
  if (text.empty()) return fail("empty");
  if (text.front() == '/') {
    return fail("absolute; it is relative to the sink's dir (drop the leading '/')");
  }

  PathTemplate t;
  t.text_ = std::string(text);
  t.zone_ = std::move(zone);
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == '{') {
      const std::size_t close = text.find_first_of("{}", i + 1);
      if (close == std::string_view::npos || text[close] == '{') {
        return fail(fmt::format("unbalanced '{{' at byte {} (no matching '}}')", i));
      }
      const std::string_view name = text.substr(i + 1, close - i - 1);
      Part part{Kind::kLiteral, {}, 0, 0};
      if (name == "date") {
        part.kind = Kind::kDate;
        t.uses_time_ = true;
      } else if (name == "hour") {
        part.kind = Kind::kHour;
        t.uses_time_ = true;
      } else if (name == "source") {
        part.kind = Kind::kSource;
      } else if (name == "host") {
        part.kind = Kind::kHost;
      } else if (name == "level") {
        part.kind = Kind::kLevel;
      } else if (name == "category") {
        part.kind = Kind::kCategory;
      } else if (!name.empty() && name.front() == '/') {
        if (!validPointer(name)) {
          return fail(
              fmt::format("placeholder '{{{}}}' is not a JSON pointer ('~' must be "
                          "followed by 0 or 1, no control characters)",
                          name));
        }
        part.kind = Kind::kPointer;
        auto it = std::find(t.pointers_.begin(), t.pointers_.end(), name);
        part.pointer = static_cast<std::size_t>(it - t.pointers_.begin());
        if (it == t.pointers_.end()) t.pointers_.emplace_back(name);
      } else {
        return fail(fmt::format("unknown placeholder '{{{}}}' (use {})", name, kKnown));
      }
      t.parts_.push_back(std::move(part));
      i = close + 1;
      continue;
    }
    if (c == '}') return fail(fmt::format("unbalanced '}}' at byte {} (no '{{' before it)", i));
    if (c == '/') {
      t.parts_.push_back({Kind::kSlash, {}, 0, 0});
      ++i;
      continue;
    }
    if (c == '\\' || isControl(static_cast<unsigned char>(c))) {
      return fail(fmt::format("byte {} is '\\' or a control character", i));
    }
    if (t.parts_.empty() || t.parts_.back().kind != Kind::kLiteral) {
      t.parts_.push_back({Kind::kLiteral, {}, 0, 0});
    }
    t.parts_.back().literal += c;
    ++i;
  }

  // Per segment: not empty, not "." or "..", and short enough that the rendered name fits
  // in 255 bytes with every value at its budget.
  std::size_t seg_begin = 0;
  for (std::size_t k = 0; k <= t.parts_.size(); ++k) {
    if (k < t.parts_.size() && t.parts_[k].kind != Kind::kSlash) continue;
    std::size_t fixed = 0, values = 0;
    std::string literal_only;
    bool only_literal = true;
    for (std::size_t j = seg_begin; j < k; ++j) {
      const Part& p = t.parts_[j];
      switch (p.kind) {
        case Kind::kLiteral:
          fixed += p.literal.size();
          literal_only += p.literal;
          break;
        case Kind::kDate:
          fixed += 10;
          only_literal = false;
          break;
        case Kind::kHour:
          fixed += 2;
          only_literal = false;
          break;
        default:
          ++values;
          only_literal = false;
          break;
      }
    }
    if (k == seg_begin) {
      return fail(k == t.parts_.size() ? "ends with '/' (it must name a file)"
                                       : "has an empty segment ('//')");
    }
    if (only_literal && (literal_only == "." || literal_only == "..")) {
      return fail(fmt::format("has a '{}' segment", literal_only));
    }
    if (fixed > kMaxNameBytes) {
      return fail(fmt::format("a segment is longer than {} bytes", kMaxNameBytes));
    }
    if (values > 0) {
      const std::size_t budget = std::min(kMaxValueBytes, (kMaxNameBytes - fixed) / values);
      if (budget < kUnknown.size()) {
        return fail("a segment has too many placeholders to fit a 255-byte file name");
      }
      for (std::size_t j = seg_begin; j < k; ++j) t.parts_[j].max_bytes = budget;
    }
    seg_begin = k + 1;
  }
  return t;
}

void PathTemplate::render(const Values& values, std::string& out) const {
  out.clear();
  CivilHour when{};
  if (uses_time_) {
    const std::int64_t ms = std::clamp(values.ts_ms.value_or(values.now_ms), kMinMs, kMaxMs);
    when = zone_.civil(ms);
  }
  for (const Part& p : parts_) {
    switch (p.kind) {
      case Kind::kLiteral:
        out += p.literal;
        break;
      case Kind::kSlash:
        out += '/';
        break;
      case Kind::kDate: {
        const auto y = static_cast<std::uint32_t>(std::clamp(when.year, 0, 9999));
        appendTwo(out, y / 100);
        appendTwo(out, y % 100);
        out += '-';
        appendTwo(out, when.month);
        out += '-';
        appendTwo(out, when.day);
        break;
      }
      case Kind::kHour:
        appendTwo(out, when.hour);
        break;
      case Kind::kSource:
        sanitizeComponent(values.source, p.max_bytes, out);
        break;
      case Kind::kHost:
        sanitizeComponent(values.host, p.max_bytes, out);
        break;
      case Kind::kLevel:
        sanitizeComponent(values.level, p.max_bytes, out);
        break;
      case Kind::kCategory:
        sanitizeComponent(values.category, p.max_bytes, out);
        break;
      case Kind::kPointer: {
        std::string_view v;
        if (p.pointer < values.pointers.size() && values.pointers[p.pointer]) {
          v = *values.pointers[p.pointer];
        }
        sanitizeComponent(v, p.max_bytes, out);
        break;
      }
    }
  }
}

}  // namespace sqtail::sink
