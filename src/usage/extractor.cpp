// Claude Code transcript lines to usage entries: one simdjson on-demand pass over the fields
// that matter. Extractor: only from the thread that owns it (the tail thread).
//
// The rules are ccusage 20.0.x's (`ccusage claude daily`), as measured on its binary with
// scripts/compare-ccusage (its native reader is stricter than the JSON.parse-based one before
// it). A line is read as ccusage deserializes it, into one of two shapes:
//  - a record: {timestamp, sessionId?, requestId?, version?, isSidechain?, costUSD?,
//    message: {id?, model?, usage: {input_tokens, output_tokens, cache_creation_input_tokens?,
//    cache_read_input_tokens?, speed?, cache_creation?: {ephemeral_5m_input_tokens?,
//    ephemeral_1h_input_tokens?}}}};
//  - failing that, a relay (a subagent's message copied into its parent's transcript, as
//    type:"progress" lines do, whatever the line's type): {sessionId?, data: {message: R}},
//    where R is a record without sessionId and version. Only the relay's sessionId comes from
//    the outer line; its timestamp, requestId, isSidechain and costUSD are R's own.
// Either shape fails (no entry, or for a record: try the relay) on a field of the wrong type
// (null too, except isSidechain and cache_creation), a token count that is not an integer in
// 0..2^63-1, a speed other than "standard"/"fast", a missing timestamp, message, usage, input or
// output count, or a key of the shape given twice in one object. A shape that deserializes is
// then checked, and refused without fallback: the timestamp must be YYYY-MM-DDTHH:MM:SS, then
// optionally exactly three fraction digits, then Z or ±HH:MM; a version must start with N.N.N;
// id, model, requestId and sessionId must not be "". Fields outside the shape are not read.
// ccusage also skips every line without the bytes `"usage":{` before parsing it.
#include <simdjson.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>

#include "parse/extractor.hpp"
#include "usage/usage.hpp"

namespace sqtail::usage {

static_assert(parse::kPadding == simdjson::SIMDJSON_PADDING);

namespace {

namespace od = simdjson::ondemand;
using simdjson::error_code;

// The keys of the shapes, one bit each (a record's keys, its message's, its usage's and its
// cache_creation's): a second occurrence fails the shape.
enum Key : std::uint32_t {
  kTimestamp = 1u << 0,
  kSessionId = 1u << 1,
  kRequestId = 1u << 2,
  kVersion = 1u << 3,
  kIsSidechain = 1u << 4,
  kCostUsd = 1u << 5,
  kMessage = 1u << 6,
  kId = 1u << 8,
  kModel = 1u << 9,
  kUsage = 1u << 10,
  kInput = 1u << 11,
  kOutput = 1u << 12,
  kCacheCreationTokens = 1u << 13,
  kCacheRead = 1u << 14,
  kSpeed = 1u << 15,
  kCacheCreation = 1u << 16,
  kEphemeral5m = 1u << 17,
  kEphemeral1h = 1u << 18,
};

// One record's fields: the line itself, or data.message of a relay. Views point into the
// parser's string buffer and live until the next iterate().
struct Record {
  std::uint32_t seen = 0;
  bool failed = false;   // does not deserialize as ccusage's shape
  bool refused = false;  // deserializes, then fails ccusage's checks
  bool has_message = false, has_usage = false;
  std::optional<std::int64_t> input, output, cache_creation, cache_read, ephemeral_5m, ephemeral_1h;
  bool has_cache_creation_split = false;
  std::optional<std::string_view> model, id, speed, request_id, timestamp, session_id, version;
  std::optional<double> cost;
  std::optional<bool> sidechain;

  // Marks `key` seen; true when it was already, which fails the shape.
  bool repeated(Key key) {
    const bool again = (seen & key) != 0;
    seen |= key;
    if (again) failed = true;
    return again;
  }
};

// The outer line as a relay: its sessionId and data.message.
struct Relay {
  bool failed = false;
  bool has_data = false, has_data_message = false;
  std::optional<std::string_view> session_id;
  Record inner;
};

constexpr std::size_t kInitialCapacity = 64 * 1024;

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// ccusage's VERSION_PATTERN, /^\d+\.\d+\.\d+/.
bool looksLikeVersion(std::string_view text) {
  std::size_t pos = 0;
  for (int part = 0; part < 3; ++part) {
    if (part > 0) {
      if (pos >= text.size() || text[pos] != '.') return false;
      ++pos;
    }
    const std::size_t start = pos;
    while (pos < text.size() && isDigit(text[pos])) ++pos;
    if (pos == start) return false;
  }
  return true;
}

class Walker {
 public:
  // A string field; any other type (null too) fails the shape.
  static error_code string(od::value value, std::optional<std::string_view>& out, Record& r) {
    od::json_type type{};
    if (const error_code error = value.type().get(type)) return error;
    if (type != od::json_type::string) {
      r.failed = true;
      return simdjson::SUCCESS;
    }
    std::string_view text;
    if (const error_code error = value.get_string().get(text)) return error;
    out = text;
    return simdjson::SUCCESS;
  }

  // A token count: an integer in 0..INT64_MAX, or the shape fails. (ccusage takes up to
  // 2^64-1; the usage table's columns stop at 2^63-1.)
  static error_code count(od::value value, std::optional<std::int64_t>& out, Record& r) {
    od::json_type type{};
    if (const error_code error = value.type().get(type)) return error;
    if (type != od::json_type::number) {
      r.failed = true;
      return simdjson::SUCCESS;
    }
    // As an unsigned integer: -0, -1, 1.5, 1e3 and 1.0 are not one.
    std::uint64_t n = 0;
    if (value.get_uint64().get(n) != simdjson::SUCCESS ||
        n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      r.failed = true;
      return simdjson::SUCCESS;
    }
    out = static_cast<std::int64_t>(n);
    return simdjson::SUCCESS;
  }

  // The value's type, for fields that accept one type (and maybe null).
  static error_code typeOf(od::value& value, od::json_type& type) { return value.type().get(type); }

  // Calls on_field(key, field) for each field of `object`, in order, until one returns an
  // error. A field's value is read at most once (on-demand JSON).
  template <class OnField>
  static error_code eachField(od::object& object, OnField&& on_field) {
    for (auto field_result : object) {
      od::field field;
      if (const error_code error = std::move(field_result).get(field)) return error;
      std::string_view key;
      if (const error_code error = field.unescaped_key().get(key)) return error;
      if (const error_code error = on_field(key, field)) return error;
    }
    return simdjson::SUCCESS;
  }

  static error_code usage(od::object object, Record& r) {
    r.has_usage = true;
    return eachField(object, [&](std::string_view key, od::field& field) -> error_code {
      error_code error = simdjson::SUCCESS;
      if (key == "input_tokens") {
        if (!r.repeated(kInput)) error = count(field.value(), r.input, r);
      } else if (key == "output_tokens") {
        if (!r.repeated(kOutput)) error = count(field.value(), r.output, r);
      } else if (key == "cache_creation_input_tokens") {
        if (!r.repeated(kCacheCreationTokens)) error = count(field.value(), r.cache_creation, r);
      } else if (key == "cache_read_input_tokens") {
        if (!r.repeated(kCacheRead)) error = count(field.value(), r.cache_read, r);
      } else if (key == "speed") {
        if (!r.repeated(kSpeed)) {
          error = string(field.value(), r.speed, r);
          if (!error && r.speed && *r.speed != "standard" && *r.speed != "fast") r.failed = true;
        }
      } else if (key == "cache_creation") {
        if (!r.repeated(kCacheCreation)) error = cacheCreation(field.value(), r);
      }
      return error;
    });
  }

  // usage.cache_creation: the split of cache writes by lifetime; null is none.
  static error_code cacheCreation(od::value value, Record& r) {
    od::json_type type{};
    if (const error_code error = typeOf(value, type)) return error;
    if (type == od::json_type::null) return simdjson::SUCCESS;
    if (type != od::json_type::object) {
      r.failed = true;
      return simdjson::SUCCESS;
    }
    od::object object;
    if (const error_code error = value.get_object().get(object)) return error;
    r.has_cache_creation_split = true;
    return eachField(object, [&](std::string_view key, od::field& field) -> error_code {
      error_code error = simdjson::SUCCESS;
      if (key == "ephemeral_5m_input_tokens") {
        if (!r.repeated(kEphemeral5m)) error = count(field.value(), r.ephemeral_5m, r);
      } else if (key == "ephemeral_1h_input_tokens") {
        if (!r.repeated(kEphemeral1h)) error = count(field.value(), r.ephemeral_1h, r);
      }
      return error;
    });
  }

  static error_code message(od::value value, Record& r) {
    od::json_type type{};
    if (const error_code error = typeOf(value, type)) return error;
    if (type != od::json_type::object) {  // a user's text, null, ...
      r.failed = true;
      return simdjson::SUCCESS;
    }
    r.has_message = true;
    od::object object;
    if (const error_code error = value.get_object().get(object)) return error;
    return eachField(object, [&](std::string_view key, od::field& field) -> error_code {
      error_code error = simdjson::SUCCESS;
      if (key == "usage") {
        if (r.repeated(kUsage)) return simdjson::SUCCESS;
        od::value usage_value = field.value();
        od::json_type usage_type{};
        if ((error = typeOf(usage_value, usage_type))) return error;
        if (usage_type != od::json_type::object) {
          r.failed = true;
          return simdjson::SUCCESS;
        }
        od::object usage_object;
        if ((error = usage_value.get_object().get(usage_object))) return error;
        error = usage(usage_object, r);
      } else if (key == "model") {
        if (!r.repeated(kModel)) error = string(field.value(), r.model, r);
      } else if (key == "id") {
        if (!r.repeated(kId)) error = string(field.value(), r.id, r);
      }
      return error;
    });
  }

  // The fields of a record. `relay`: the outer line, which may also be a relay (its sessionId
  // and data.message go there); null when walking a relay's inner record, which has neither
  // sessionId nor version.
  static error_code record(od::object object, Record& r, Relay* relay) {
    if (const error_code failed =
            eachField(object, [&](std::string_view key, od::field& field) -> error_code {
              error_code error = simdjson::SUCCESS;
              if (key == "message") {
                if (!r.repeated(kMessage)) error = message(field.value(), r);
              } else if (key == "timestamp") {
                if (!r.repeated(kTimestamp)) error = string(field.value(), r.timestamp, r);
              } else if (key == "requestId") {
                if (!r.repeated(kRequestId)) error = string(field.value(), r.request_id, r);
              } else if (key == "isSidechain") {
                if (r.repeated(kIsSidechain)) return simdjson::SUCCESS;
                od::value value = field.value();
                od::json_type type{};
                if ((error = typeOf(value, type))) return error;
                if (type == od::json_type::boolean) {
                  bool flag = false;
                  if ((error = value.get_bool().get(flag))) return error;
                  r.sidechain = flag;
                } else if (type != od::json_type::null) {
                  r.failed = true;
                }
              } else if (key == "costUSD") {
                if (r.repeated(kCostUsd)) return simdjson::SUCCESS;
                od::value value = field.value();
                od::json_type type{};
                if ((error = typeOf(value, type))) return error;
                double number = 0;
                if (type == od::json_type::number &&
                    value.get_double().get(number) == simdjson::SUCCESS) {
                  r.cost = number;
                } else {
                  r.failed = true;
                }
              } else if (relay != nullptr && key == "sessionId") {
                // In both shapes: a bad or repeated one fails both.
                if (r.repeated(kSessionId)) {
                  relay->failed = true;
                  return simdjson::SUCCESS;
                }
                od::value value = field.value();
                od::json_type type{};
                if ((error = typeOf(value, type))) return error;
                if (type != od::json_type::string) {
                  r.failed = relay->failed = true;
                  return simdjson::SUCCESS;
                }
                std::string_view text;
                if ((error = value.get_string().get(text))) return error;
                r.session_id = relay->session_id = text;
              } else if (relay != nullptr && key == "version") {
                if (!r.repeated(kVersion)) error = string(field.value(), r.version, r);
              } else if (relay != nullptr && key == "data") {
                // Not a field of the record shape: only the relay fails on a second one.
                if (relay->has_data) {
                  relay->failed = true;
                  return simdjson::SUCCESS;
                }
                relay->has_data = true;
                error = data(field.value(), *relay);
              }
              return error;
            })) {
      return failed;
    }
    if (!r.timestamp || !r.has_message || !r.has_usage || !r.input || !r.output) r.failed = true;
    return simdjson::SUCCESS;
  }

  static error_code data(od::value value, Relay& relay) {
    od::json_type type{};
    if (const error_code error = typeOf(value, type)) return error;
    if (type != od::json_type::object) {
      relay.failed = true;
      return simdjson::SUCCESS;
    }
    od::object object;
    if (const error_code error = value.get_object().get(object)) return error;
    return eachField(object, [&](std::string_view key, od::field& field) -> error_code {
      if (key != "message") return simdjson::SUCCESS;
      if (relay.has_data_message) {
        relay.failed = true;
        return simdjson::SUCCESS;
      }
      relay.has_data_message = true;
      od::value message_value = field.value();
      od::json_type message_type{};
      if (const error_code error = typeOf(message_value, message_type)) return error;
      if (message_type != od::json_type::object) {
        relay.failed = true;
        return simdjson::SUCCESS;
      }
      od::object message_object;
      if (const error_code error = message_value.get_object().get(message_object)) return error;
      if (const error_code error = record(message_object, relay.inner, nullptr)) return error;
      return simdjson::SUCCESS;
    });
  }
};

// ccusage's timestamp: YYYY-MM-DDTHH:MM:SS, then nothing or exactly ".fff", then Z or
// ±HH:MM; a valid date and time (no leap second). Others are no entry, where
// parse::parseRfc3339 takes any RFC 3339 form.
std::optional<std::int64_t> ccusageTimestamp(std::string_view text) {
  const std::size_t n = text.size();
  if (n != 20 && n != 24 && n != 25 && n != 29) return std::nullopt;
  const bool fraction = n == 24 || n == 29;
  const std::size_t zone = fraction ? 23 : 19;
  for (std::size_t i = 0; i < n; ++i) {
    char want = '0';  // a digit
    if (i == 4 || i == 7) want = '-';
    if (i == 10) want = 'T';
    if (i == 13 || i == 16) want = ':';
    if (fraction && i == 19) want = '.';
    if (i == zone) want = n - zone == 1 ? 'Z' : '+';
    if (n - zone == 6 && i == zone + 3) want = ':';
    const char c = text[i];
    if (want == '0' ? !isDigit(c) : want == '+' ? (c != '+' && c != '-') : c != want) {
      return std::nullopt;
    }
  }
  if (text.substr(17, 2) > "59") return std::nullopt;  // no leap second
  return parse::parseRfc3339(text);
}

// The checks after deserialization: false refuses the entry.
bool passesChecks(const Record& r, std::optional<std::string_view> session_id) {
  auto empty = [](const std::optional<std::string_view>& s) { return s && s->empty(); };
  if (empty(r.id) || empty(r.model) || empty(r.request_id) || empty(session_id)) return false;
  if (r.version && !looksLikeVersion(*r.version)) return false;
  return true;
}

std::string stem(std::string_view file) {
  constexpr std::string_view kExt = ".jsonl";
  if (file.size() > kExt.size() && file.substr(file.size() - kExt.size()) == kExt) {
    file.remove_suffix(kExt.size());
  }
  return std::string(file);
}

}  // namespace

PathParts splitPath(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t slash = path.find('/', start);
    const std::size_t end = slash == std::string_view::npos ? path.size() : slash;
    if (end > start) parts.push_back(path.substr(start, end - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  PathParts out{"unknown", "unknown"};
  if (parts.empty()) return out;
  const std::size_t n = parts.size();
  // The last "projects" with a project directory and a file below it.
  std::size_t projects = n;
  for (std::size_t i = 0; i + 2 < n; ++i) {
    if (parts[i] == "projects") projects = i;
  }
  if (projects == n) {
    out.session = stem(parts[n - 1]);
    return out;
  }
  out.project = std::string(parts[projects + 1]);
  const std::size_t depth = n - projects - 1;  // components from the project dir to the file
  if (depth == 2) {
    out.session = stem(parts[n - 1]);  // projects/<project>/<session>.jsonl
  } else if (parts[n - 2] == "subagents" && depth >= 4) {
    out.session = std::string(parts[n - 3]);  // projects/<project>/<session>/subagents/<a>.jsonl
  } else {
    out.session = std::string(parts[n - 2]);
  }
  return out;
}

struct Extractor::Impl {
  explicit Impl(Pricing p) : pricing(std::move(p)) {}

  std::optional<Entry> extract(std::string_view line, std::string_view path) {
    // ccusage reads no line without these bytes; most lines (user turns, tool results,
    // snapshots) have no usage at all: skip them unparsed.
    if (line.find(R"("usage":{)") == std::string_view::npos) return std::nullopt;
    if (line.size() > parser.capacity()) {
      // Grown geometrically, so that a run of ever-longer lines does not reallocate each time.
      const std::size_t grown = std::max({line.size(), 2 * parser.capacity(), kInitialCapacity});
      if (parser.allocate(grown) != simdjson::SUCCESS) return std::nullopt;
    }
    Record outer;
    Relay relay;
    od::document doc;
    if (parser.iterate(line.data(), line.size(), line.size() + simdjson::SIMDJSON_PADDING)
            .get(doc)) {
      return std::nullopt;
    }
    od::object root;
    if (doc.get_object().get(root)) return std::nullopt;
    if (Walker::record(root, outer, &relay)) return std::nullopt;
    // Trailing content: the line is a reject, not an entry (as parse::Extractor decides).
    if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) return std::nullopt;

    // The line as a record, else as a relay.
    const Record* r = nullptr;
    std::optional<std::string_view> session_id;
    if (!outer.failed) {
      r = &outer;
      session_id = outer.session_id;
    } else if (relay.has_data_message && !relay.failed && !relay.inner.failed) {
      r = &relay.inner;
      session_id = relay.session_id;
    } else {
      return std::nullopt;
    }
    if (!passesChecks(*r, session_id)) return std::nullopt;
    const std::optional<std::int64_t> ts = ccusageTimestamp(*r->timestamp);
    if (!ts) return std::nullopt;

    if (path != last_path) {
      last_path.assign(path);
      last_parts = splitPath(path);
    }
    Entry entry;
    entry.ts_ms = *ts;
    if (r->id && r->request_id) {
      entry.dedup_key.append("mid:").append(*r->id).append(":").append(*r->request_id);
    } else if (r->id) {
      // Without a sessionId, the session the file belongs to (as ccusage).
      entry.dedup_key.append("mids:").append(*r->id).append(":");
      entry.dedup_key.append(session_id.value_or(last_parts.session));
      entry.dedup_key.append(":").append(*r->timestamp);
    }
    entry.project = last_parts.project;
    entry.session = last_parts.session;

    entry.input = *r->input;
    entry.output = *r->output;
    entry.cache_read = r->cache_read.value_or(0);
    if (r->has_cache_creation_split) {
      entry.cache_creation_5m = r->ephemeral_5m.value_or(0);
      entry.cache_creation_1h = r->ephemeral_1h.value_or(0);
    } else {
      entry.cache_creation_5m = r->cache_creation.value_or(0);
    }
    entry.cost_record = r->cost;
    entry.sidechain = r->sidechain.value_or(false);

    const bool fast = r->speed == "fast";
    const std::string_view model = r->model.value_or("");
    if (!model.empty() && model != "<synthetic>") {
      entry.model.assign(model);
      if (fast) entry.model.append("-fast");
      entry.cost_calc = cost(pricing, model, entry, fast);
    }
    return entry;
  }

  Pricing pricing;
  od::parser parser;
  std::string last_path;
  PathParts last_parts;
};

Extractor::Extractor(Pricing pricing) : impl_(std::make_unique<Impl>(std::move(pricing))) {}
Extractor::~Extractor() = default;

std::optional<Entry> Extractor::extract(std::string_view line, std::string_view path) {
  return impl_->extract(line, path);
}

}  // namespace sqtail::usage
