// One simdjson on-demand pass per line: validate the line and capture the mapped fields.
// Called only from the thread that owns the Extractor (the tail thread).
//
// What a line must satisfy to be accepted, and what is NOT checked:
//  - No NUL byte (memchr before simdjson), valid UTF-8 over the whole line (simdjson stage 1),
//    every string closed and free of unescaped control characters (stage 1).
//  - The root is an object whose last token is '}', and our single walk over its fields
//    completes and ends exactly at the end of the line (no trailing content).
//  - Every key on the walked levels is unescaped, so bad escapes there are caught. Scalars on a
//    mapped path are parsed (strings unescaped, numbers and atoms checked). An object or array
//    that is still a candidate for the raw-JSON message when reached is parsed in full, down to
//    kMaxValidateDepth, so a stored raw message is always valid JSON.
//  - NOT checked: the contents of fields we skip. On-demand skips a value by counting brackets,
//    so `{"other": tru}`, `{"other": 01}`, `{"other": "\q"}` or `{"other": [1 2]}` are accepted
//    as long as the brackets balance ('[' may even be closed by '}'). Such lines are stored
//    like any other (raw kept verbatim); fully validating them would mean parsing every byte
//    of every line instead of skipping, which we do not pay for.
//
// Duplicate keys: the first occurrence with a usable value wins (on-demand cannot look ahead,
// and "first present wins" is already the rule across pointers). A value is usable when it can
// fill the target: null never is; for ts, an unparseable timestamp is not; for level and
// category, objects and arrays are not. An unusable value lets the next pointer in the list win.
//
// Lifetimes: strings are unescaped by simdjson into the parser's string buffer, which the
// Extractor owns and which is only rewritten by the next iterate(); raw JSON text (numbers,
// objects for message) is copied into per-target strings. So every view in Fields stays valid
// until the next extract(), independent of the caller's line buffer.
#include "parse/extractor.hpp"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

namespace sqtail::parse {

static_assert(kPadding == simdjson::SIMDJSON_PADDING, "kPadding must match simdjson's padding");

namespace {

namespace od = simdjson::ondemand;
using simdjson::error_code;

enum Target : std::uint8_t { kTs, kLevel, kCategory, kMessage };
constexpr std::size_t kTargetCount = 4;
constexpr std::uint16_t kUnset = std::numeric_limits<std::uint16_t>::max();
constexpr std::uint32_t kNoNode = std::numeric_limits<std::uint32_t>::max();
// Grown geometrically so that a run of ever-longer lines does not reallocate each time.
constexpr std::size_t kInitialCapacity = std::size_t{64} * 1024;

// Beyond this, validating a message's raw JSON gives up (simdjson's DOM stops at 1024 too)
// rather than recursing without bound on "[[[[...".
constexpr int kMaxValidateDepth = 1024;

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// RFC 8259 number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool isJsonNumber(std::string_view text) {
  std::size_t pos = 0;
  const auto digits = [&] {
    const std::size_t start = pos;
    while (pos < text.size() && isDigit(text[pos])) ++pos;
    return pos - start;
  };
  if (pos < text.size() && text[pos] == '-') ++pos;
  if (pos < text.size() && text[pos] == '0') {
    ++pos;
  } else if (digits() == 0) {
    return false;
  }
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    if (digits() == 0) return false;
  }
  if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
    ++pos;
    if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) ++pos;
    if (digits() == 0) return false;
  }
  return pos == text.size();
}

std::string_view trimRight(std::string_view text) {
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\n' ||
                           text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

// RFC 6901: "" is the whole document (not a field, so unsupported here), otherwise
// '/'-separated reference tokens with "~1" for '/' and "~0" for '~'.
std::optional<std::vector<std::string>> splitPointer(std::string_view pointer) {
  if (pointer.empty() || pointer.front() != '/') return std::nullopt;
  std::vector<std::string> tokens;
  std::string token;
  for (std::size_t i = 1; i <= pointer.size(); ++i) {
    if (i == pointer.size() || pointer[i] == '/') {
      tokens.push_back(std::move(token));
      token.clear();
      continue;
    }
    if (pointer[i] == '~') {
      if (i + 1 >= pointer.size()) return std::nullopt;
      const char escaped = pointer[++i];
      if (escaped == '0') {
        token.push_back('~');
      } else if (escaped == '1') {
        token.push_back('/');
      } else {
        return std::nullopt;
      }
      continue;
    }
    token.push_back(pointer[i]);
  }
  return tokens;
}

// Exact conversion for "[-]digits[.digits]" (both JSON numbers and numeric strings), so that
// 1732269600.123 gives ...123 and not ...122 as a double product would. nullopt when the text
// has another shape (exponent) or the integer part does not fit in int64.
std::optional<std::int64_t> epochDecimalToMillis(std::string_view text) {
  bool negative = false;
  if (!text.empty() && text.front() == '-') {
    negative = true;
    text.remove_prefix(1);
  }
  const std::size_t dot = text.find('.');
  const std::string_view int_part = text.substr(0, dot);
  const std::string_view frac_part =
      dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
  if (int_part.empty() || !std::all_of(int_part.begin(), int_part.end(), isDigit)) {
    return std::nullopt;
  }
  if (dot != std::string_view::npos &&
      (frac_part.empty() || !std::all_of(frac_part.begin(), frac_part.end(), isDigit))) {
    return std::nullopt;
  }
  std::int64_t whole = 0;
  const auto [end, ec] = std::from_chars(int_part.data(), int_part.data() + int_part.size(), whole);
  if (ec != std::errc{} || end != int_part.data() + int_part.size()) return std::nullopt;

  // Value in units of 10^-9 of the unit implied by the magnitude; only the first 9 fraction
  // digits can matter for milliseconds at any of the four scales.
  std::int64_t frac_nanos = 0;
  for (std::size_t i = 0; i < 9; ++i) {
    frac_nanos = frac_nanos * 10 + (i < frac_part.size() ? frac_part[i] - '0' : 0);
  }
  const bool has_remainder =
      frac_part.size() > 9 && frac_part.find_first_not_of('0', 9) != std::string_view::npos;

  std::int64_t ms = 0;
  std::int64_t sub_ms = 0;  // anything below a millisecond, to floor negative values correctly
  if (whole < 100'000'000'000) {  // seconds
    ms = whole * 1000 + frac_nanos / 1'000'000;
    sub_ms = frac_nanos % 1'000'000;
  } else if (whole < 100'000'000'000'000) {  // milliseconds
    ms = whole;
    sub_ms = frac_nanos;
  } else if (whole < 100'000'000'000'000'000) {  // microseconds
    ms = whole / 1000;
    sub_ms = whole % 1000 + frac_nanos;
  } else {  // nanoseconds
    ms = whole / 1'000'000;
    sub_ms = whole % 1'000'000 + frac_nanos;
  }
  if (!negative) return ms;
  return -ms - ((sub_ms != 0 || has_remainder) ? 1 : 0);
}

// Lowercase ASCII in place; UTF-8 bytes above 0x7f are left alone.
void asciiLower(std::string& text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
}

int daysInMonth(int year, int month) {
  static constexpr std::array<int, 12> kDays{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[static_cast<std::size_t>(month - 1)];
}

// Howard Hinnant's days_from_civil: proleptic Gregorian date to days since 1970-01-01.
std::int64_t daysFromCivil(std::int64_t year, unsigned month, unsigned day) {
  year -= month <= 2 ? 1 : 0;
  const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
  const auto yoe = static_cast<unsigned>(year - era * 400);
  const unsigned doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// Keys are a few bytes long: an inline loop beats a call to memcmp.
bool sameBytes(const char* a, std::string_view b) {
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

// Two ASCII digits at `at` as a number, or -1. Callers check the length first: timestamps sit
// at fixed offsets, so one bounds check covers the whole layout.
int twoDigits(const char* at) {
  const unsigned tens = static_cast<unsigned char>(at[0]) - unsigned{'0'};
  const unsigned ones = static_cast<unsigned char>(at[1]) - unsigned{'0'};
  return tens > 9 || ones > 9 ? -1 : static_cast<int>(tens * 10 + ones);
}

}  // namespace

std::string_view reasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kInvalidJson:
      return "invalid_json";
    case RejectReason::kNotObject:
      return "not_object";
    case RejectReason::kInvalidUtf8:
      return "invalid_utf8";
    case RejectReason::kNulByte:
      return "nul_byte";
    case RejectReason::kLineTooLong:
      return "line_too_long";
  }
  return "unknown";
}

bool isFieldPointer(std::string_view pointer) { return splitPointer(pointer).has_value(); }

std::optional<std::int64_t> parseRfc3339(std::string_view text) {
  // YYYY-MM-DD
  if (text.size() < 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  const char* const p = text.data();
  const int century = twoDigits(p);
  const int year_of_century = twoDigits(p + 2);
  const int month = twoDigits(p + 5);
  const int day = twoDigits(p + 8);
  if (century < 0 || year_of_century < 0 || month < 1 || month > 12 || day < 1) {
    return std::nullopt;
  }
  const int year = century * 100 + year_of_century;
  if (day > daysInMonth(year, month)) return std::nullopt;
  const std::int64_t days =
      daysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  if (text.size() == 10) return days * 86'400'000;

  // [Tt ]HH:MM:SS
  if (text.size() < 20 || (p[10] != 'T' && p[10] != 't' && p[10] != ' ') || p[13] != ':' ||
      p[16] != ':') {
    return std::nullopt;
  }
  const int hour = twoDigits(p + 11);
  const int minute = twoDigits(p + 14);
  const int second = twoDigits(p + 17);
  // 60 is a leap second; it lands on the next minute's :00, which is what POSIX time does.
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60) {
    return std::nullopt;
  }

  // [.fraction] of any length, truncated to milliseconds
  std::size_t pos = 19;
  int millis = 0;
  if (text[pos] == '.') {
    const std::size_t start = ++pos;
    while (pos < text.size() && isDigit(text[pos])) {
      if (pos - start < 3) millis = millis * 10 + (text[pos] - '0');
      ++pos;
    }
    const std::size_t digits = pos - start;
    if (digits == 0) return std::nullopt;
    for (std::size_t i = digits; i < 3; ++i) millis *= 10;
    if (pos == text.size()) return std::nullopt;  // RFC 3339 requires an offset
  }

  // Z | z | +HH:MM | +HHMM | +HH (and '-')
  int offset_minutes = 0;
  const char zone = text[pos++];
  const std::size_t rest = text.size() - pos;
  if (zone == 'Z' || zone == 'z') {
    if (rest != 0) return std::nullopt;
  } else if (zone == '+' || zone == '-') {
    int offset_hours = -1;
    int offset_mins = 0;
    if (rest == 2 || rest == 4 || (rest == 5 && p[pos + 2] == ':')) {
      offset_hours = twoDigits(p + pos);
      if (rest > 2) offset_mins = twoDigits(p + pos + rest - 2);
    }
    if (offset_hours < 0 || offset_hours > 23 || offset_mins < 0 || offset_mins > 59) {
      return std::nullopt;
    }
    offset_minutes = (offset_hours * 60 + offset_mins) * (zone == '-' ? -1 : 1);
  } else {
    return std::nullopt;
  }

  const std::int64_t seconds = days * 86'400 + std::int64_t{hour} * 3600 +
                               std::int64_t{minute} * 60 + second -
                               std::int64_t{offset_minutes} * 60;
  return seconds * 1000 + millis;
}

std::int64_t epochNumberToMillis(double value) {
  // Saturate rather than invoke undefined behaviour on values no clock produces.
  constexpr double kMax = 9.2e18;
  if (std::isnan(value)) return 0;
  const double magnitude = std::fabs(value);
  double ms = 0;
  // Round to whole microseconds first so that 1732269600.123 (stored as ...122.99990) still
  // gives ...123: doubles carry about 16 digits, enough for microseconds at these magnitudes.
  if (magnitude < 1e11) {
    ms = std::floor(std::nearbyint(value * 1e6) / 1e3);
  } else if (magnitude < 1e14) {
    ms = std::floor(std::nearbyint(value * 1e3) / 1e3);
  } else if (magnitude < 1e17) {
    ms = std::floor(std::nearbyint(value) / 1e3);
  } else {
    ms = std::floor(value / 1e6);
  }
  if (ms >= kMax) return std::numeric_limits<std::int64_t>::max();
  if (ms <= -kMax) return std::numeric_limits<std::int64_t>::min();
  return static_cast<std::int64_t>(ms);
}

std::string_view normalizeLevel(std::string_view level, std::string& out) {
  out.assign(level);
  asciiLower(out);
  if (out == "warning") {
    out = "warn";
  } else if (out == "err") {
    out = "error";
  }
  return out;
}

std::optional<std::string_view> numericLevel(std::int64_t value) {
  switch (value) {
    case 10:
      return "trace";
    case 20:
      return "debug";
    case 30:
      return "info";
    case 40:
      return "warn";
    case 50:
      return "error";
    case 60:
      return "fatal";
    default:
      return std::nullopt;
  }
}

struct Extractor::Impl {
  // A trie of pointer reference tokens. Every field of every walked object is looked up here,
  // so the scan is kept cheap: a 64-bit signature of (length, first byte) turns away nearly
  // every unmapped key at once, and the rest is a short scan of packed entries.
  struct Child {
    std::uint32_t size;
    std::uint32_t node;
  };
  struct Node {
    std::string key;
    std::vector<Child> children;
    std::uint64_t signatures = 0;
    // Index of this pointer in each target's list, kUnset when it is no leaf for the target.
    std::array<std::uint16_t, kTargetCount> priority{kUnset, kUnset, kUnset, kUnset};
  };

  static std::uint64_t signature(std::string_view key) {
    const unsigned first = key.empty() ? 0 : static_cast<unsigned char>(key.front());
    return std::uint64_t{1} << ((key.size() * 7 + first) & 63);
  }

  explicit Impl(const config::FieldMap& map) {
    nodes_.emplace_back();  // the root object
    addPointers(map.ts, kTs);
    addPointers(map.level, kLevel);
    addPointers(map.category, kCategory);
    addPointers(map.message, kMessage);
    // On failure iterate() allocates again and reports it per line.
    [[maybe_unused]] const error_code preallocated = parser_.allocate(kInitialCapacity);
  }

  void addPointers(const std::vector<std::string>& pointers, Target target) {
    const std::size_t count = std::min<std::size_t>(pointers.size(), kUnset);
    for (std::size_t index = 0; index < count; ++index) {
      const auto tokens = splitPointer(pointers[index]);
      if (!tokens) continue;  // see isFieldPointer(): the caller refuses these at start-up
      std::uint32_t node = 0;
      for (const std::string& token : *tokens) {
        std::uint32_t child = findChild(node, token);
        if (child == kNoNode) {
          child = static_cast<std::uint32_t>(nodes_.size());
          nodes_.push_back(Node{token, {}, 0, {kUnset, kUnset, kUnset, kUnset}});
          nodes_[node].children.push_back(Child{static_cast<std::uint32_t>(token.size()), child});
          nodes_[node].signatures |= signature(token);
        }
        node = child;
      }
      auto& priority = nodes_[node].priority[target];
      priority = std::min(priority, static_cast<std::uint16_t>(index));
    }
  }

  std::uint32_t findChild(std::uint32_t node_index, std::string_view key) const {
    const Node& node = nodes_[node_index];
    if ((node.signatures & signature(key)) == 0) return kNoNode;
    for (const Child& child : node.children) {
      if (child.size == key.size() && sameBytes(nodes_[child.node].key.data(), key)) {
        return child.node;
      }
    }
    return kNoNode;
  }

  tl::expected<Fields, RejectReason> extract(std::string_view line) {
    if (line.empty()) return tl::unexpected(RejectReason::kInvalidJson);
    if (std::memchr(line.data(), '\0', line.size()) != nullptr) {
      return tl::unexpected(RejectReason::kNulByte);
    }
    // The '\r' becomes part of the padding, whose content simdjson ignores.
    const std::size_t padded = line.size() + kPadding;
    if (line.back() == '\r') line.remove_suffix(1);

    if (line.size() > parser_.capacity()) {
      const std::size_t grown = std::max(line.size(), parser_.capacity() * 2);
      if (parser_.allocate(grown) != simdjson::SUCCESS) {
        return tl::unexpected(RejectReason::kInvalidJson);
      }
    }

    fields_ = Fields{};
    best_.fill(kUnset);
    od::document doc;
    if (const error_code error = parser_.iterate(line.data(), line.size(), padded).get(doc)) {
      return tl::unexpected(reject(error));
    }
    od::json_type type{};
    if (const error_code error = doc.type().get(type)) return tl::unexpected(reject(error));
    if (type != od::json_type::object) return tl::unexpected(rejectNonObject(doc, type));

    od::object root;
    if (const error_code error = doc.get_object().get(root)) return tl::unexpected(reject(error));
    if (const error_code error = walkObject(root, 0, false, 1)) {
      return tl::unexpected(reject(error));
    }
    if (!atEnd(doc)) return tl::unexpected(RejectReason::kInvalidJson);
    return fields_;
  }

  // simdjson 3.0.1's document has no at_end(); current_location() reports OUT_OF_BOUNDS
  // exactly when every token was consumed (and a location when tokens are left over or when
  // the iterator went past the end, which is how trailing content and a '}' read from the
  // padding show up).
  static bool atEnd(od::document& doc) {
    return doc.current_location().error() == simdjson::OUT_OF_BOUNDS;
  }

  static RejectReason reject(error_code error) {
    return error == simdjson::UTF8_ERROR ? RejectReason::kInvalidUtf8 : RejectReason::kInvalidJson;
  }

  // "[1" is broken JSON rather than a valid non-object, so consume the value before deciding.
  static RejectReason rejectNonObject(od::document& doc, od::json_type type) {
    error_code error = simdjson::SUCCESS;
    switch (type) {
      case od::json_type::array: {
        od::array array;
        error = doc.get_array().get(array);
        if (!error) error = array.raw_json().error();
        break;
      }
      case od::json_type::string:
        error = doc.get_string().error();
        break;
      case od::json_type::number:
        error = doc.get_double().error();
        break;
      case od::json_type::boolean:
        error = doc.get_bool().error();
        break;
      case od::json_type::null:
        error = doc.is_null().error();
        break;
      case od::json_type::object:
        break;
    }
    if (error) return reject(error);
    return atEnd(doc) ? RejectReason::kNotObject : RejectReason::kInvalidJson;
  }

  // `validate`: we are inside a value whose raw JSON becomes the message, so unmapped fields
  // are parsed too instead of skipped; elsewhere skipping is what makes one pass cheap.
  error_code walkObject(od::object& object, std::uint32_t node, bool validate, int depth) {
    for (auto field_result : object) {
      od::field field;
      if (const error_code error = std::move(field_result).get(field)) return error;
      std::string_view key;
      if (const error_code error = fieldKey(field, key)) return error;
      if (isBadValueStart(field.value())) return simdjson::TAPE_ERROR;
      const std::uint32_t child = findChild(node, key);
      error_code error = simdjson::SUCCESS;
      if (child != kNoNode) {
        error = visit(field.value(), child, validate, depth + 1);
      } else if (validate) {
        error = validateValue(field.value(), depth + 1);
      }  // else the iterator skips the unread value
      if (error) return error;
    }
    return simdjson::SUCCESS;
  }

  // On-demand skips an unread value with skip_child(), which trusts the value's first token: a
  // string followed by ':' is taken for a key, and ':', ',', '}' or ']' are stepped over, after
  // which it swallows one closing bracket too many. `{"a":"b":1}}` or `{"a"::[1]}` would then be
  // accepted, unless the first padding byte happens to be '}' (only then does simdjson count
  // the brackets). Refusing such a first token keeps the outcome independent of the padding.
  // The raw token runs up to the next token, so the byte after it is the next token's first.
  static bool isBadValueStart(od::value& value) {
    const std::string_view token = value.raw_json_token();
    switch (token.front()) {
      case '"':
        return token.data()[token.size()] == ':';
      case ':':
      case ',':
      case '}':
      case ']':
        return true;
      default:
        return false;  // anything else is skipped (or parsed) as one value, as it should be
    }
  }

  // Most keys have no escapes: compare them in place instead of unescaping each one (a copy
  // through simdjson's string parser). A key with a backslash is unescaped, which also
  // validates its escapes, so "\u006dessage" still matches /message. Without a backslash there
  // is nothing left to validate: stage 1 already checked UTF-8, control characters and the
  // closing quote, which is why this scan cannot run past the key.
  static error_code fieldKey(od::field& field, std::string_view& key) {
    const char* const start = field.key().raw();
    const char* end = start;
    while (*end != '"' && *end != '\\') ++end;
    if (*end == '"') {
      key = std::string_view(start, static_cast<std::size_t>(end - start));
      return simdjson::SUCCESS;
    }
    return field.unescaped_key().get(key);
  }

  // Consumes a value, parsing every scalar in it; on-demand's own skipping only counts brackets.
  static error_code validateValue(od::value value, int depth) {
    if (depth > kMaxValidateDepth) return simdjson::DEPTH_ERROR;
    od::json_type type{};
    if (const error_code error = value.type().get(type)) return error;
    switch (type) {
      case od::json_type::object: {
        od::object object;
        if (const error_code error = value.get_object().get(object)) return error;
        for (auto field_result : object) {
          od::field field;
          if (const error_code error = std::move(field_result).get(field)) return error;
          std::string_view key;
          if (const error_code error = fieldKey(field, key)) return error;
          if (const error_code error = validateValue(field.value(), depth + 1)) return error;
        }
        return simdjson::SUCCESS;
      }
      case od::json_type::array: {
        od::array array;
        if (const error_code error = value.get_array().get(array)) return error;
        for (auto element : array) {
          od::value item;
          // get() is &&-qualified, hence the move of a trivially copyable result.
          if (const error_code error = std::move(element).get(item)) return error;
          if (const error_code error = validateValue(item, depth + 1)) return error;
        }
        return simdjson::SUCCESS;
      }
      case od::json_type::string:
        return value.get_string().error();
      case od::json_type::number:
        return validateNumber(value);
      case od::json_type::boolean:
        return value.get_bool().error();
      case od::json_type::null:
        return value.is_null().error();
    }
    return simdjson::INCORRECT_TYPE;
  }

  // simdjson refuses numbers it cannot represent (integers beyond 64 bits, 1e400) that are
  // still JSON; those are accepted with `number` left empty.
  static error_code parseNumber(od::value& value, std::optional<od::number>& number) {
    od::number parsed;
    const error_code error = value.get_number().get(parsed);
    if (!error) {
      number = parsed;
      return simdjson::SUCCESS;
    }
    if (error == simdjson::NUMBER_ERROR && isJsonNumber(trimRight(value.raw_json_token()))) {
      return simdjson::SUCCESS;
    }
    return error;
  }

  static error_code validateNumber(od::value& value) {
    std::optional<od::number> unused;
    return parseNumber(value, unused);
  }

  bool wants(const Node& node, Target target) const {
    return node.priority[target] < best_[target];
  }

  void capture(const Node& node, Target target) { best_[target] = node.priority[target]; }

  // Copies into the target's own storage: the view must outlive the caller's line buffer.
  std::string_view keep(Target target, std::string_view text) {
    std::string& storage = storage_[target];
    storage.assign(text);
    return storage;
  }

  error_code visit(od::value value, std::uint32_t node_index, bool validate, int depth) {
    const Node& node = nodes_[node_index];
    bool any = false;
    for (std::size_t t = 0; t < kTargetCount; ++t) any = any || wants(node, Target(t));
    if (!any && node.children.empty()) {
      return validate ? validateValue(value, depth) : simdjson::SUCCESS;
    }

    od::json_type type{};
    if (const error_code error = value.type().get(type)) return error;
    switch (type) {
      case od::json_type::object:
        return visitObject(value, node_index, validate, depth);
      case od::json_type::array:
        if (!wants(node, kMessage)) {
          return validate ? validateValue(value, depth) : simdjson::SUCCESS;
        }
        return captureRawMessage(value, node, depth);
      case od::json_type::string: {
        std::string_view text;
        if (const error_code error = value.get_string().get(text)) return error;
        applyString(node, text);
        return simdjson::SUCCESS;
      }
      case od::json_type::number:
        return visitNumber(value, node);
      case od::json_type::boolean: {
        bool flag = false;
        if (const error_code error = value.get_bool().get(flag)) return error;
        const std::string_view text = flag ? "true" : "false";
        for (const Target target : {kCategory, kMessage}) {
          if (!wants(node, target)) continue;
          (target == kCategory ? fields_.category : fields_.message) = text;
          capture(node, target);
        }
        return simdjson::SUCCESS;
      }
      case od::json_type::null:
        // Null is "no value": leave the target to a later pointer, but still check the atom.
        return value.is_null().error();
    }
    return simdjson::SUCCESS;
  }

  // The raw text runs from the value's first token to the token after it, less whitespace.
  error_code captureRawMessage(od::value& value, const Node& node, int depth) {
    const char* start = value.raw_json_token().data();
    if (const error_code error = validateValue(value, depth)) return error;
    const char* end = nullptr;
    if (const error_code error = value.current_location().get(end)) return error;
    fields_.message = keep(kMessage, trimRight(std::string_view(start, end - start)));
    capture(node, kMessage);
    return simdjson::SUCCESS;
  }

  error_code visitObject(od::value& value, std::uint32_t node_index, bool validate, int depth) {
    const bool want_raw = wants(nodes_[node_index], kMessage);
    if (nodes_[node_index].children.empty()) {
      if (want_raw) return captureRawMessage(value, nodes_[node_index], depth);
      return validate ? validateValue(value, depth) : simdjson::SUCCESS;
    }
    // Both a message leaf and a prefix of deeper pointers ("/message" and "/message/text"):
    // descend, validating everything since the whole object may become the message.
    const char* start = value.raw_json_token().data();
    od::object object;
    if (const error_code error = value.get_object().get(object)) return error;
    if (const error_code error = walkObject(object, node_index, validate || want_raw, depth)) {
      return error;
    }
    // Re-check: a deeper pointer for message may have won while we were inside.
    if (want_raw && wants(nodes_[node_index], kMessage)) {
      const char* end = nullptr;
      if (const error_code error = value.current_location().get(end)) return error;
      fields_.message = keep(kMessage, trimRight(std::string_view(start, end - start)));
      capture(nodes_[node_index], kMessage);
    }
    return simdjson::SUCCESS;
  }

  void applyString(const Node& node, std::string_view text) {
    if (wants(node, kTs)) {
      std::optional<std::int64_t> ts = parseRfc3339(text);
      if (!ts && !text.empty() && text.front() != '-') ts = epochDecimalToMillis(text);
      if (ts) {
        fields_.ts_ms = ts;
        capture(node, kTs);
      }
    }
    if (wants(node, kLevel)) {
      fields_.level = normalizeLevel(text, storage_[kLevel]);
      capture(node, kLevel);
    }
    // Unescaped strings live in the parser's buffer until the next iterate(): no copy.
    if (wants(node, kCategory)) {
      fields_.category = text;
      capture(node, kCategory);
    }
    if (wants(node, kMessage)) {
      fields_.message = text;
      capture(node, kMessage);
    }
  }

  error_code visitNumber(od::value& value, const Node& node) {
    const std::string_view text = trimRight(value.raw_json_token());
    std::optional<od::number> number;
    if (const error_code error = parseNumber(value, number)) return error;

    if (wants(node, kTs)) {
      std::optional<std::int64_t> ts = epochDecimalToMillis(text);
      if (!ts) {
        // Exponent forms and integers too big for int64; beyond ~9.2e18 no clock of any of
        // the four scales reaches, so such a value is not a timestamp.
        const double as_double = number ? number->as_double() : HUGE_VAL;
        if (std::isfinite(as_double) && std::fabs(as_double) < 9.2e18) {
          ts = epochNumberToMillis(as_double);
        }
      }
      if (ts) {
        fields_.ts_ms = ts;
        capture(node, kTs);
      }
    }
    if (wants(node, kLevel)) {
      std::optional<std::string_view> name;
      if (number && number->is_int64()) name = numericLevel(number->get_int64());
      fields_.level = name ? *name : keep(kLevel, text);
      capture(node, kLevel);
    }
    if (wants(node, kCategory)) {
      fields_.category = keep(kCategory, text);
      capture(node, kCategory);
    }
    if (wants(node, kMessage)) {
      fields_.message = keep(kMessage, text);
      capture(node, kMessage);
    }
    return simdjson::SUCCESS;
  }

  std::vector<Node> nodes_;
  od::parser parser_;
  Fields fields_;
  std::array<std::uint16_t, kTargetCount> best_{};
  std::array<std::string, kTargetCount> storage_;
};

Extractor::Extractor(const config::FieldMap& map) : impl_(std::make_unique<Impl>(map)) {}
Extractor::~Extractor() = default;

tl::expected<Fields, RejectReason> Extractor::extract(std::string_view line) {
  return impl_->extract(line);
}

}  // namespace sqtail::parse
