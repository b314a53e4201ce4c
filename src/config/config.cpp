#include "config/config.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <limits>
#include <map>
#include <span>
#include <system_error>
#include <utility>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "config/presets.hpp"
#include "config/toml_type.hpp"

namespace sqtail::config {
namespace {

using Line = std::uint32_t;

struct Unit {
  std::string_view name;
  std::uint64_t factor;
};

// Units are compared whole, so "m" can never take the "m" of "ms"; the order is free.
constexpr Unit kDurationUnits[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000},
};
constexpr Unit kSizeUnits[] = {
    {"B", 1},
    {"kB", 1000},
    {"KB", 1000},
    {"MB", 1000 * 1000},
    {"GB", 1000 * 1000 * 1000},
    {"TB", 1000ull * 1000 * 1000 * 1000},
    {"KiB", 1ull << 10},
    {"MiB", 1ull << 20},
    {"GiB", 1ull << 30},
    {"TiB", 1ull << 40},
};

constexpr std::string_view kDurationForms = R"("250ms", "1s", "5m", "1h", "7d")";
constexpr std::string_view kSizeForms = R"("4096", "64KiB", "16MiB", "1GiB", "10MB")";

bool isDigit(char c) { return c >= '0' && c <= '9'; }

struct Quantity {
  std::uint64_t number;
  std::string_view unit;  // empty when the text is a bare number
};

// The shared grammar of durations and sizes: digits, optional spaces, a unit.
tl::expected<Quantity, std::string> splitQuantity(std::string_view text, std::string_view kind,
                                                  std::string_view forms) {
  if (!text.empty() && text.front() == '-') {
    return tl::make_unexpected(fmt::format("{:?}: a {} cannot be negative", text, kind));
  }
  std::size_t pos = 0;
  std::uint64_t number = 0;
  bool overflow = false;
  while (pos < text.size() && isDigit(text[pos])) {
    const auto digit = static_cast<std::uint64_t>(text[pos] - '0');
    if (number > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) overflow = true;
    number = number * 10 + digit;
    ++pos;
  }
  if (pos == 0) {
    return tl::make_unexpected(fmt::format("expected a {} like {}, got {:?}", kind, forms, text));
  }
  if (overflow) return tl::make_unexpected(fmt::format("{:?}: the {} is too large", text, kind));
  if (pos < text.size() && (text[pos] == '.' || text[pos] == ',')) {
    return tl::make_unexpected(
        fmt::format("{:?}: fractions are not supported, use a smaller unit", text));
  }
  while (pos < text.size() && text[pos] == ' ') ++pos;
  return Quantity{number, text.substr(pos)};
}

template <std::size_t N>
std::string unitList(const Unit (&units)[N]) {
  std::string list;
  for (std::size_t i = 0; i < N; ++i) {
    if (i > 0) list += i + 1 == N ? " or " : ", ";
    list += units[i].name;
  }
  return list;
}

template <std::size_t N>
tl::expected<std::uint64_t, std::string> scale(std::string_view text, const Quantity& quantity,
                                               const Unit (&units)[N], std::string_view kind,
                                               std::uint64_t max) {
  const auto* unit = std::find_if(std::begin(units), std::end(units),
                                  [&](const Unit& u) { return u.name == quantity.unit; });
  if (unit == std::end(units)) {
    return tl::make_unexpected(
        fmt::format("{:?}: unknown unit {:?}, use {}", text, quantity.unit, unitList(units)));
  }
  if (quantity.number > max / unit->factor) {
    return tl::make_unexpected(fmt::format("{:?}: the {} is too large", text, kind));
  }
  return quantity.number * unit->factor;
}

std::size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// A hint only for typos; a wild guess would send the user the wrong way.
std::string_view closestKey(std::string_view key, std::span<const std::string_view> known) {
  std::string_view best;
  std::size_t best_distance = std::numeric_limits<std::size_t>::max();
  for (std::string_view candidate : known) {
    const std::size_t allowed = candidate.size() <= 4 ? 1 : 2;
    const std::size_t distance = editDistance(key, candidate);
    if (distance <= allowed && distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

bool isSourceNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || isDigit(c) || c == '_' || c == '.' ||
         c == '-';
}

constexpr std::string_view kTopLevelKeys[] = {
    "db",
    "store_raw",
    "flush_interval",
    "batch_max_rows",
    "batch_max_bytes",
    "max_buffer_bytes",
    "max_line_bytes",
    "read_chunk_bytes",
    "fingerprint_bytes",
    "rotate_wait",
    "poll_interval",
    "follow_symlinks",
    "pricing",
    "retention",
    "max_events",
    "rollup_retention",
    "http",
    "source",
    "route",
    "routing",
    "sink",
};
constexpr std::string_view kSourceKeys[] = {
    "name",       "paths",      "exclude", "read_from",
    "fields",     "preset",     "usage",   "category_from_stack",
    "stack_skip", "stack_cache"};
constexpr std::string_view kFieldKeys[] = {"ts", "level", "category", "message"};

struct SizeKey {
  std::string_view name;
  std::uint64_t Config::*member;
  bool positive;
};
constexpr SizeKey kSizeKeys[] = {
    {"batch_max_bytes", &Config::batch_max_bytes, true},
    {"max_buffer_bytes", &Config::max_buffer_bytes, true},
    {"max_line_bytes", &Config::max_line_bytes, true},
    {"read_chunk_bytes", &Config::read_chunk_bytes, true},
    // Zero is left to mean "no fingerprint": identity then rests on device and inode alone.
    {"fingerprint_bytes", &Config::fingerprint_bytes, false},
};

using StringCheck = std::optional<std::string> (*)(std::string_view);

std::optional<std::string> checkNotEmpty(std::string_view text) {
  if (text.empty()) return "must not be empty";
  return std::nullopt;
}

std::optional<std::string> checkPointer(std::string_view text) {
  auto checked = checkJsonPointer(text);
  if (!checked) return std::move(checked.error());
  return std::nullopt;
}

// Walks the parsed document once, collecting every problem rather than stopping at the first,
// so that a user fixes a config in one round instead of one error per start.
class Loader {
 public:
  explicit Loader(std::string_view origin) : origin_(origin) {}

  tl::expected<Config, Error> load(const toml::table& root) {
    Config config;
    std::map<std::string_view, Line> size_lines;
    for (auto&& [key, node] : root) {
      const std::string_view name = key.str();
      if (name == "db") {
        if (auto db = readString(node, name)) {
          if (db->empty()) {
            error(node, fmt::format("key '{}': must not be empty", name));
          } else {
            config.db = std::move(*db);
          }
        }
      } else if (name == "store_raw") {
        if (const auto* value = node.as_boolean()) {
          config.store_raw = value->get();
        } else {
          wrongType(node, name, "a boolean");
        }
      } else if (name == "flush_interval") {
        if (auto interval = readDuration(node, name)) config.flush_interval = *interval;
      } else if (name == "rotate_wait") {
        if (auto wait = readDuration(node, name)) config.rotate_wait = *wait;
      } else if (name == "poll_interval") {
        if (auto interval = readDuration(node, name)) config.poll_interval = *interval;
      } else if (name == "http") {
        if (const auto* table = node.as_table()) {
          auto http = obs::readHttpTable(*table);
          if (http) {
            config.http = std::move(*http);
          } else {
            for (auto& problem : http.error()) error(problem.line, std::move(problem.text));
          }
        } else {
          wrongType(node, name, "a table ([http])");
        }
      } else if (name == "log_level") {
        if (auto level = readString(node, name)) {
          if (*level != "error" && *level != "warn" && *level != "info" && *level != "debug") {
            error(node, fmt::format("key '{}': expected \"error\", \"warn\", \"info\" or "
                                    "\"debug\", got {:?}",
                                    name, *level));
          } else {
            config.log_level = std::move(*level);
          }
        }
      } else if (name == "log_file") {
        if (auto file = readString(node, name)) config.log_file = std::move(*file);
      } else if (name == "pricing") {
        if (auto path = readString(node, name)) config.pricing = std::move(*path);
      } else if (name == "follow_symlinks") {
        if (const auto* value = node.as_boolean()) {
          config.follow_symlinks = value->get();
        } else {
          wrongType(node, name, "a boolean");
        }
      } else if (name == "batch_max_rows") {
        if (auto rows = readCount(node, name)) config.batch_max_rows = *rows;
      } else if (name == "retention") {
        if (auto age = readDuration(node, name)) config.retention = *age;
      } else if (name == "max_events") {
        if (auto count = readCount(node, name)) config.max_events = *count;
      } else if (name == "rollup_retention") {
        if (auto age = readDuration(node, name)) config.rollup_retention = *age;
      } else if (name == "source") {
        readSources(node, config.sources);
      } else if (name == "route") {
        config.routes = readRoutes(node, routing_problems_);
      } else if (name == "routing") {
        config.routing = readRoutingTable(node, routing_problems_);
      } else if (name == "sink") {
        readSinkTable(node, config.file_sinks, config.postgres, routing_problems_);
      } else if (const auto* size_key = findSizeKey(name)) {
        if (auto size = readSize(node, name, size_key->positive)) {
          config.*(size_key->member) = *size;
          size_lines[size_key->name] = node.source().begin.line;
        }
      } else {
        unknownKey(key, "", kTopLevelKeys);
      }
    }
    if (routing_problems_.empty()) {
      checkDestinations(config.routes, config.routing, config.file_sinks, config.postgres,
                        routing_problems_);
    }
    for (auto& problem : routing_problems_) error(problem.line, std::move(problem.text));
    // Limits that depend on each other only make sense once each one is valid by itself.
    if (errors_.empty()) {
      checkFitsInBuffer(config, size_lines, "max_line_bytes", "a whole line");
      checkFitsInBuffer(config, size_lines, "read_chunk_bytes", "one read");
    }
    if (!errors_.empty()) return tl::make_unexpected(Error{joinErrors()});
    return config;
  }

 private:
  static const SizeKey* findSizeKey(std::string_view name) {
    const auto* found = std::find_if(std::begin(kSizeKeys), std::end(kSizeKeys),
                                     [&](const SizeKey& key) { return key.name == name; });
    return found == std::end(kSizeKeys) ? nullptr : found;
  }

  void error(Line line, std::string text) { errors_.emplace_back(line, std::move(text)); }
  void error(const toml::node& node, std::string text) {
    error(node.source().begin.line, std::move(text));
  }

  void wrongType(const toml::node& node, std::string_view key, std::string_view expected) {
    error(node, fmt::format("key '{}': expected {}, got {}", key, expected, typeName(node.type())));
  }

  void unknownKey(const toml::key& key, std::string_view prefix,
                  std::span<const std::string_view> known) {
    std::string text = fmt::format("unknown key '{}{}'", prefix, key.str());
    if (const auto guess = closestKey(key.str(), known); !guess.empty()) {
      text += fmt::format(" (did you mean '{}'?)", guess);
    } else if (known.size() <= 5) {
      text += fmt::format(" (expected one of: {})", fmt::join(known, ", "));
    }
    error(key.source().begin.line, std::move(text));
  }

  std::optional<std::string> readString(const toml::node& node, std::string_view key) {
    if (const auto* value = node.as_string()) return value->get();
    wrongType(node, key, "a string");
    return std::nullopt;
  }

  std::optional<std::chrono::milliseconds> readDuration(const toml::node& node,
                                                        std::string_view key) {
    std::optional<std::chrono::milliseconds> duration;
    if (const auto* text = node.as_string()) {
      auto parsed = parseDuration(text->get());
      if (!parsed) {
        error(node, fmt::format("key '{}': {}", key, parsed.error()));
        return std::nullopt;
      }
      duration = *parsed;
    } else if (const auto* seconds = node.as_integer()) {
      const std::int64_t value = seconds->get();
      if (value < 0) {
        error(node, fmt::format("key '{}': a duration cannot be negative, got {}", key, value));
        return std::nullopt;
      }
      if (value > std::numeric_limits<std::int64_t>::max() / 1000) {
        error(node, fmt::format("key '{}': {} seconds is too large", key, value));
        return std::nullopt;
      }
      duration = std::chrono::seconds{value};
    } else {
      wrongType(node, key,
                fmt::format("a duration (a string like {} or an integer number of seconds)",
                            kDurationForms));
      return std::nullopt;
    }
    if (duration->count() == 0) {
      error(node, fmt::format("key '{}': must be greater than zero", key));
      return std::nullopt;
    }
    return duration;
  }

  std::optional<std::uint64_t> readSize(const toml::node& node, std::string_view key,
                                        bool positive) {
    std::uint64_t size = 0;
    if (const auto* text = node.as_string()) {
      auto parsed = parseSize(text->get());
      if (!parsed) {
        error(node, fmt::format("key '{}': {}", key, parsed.error()));
        return std::nullopt;
      }
      size = *parsed;
    } else if (const auto* bytes = node.as_integer()) {
      if (bytes->get() < 0) {
        error(node, fmt::format("key '{}': a size cannot be negative, got {}", key, bytes->get()));
        return std::nullopt;
      }
      size = static_cast<std::uint64_t>(bytes->get());
    } else {
      wrongType(node, key,
                fmt::format("a size (a string like {} or an integer number of bytes)", kSizeForms));
      return std::nullopt;
    }
    if (positive && size == 0) {
      error(node, fmt::format("key '{}': must be greater than zero", key));
      return std::nullopt;
    }
    return size;
  }

  std::optional<std::uint64_t> readCount(const toml::node& node, std::string_view key) {
    const auto* count = node.as_integer();
    if (count == nullptr) {
      wrongType(node, key, "an integer");
      return std::nullopt;
    }
    if (count->get() <= 0) {
      error(node, fmt::format("key '{}': must be greater than zero, got {}", key, count->get()));
      return std::nullopt;
    }
    return static_cast<std::uint64_t>(count->get());
  }

  // A single string stands for a list of one: `paths = "x.jsonl"` reads naturally.
  std::optional<std::vector<std::string>> readStringList(const toml::node& node,
                                                         std::string_view key, StringCheck check) {
    std::vector<std::string> list;
    bool ok = true;
    auto take = [&](const toml::node& item, std::string_view item_key) {
      const auto* text = item.as_string();
      if (text == nullptr) {
        wrongType(item, item_key, "a string");
        ok = false;
        return;
      }
      if (auto problem = check(text->get())) {
        error(item, fmt::format("key '{}': {}", item_key, *problem));
        ok = false;
        return;
      }
      list.push_back(text->get());
    };
    if (node.is_string()) {
      take(node, key);
    } else if (const auto* array = node.as_array()) {
      for (std::size_t i = 0; i < array->size(); ++i) {
        take(*array->get(i), fmt::format("{}[{}]", key, i));
      }
    } else {
      wrongType(node, key, "a string or an array of strings");
      return std::nullopt;
    }
    if (!ok) return std::nullopt;
    return list;
  }

  void readSources(const toml::node& node, std::vector<Source>& sources) {
    const auto* array = node.as_array();
    if (array == nullptr) {
      wrongType(node, "source", "an array of tables ([[source]])");
      return;
    }
    std::map<std::string, Line, std::less<>> names;
    for (std::size_t i = 0; i < array->size(); ++i) {
      const toml::node& item = *array->get(i);
      const std::string key = fmt::format("source[{}]", i);
      const auto* table = item.as_table();
      if (table == nullptr) {
        wrongType(item, key, "a table");
        continue;
      }
      if (auto source = readSource(*table, key, names)) sources.push_back(std::move(*source));
    }
  }

  std::optional<Source> readSource(const toml::table& table, const std::string& prefix,
                                   std::map<std::string, Line, std::less<>>& names) {
    Source source;
    const std::size_t errors_before = errors_.size();
    bool has_name = false;
    bool has_paths = false;
    if (const auto* preset_node = table.get("preset")) {
      // A preset fills the whole source in; the keys next to it override its values.
      const std::string key = fmt::format("{}.preset", prefix);
      if (auto name = readString(*preset_node, key)) {
        if (auto preset_source = preset(*name)) {
          source = std::move(*preset_source);
          has_name = has_paths = true;
          if (table.get("name") == nullptr) readSourceName(*preset_node, key, source.name, names);
        } else {
          error(*preset_node, fmt::format("key '{}': unknown preset {:?} (known: {})", key, *name,
                                          fmt::join(presetNames(), ", ")));
          has_name = has_paths = true;  // the one error that matters here
        }
      }
    }
    for (auto&& [key, node] : table) {
      const std::string_view name = key.str();
      const std::string full_key = fmt::format("{}.{}", prefix, name);
      if (name == "name") {
        has_name = true;
        if (auto text = readString(node, full_key)) {
          readSourceName(node, full_key, *text, names);
          source.name = std::move(*text);
        }
      } else if (name == "paths") {
        has_paths = true;
        if (auto paths = readStringList(node, full_key, checkNotEmpty)) {
          if (paths->empty()) {
            error(node, fmt::format("key '{}': must list at least one glob", full_key));
          }
          source.paths = std::move(*paths);
        }
      } else if (name == "exclude") {
        if (auto exclude = readStringList(node, full_key, checkNotEmpty)) {
          source.exclude = std::move(*exclude);
        }
      } else if (name == "read_from") {
        readReadFrom(node, full_key, source.read_from);
      } else if (name == "fields") {
        readFields(node, full_key, source.fields);
      } else if (name == "preset") {
        // Read above, before the keys that override it.
      } else if (name == "category_from_stack") {
        if (auto pointer = readString(node, full_key)) {
          if (auto problem = checkPointer(*pointer)) {
            error(node, fmt::format("key '{}': {}", full_key, *problem));
          } else {
            source.category_from_stack = std::move(*pointer);
          }
        }
      } else if (name == "stack_skip") {
        if (auto skip = readStringList(node, full_key, checkNotEmpty)) {
          source.stack_skip = std::move(*skip);
        }
      } else if (name == "stack_cache") {
        if (auto entries = readCount(node, full_key)) source.stack_cache = *entries;
      } else if (name == "usage") {
        if (auto usage = readString(node, full_key)) {
          if (*usage != "" && *usage != "claude-code") {
            error(node, fmt::format("key '{}': expected \"claude-code\" or \"\", got {:?}",
                                    full_key, *usage));
          } else {
            source.usage = std::move(*usage);
          }
        }
      } else if (std::find(std::begin(kTopLevelKeys), std::end(kTopLevelKeys), name) !=
                 std::end(kTopLevelKeys)) {
        // TOML puts every key after a [[source]] header into that source, a common slip.
        error(key.source().begin.line,
              fmt::format("unknown key '{}.{}' ('{}' is a top-level key: move it above the "
                          "first [[source]])",
                          prefix, name, name));
      } else {
        unknownKey(key, prefix + ".", kSourceKeys);
      }
    }
    const Line line = table.source().begin.line;
    if (!has_name) {
      error(line, fmt::format("key '{}.name': missing (every source needs a unique name)", prefix));
    }
    if (!has_paths) {
      error(line,
            fmt::format("key '{}.paths': missing (a source needs at least one glob)", prefix));
    }
    if (errors_.size() != errors_before) return std::nullopt;
    return source;
  }

  void readSourceName(const toml::node& node, std::string_view key, const std::string& name,
                      std::map<std::string, Line, std::less<>>& names) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), isSourceNameChar)) {
      error(node, fmt::format("key '{}': {:?} is not a valid source name (use letters, digits, "
                              "'_', '.' and '-')",
                              key, name));
      return;
    }
    const Line line = node.source().begin.line;
    if (auto [first, inserted] = names.emplace(name, line); !inserted) {
      error(node, fmt::format("key '{}': duplicate source name {:?} (first used at line {})", key,
                              name, first->second));
    }
  }

  void readReadFrom(const toml::node& node, std::string_view key, ReadFrom& read_from) {
    constexpr std::string_view kExpected = R"("head" or "tail")";
    const auto* text = node.as_string();
    if (text == nullptr) {
      wrongType(node, key, kExpected);
    } else if (text->get() == "head") {
      read_from = ReadFrom::kHead;
    } else if (text->get() == "tail") {
      read_from = ReadFrom::kTail;
    } else {
      error(node, fmt::format("key '{}': expected {}, got {:?}", key, kExpected, text->get()));
    }
  }

  void readFields(const toml::node& node, const std::string& prefix, FieldMap& fields) {
    const auto* table = node.as_table();
    if (table == nullptr) {
      wrongType(node, prefix, "a table");
      return;
    }
    for (auto&& [key, value] : *table) {
      const std::string_view name = key.str();
      std::vector<std::string>* target = name == "ts"         ? &fields.ts
                                         : name == "level"    ? &fields.level
                                         : name == "category" ? &fields.category
                                         : name == "message"  ? &fields.message
                                                              : nullptr;
      if (target == nullptr) {
        unknownKey(key, prefix + ".", kFieldKeys);
        continue;
      }
      // An empty list is allowed on purpose: it turns the field off for this source.
      if (auto pointers = readStringList(value, fmt::format("{}.{}", prefix, name), checkPointer)) {
        *target = std::move(*pointers);
      }
    }
  }

  void checkFitsInBuffer(const Config& config, const std::map<std::string_view, Line>& lines,
                         std::string_view key, std::string_view what) {
    const std::uint64_t value = config.*(findSizeKey(key)->member);
    if (value <= config.max_buffer_bytes) return;
    // Point at the key the user wrote; if both are defaults the defaults are wrong (a test
    // keeps that from happening), but the message still makes sense.
    if (auto it = lines.find(key); it != lines.end() || !lines.contains("max_buffer_bytes")) {
      error(it == lines.end() ? 0 : it->second,
            fmt::format("key '{}': {} bytes is more than max_buffer_bytes ({} bytes); {} must fit "
                        "in the buffer",
                        key, value, config.max_buffer_bytes, what));
    } else {
      error(lines.at("max_buffer_bytes"),
            fmt::format("key 'max_buffer_bytes': {} bytes is less than {} ({} bytes); {} must fit "
                        "in the buffer",
                        config.max_buffer_bytes, key, value, what));
    }
  }

  std::string joinErrors() {
    std::stable_sort(errors_.begin(), errors_.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::string joined;
    for (const auto& [line, text] : errors_) {
      if (!joined.empty()) joined += '\n';
      if (line == 0) {
        joined += fmt::format("{}: {}", origin_, text);
      } else {
        joined += fmt::format("{}:{}: {}", origin_, line, text);
      }
    }
    return joined;
  }

  std::string origin_;
  std::vector<std::pair<Line, std::string>> errors_;
  std::vector<RoutingProblem> routing_problems_;
};

}  // namespace

tl::expected<std::chrono::milliseconds, std::string> parseDuration(std::string_view text) {
  auto quantity = splitQuantity(text, "duration", kDurationForms);
  if (!quantity) return tl::make_unexpected(std::move(quantity.error()));
  // A bare number is seconds, like an integer in the TOML file.
  if (quantity->unit.empty()) quantity->unit = "s";
  auto ms = scale(text, *quantity, kDurationUnits, "duration",
                  static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()));
  if (!ms) return tl::make_unexpected(std::move(ms.error()));
  return std::chrono::milliseconds{static_cast<std::int64_t>(*ms)};
}

tl::expected<std::uint64_t, std::string> parseSize(std::string_view text) {
  auto quantity = splitQuantity(text, "size", kSizeForms);
  if (!quantity) return tl::make_unexpected(std::move(quantity.error()));
  if (quantity->unit.empty()) quantity->unit = "B";
  return scale(text, *quantity, kSizeUnits, "size", std::numeric_limits<std::uint64_t>::max());
}

tl::expected<void, std::string> checkJsonPointer(std::string_view pointer) {
  if (pointer.empty()) {
    return tl::make_unexpected(
        std::string{R"("" is not allowed: the empty JSON pointer is the whole line, not a field)"});
  }
  if (pointer.front() != '/') {
    return tl::make_unexpected(fmt::format(
        "{:?} is not a JSON pointer: it must start with '/' (like \"/{}\")", pointer, pointer));
  }
  for (std::size_t i = 0; i < pointer.size(); ++i) {
    if (pointer[i] != '~') continue;
    if (i + 1 == pointer.size() || (pointer[i + 1] != '0' && pointer[i + 1] != '1')) {
      return tl::make_unexpected(
          fmt::format("{:?} is not a valid JSON pointer: '~' must be followed by '0' or '1' "
                      "(write '~0' for '~' and '~1' for '/')",
                      pointer));
    }
  }
  return {};
}

tl::expected<Config, Error> loadString(std::string_view toml, std::string_view origin) {
  toml::table root;
  // toml++ is built with exceptions in Debian (the toml::ex ABI); this is the only place
  // they can come from, so they stop here.
  try {
    root = toml::parse(toml, origin);
  } catch (const toml::parse_error& e) {
    return tl::make_unexpected(Error{fmt::format("{}:{}:{}: {}", origin, e.source().begin.line,
                                                 e.source().begin.column, e.description())});
  }
  return Loader{origin}.load(root);
}

tl::expected<Config, Error> loadFile(const std::filesystem::path& file) {
  const std::string origin = file.string();
  auto fail = [&](int error) {
    return tl::make_unexpected(Error{fmt::format("cannot read config '{}': {}", origin,
                                                 std::generic_category().message(error))});
  };
  std::FILE* stream = std::fopen(file.c_str(), "rb");
  if (stream == nullptr) return fail(errno);
  std::string text;
  char buffer[16 * 1024];
  std::size_t count = 0;
  while ((count = std::fread(buffer, 1, sizeof buffer, stream)) > 0) text.append(buffer, count);
  // A directory opens fine and fails on the first read, with EISDIR.
  const int read_error = std::ferror(stream) ? errno : 0;
  std::fclose(stream);
  if (read_error != 0) return fail(read_error);
  return loadString(text, origin);
}

}  // namespace sqtail::config
