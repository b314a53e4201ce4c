// Claude Code transcript lines to usage entries: one simdjson on-demand pass over the fields
// that matter. Extractor: only from the thread that owns it (the tail thread).
//
// The rules follow ccusage (apps/ccusage/src/adapter/claude/data-loader.ts: usageDataSchema,
// parseUsageDataFast, createUniqueHash, formatUsageModelName, calculateCostForEntry):
//  - An entry is a record whose message.usage has integer input_tokens and output_tokens.
//    A field ccusage's schema would refuse makes the whole line no entry: a token count that
//    is not a non-negative integer (null included), costUSD that is not a number, usage.speed
//    other than "standard"/"fast", an empty model/id/requestId/sessionId, a version that does
//    not start with "N.N.N", a timestamp that is not RFC 3339. ccusage also checks the shape of
//    message.content; we do not (Claude Code never writes it otherwise on usage lines).
//  - type:"progress" lines (a subagent's messages relayed into the parent session) carry the
//    record under data.message; its fields win, the outer line's fill the gaps. ccusage's
//    marker-based fast path reads the same inner fields.
//  - Duplicate keys: the last one wins, as with JSON.parse.
#include <simdjson.h>

#include <algorithm>

#include "parse/extractor.hpp"
#include "usage/usage.hpp"

namespace sqtail::usage {

static_assert(parse::kPadding == simdjson::SIMDJSON_PADDING);

namespace {

namespace od = simdjson::ondemand;
using simdjson::error_code;

// One record's fields: the line itself, or data.message of a progress line. Views point into
// the parser's string buffer and live until the next iterate().
struct Record {
  bool has_usage = false;
  std::optional<std::int64_t> input, output, cache_creation, cache_read, ephemeral_5m, ephemeral_1h;
  bool has_cache_creation_split = false;
  std::optional<std::string_view> model, id, speed;
  std::optional<std::string_view> type, request_id, timestamp, session_id;
  std::optional<double> cost;
  std::optional<bool> sidechain;
  bool refused = false;
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
  // A string field; any other type (null too) refuses the record, as does "" when !allow_empty.
  static error_code string(od::value value, std::optional<std::string_view>& out, Record& r,
                           bool allow_empty = false) {
    od::json_type type{};
    if (const error_code error = value.type().get(type)) return error;
    if (type != od::json_type::string) {
      r.refused = true;
      return simdjson::SUCCESS;
    }
    std::string_view text;
    if (const error_code error = value.get_string().get(text)) return error;
    if (text.empty() && !allow_empty) r.refused = true;
    out = text;
    return simdjson::SUCCESS;
  }

  // A token count: a non-negative integer, or the record is refused.
  static error_code count(od::value value, std::optional<std::int64_t>& out, Record& r) {
    od::json_type type{};
    if (const error_code error = value.type().get(type)) return error;
    if (type != od::json_type::number) {
      r.refused = true;
      return simdjson::SUCCESS;
    }
    std::int64_t n = 0;
    if (value.get_int64().get(n) != simdjson::SUCCESS || n < 0) {
      r.refused = true;  // 1.5, 1e3, -1, beyond int64
      return simdjson::SUCCESS;
    }
    out = n;
    return simdjson::SUCCESS;
  }

  static error_code usage(od::object object, Record& r) {
    r.has_usage = true;
    for (auto field_result : object) {
      od::field field;
      if (const error_code error = std::move(field_result).get(field)) return error;
      std::string_view key;
      if (const error_code error = field.unescaped_key().get(key)) return error;
      error_code error = simdjson::SUCCESS;
      if (key == "input_tokens") {
        error = count(field.value(), r.input, r);
      } else if (key == "output_tokens") {
        error = count(field.value(), r.output, r);
      } else if (key == "cache_creation_input_tokens") {
        error = count(field.value(), r.cache_creation, r);
      } else if (key == "cache_read_input_tokens") {
        error = count(field.value(), r.cache_read, r);
      } else if (key == "speed") {
        error = string(field.value(), r.speed, r, true);
        if (!error && r.speed && *r.speed != "standard" && *r.speed != "fast") r.refused = true;
      } else if (key == "cache_creation") {
        error = cacheCreation(field.value(), r);
      }
      if (error) return error;
    }
    return simdjson::SUCCESS;
  }

  // usage.cache_creation: the split of cache writes by lifetime. Not an object: ignored.
  static error_code cacheCreation(od::value value, Record& r) {
    od::json_type type{};
    if (const error_code error = value.type().get(type)) return error;
    if (type != od::json_type::object) return simdjson::SUCCESS;
    od::object object;
    if (const error_code error = value.get_object().get(object)) return error;
    r.has_cache_creation_split = true;
    for (auto field_result : object) {
      od::field field;
      if (const error_code error = std::move(field_result).get(field)) return error;
      std::string_view key;
      if (const error_code error = field.unescaped_key().get(key)) return error;
      error_code error = simdjson::SUCCESS;
      if (key == "ephemeral_5m_input_tokens") {
        error = count(field.value(), r.ephemeral_5m, r);
      } else if (key == "ephemeral_1h_input_tokens") {
        error = count(field.value(), r.ephemeral_1h, r);
      }
      if (error) return error;
    }
    return simdjson::SUCCESS;
  }

  static error_code message(od::value value, Record& r) {
    od::json_type type{};
    if (const error_code error = value.type().get(type)) return error;
    if (type != od::json_type::object) return simdjson::SUCCESS;  // a user's text: no usage
    od::object object;
    if (const error_code error = value.get_object().get(object)) return error;
    for (auto field_result : object) {
      od::field field;
      if (const error_code error = std::move(field_result).get(field)) return error;
      std::string_view key;
      if (const error_code error = field.unescaped_key().get(key)) return error;
      error_code error = simdjson::SUCCESS;
      if (key == "usage") {
        od::value usage_value = field.value();
        od::json_type usage_type{};
        if ((error = usage_value.type().get(usage_type))) return error;
        if (usage_type == od::json_type::object) {
          od::object usage_object;
          if ((error = usage_value.get_object().get(usage_object))) return error;
          error = usage(usage_object, r);
        }
      } else if (key == "model") {
        error = string(field.value(), r.model, r);
      } else if (key == "id") {
        error = string(field.value(), r.id, r);
      }
      if (error) return error;
    }
    return simdjson::SUCCESS;
  }

  // `inner`: where data.message of a progress line goes; null when walking that inner record.
  static error_code record(od::object object, Record& r, Record* inner) {
    for (auto field_result : object) {
      od::field field;
      if (const error_code error = std::move(field_result).get(field)) return error;
      std::string_view key;
      if (const error_code error = field.unescaped_key().get(key)) return error;
      error_code error = simdjson::SUCCESS;
      if (key == "message") {
        error = message(field.value(), r);
      } else if (key == "type") {
        // Not checked by ccusage: a non-string type is just not "progress".
        od::value value = field.value();
        od::json_type type{};
        if ((error = value.type().get(type))) return error;
        std::string_view text;
        if (type == od::json_type::string) {
          if ((error = value.get_string().get(text))) return error;
          r.type = text;
        }
      } else if (key == "timestamp") {
        error = string(field.value(), r.timestamp, r);
      } else if (key == "requestId") {
        error = string(field.value(), r.request_id, r);
      } else if (key == "sessionId") {
        error = string(field.value(), r.session_id, r);
      } else if (key == "isSidechain") {
        od::value value = field.value();
        od::json_type type{};
        if ((error = value.type().get(type))) return error;
        bool flag = false;
        if (type == od::json_type::boolean) {
          if ((error = value.get_bool().get(flag))) return error;
          r.sidechain = flag;
        }
      } else if (key == "costUSD") {
        od::value value = field.value();
        od::json_type type{};
        if ((error = value.type().get(type))) return error;
        double number = 0;
        if (type == od::json_type::number && value.get_double().get(number) == simdjson::SUCCESS) {
          r.cost = number;
        } else {
          r.refused = true;
        }
      } else if (key == "version") {
        std::optional<std::string_view> version;
        error = string(field.value(), version, r, true);
        if (!error && version && !looksLikeVersion(*version)) r.refused = true;
      } else if (key == "data" && inner != nullptr) {
        error = data(field.value(), *inner);
      }
      if (error) return error;
    }
    return simdjson::SUCCESS;
  }

  static error_code data(od::value value, Record& inner) {
    od::json_type type{};
    if (const error_code error = value.type().get(type)) return error;
    if (type != od::json_type::object) return simdjson::SUCCESS;
    od::object object;
    if (const error_code error = value.get_object().get(object)) return error;
    for (auto field_result : object) {
      od::field field;
      if (const error_code error = std::move(field_result).get(field)) return error;
      std::string_view key;
      if (const error_code error = field.unescaped_key().get(key)) return error;
      if (key != "message") continue;
      od::value message_value = field.value();
      od::json_type message_type{};
      if (const error_code error = message_value.type().get(message_type)) return error;
      if (message_type != od::json_type::object) continue;
      od::object message_object;
      if (const error_code error = message_value.get_object().get(message_object)) return error;
      if (const error_code error = record(message_object, inner, nullptr)) return error;
    }
    return simdjson::SUCCESS;
  }
};

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
    // Most lines (user turns, tool results, snapshots) have no usage: skip them unparsed.
    if (line.find("\"usage\"") == std::string_view::npos) return std::nullopt;
    if (line.size() > parser.capacity()) {
      // Grown geometrically, so that a run of ever-longer lines does not reallocate each time.
      const std::size_t grown = std::max({line.size(), 2 * parser.capacity(), kInitialCapacity});
      if (parser.allocate(grown) != simdjson::SUCCESS) return std::nullopt;
    }
    Record outer;
    Record inner;
    od::document doc;
    if (parser.iterate(line.data(), line.size(), line.size() + simdjson::SIMDJSON_PADDING)
            .get(doc)) {
      return std::nullopt;
    }
    od::object root;
    if (doc.get_object().get(root)) return std::nullopt;
    if (Walker::record(root, outer, &inner)) return std::nullopt;
    // Trailing content: the line is a reject, not an entry (as parse::Extractor decides).
    if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) return std::nullopt;

    const bool progress = outer.type == "progress" && inner.has_usage;
    if (progress) {
      if (outer.refused) return std::nullopt;
      // The relayed record's own fields first, the envelope's where it has none.
      if (!inner.timestamp) inner.timestamp = outer.timestamp;
      if (!inner.request_id) inner.request_id = outer.request_id;
      if (!inner.session_id) inner.session_id = outer.session_id;
      if (!inner.sidechain) inner.sidechain = outer.sidechain;
    }
    const Record& r = progress ? inner : outer;
    if (r.refused || !r.has_usage || !r.input || !r.output || !r.timestamp) return std::nullopt;
    const std::optional<std::int64_t> ts = parse::parseRfc3339(*r.timestamp);
    if (!ts) return std::nullopt;

    Entry entry;
    entry.ts_ms = *ts;
    if (r.id && r.request_id) {
      entry.dedup_key.append("mid:").append(*r.id).append(":").append(*r.request_id);
    } else if (r.id) {
      entry.dedup_key.append("mids:").append(*r.id).append(":");
      entry.dedup_key.append(r.session_id.value_or("")).append(":").append(*r.timestamp);
    }
    if (path != last_path) {
      last_path.assign(path);
      last_parts = splitPath(path);
    }
    entry.project = last_parts.project;
    entry.session = last_parts.session;

    entry.input = *r.input;
    entry.output = *r.output;
    entry.cache_read = r.cache_read.value_or(0);
    if (r.has_cache_creation_split) {
      entry.cache_creation_5m = r.ephemeral_5m.value_or(0);
      entry.cache_creation_1h = r.ephemeral_1h.value_or(0);
    } else {
      entry.cache_creation_5m = r.cache_creation.value_or(0);
    }
    entry.cost_record = r.cost;
    entry.sidechain = r.sidechain.value_or(false);

    const bool fast = r.speed == "fast";
    const std::string_view model = r.model.value_or("");
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
