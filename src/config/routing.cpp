#include "config/routing.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <re2/re2.h>

#include "config/config.hpp"

namespace sqtail::config {
namespace {

using Problems = std::vector<RoutingProblem>;

std::uint32_t lineOf(const toml::node& node) { return node.source().begin.line; }

void problem(Problems& problems, const toml::node& node, std::string text) {
  problems.push_back(RoutingProblem{lineOf(node), std::move(text)});
}

std::string_view kindOf(const toml::node& node) {
  if (node.is_table()) return "a table";
  if (node.is_array()) return "an array";
  if (node.is_string()) return "a string";
  if (node.is_integer()) return "an integer";
  if (node.is_floating_point()) return "a float";
  if (node.is_boolean()) return "a boolean";
  return "a date or time";
}

void wrongType(Problems& problems, const toml::node& node, std::string_view key,
               std::string_view expected) {
  problem(problems, node,
          fmt::format("key '{}': expected {}, got {}", key, expected, kindOf(node)));
}

void unknownKey(Problems& problems, const toml::key& key, std::string_view prefix,
                std::initializer_list<std::string_view> known) {
  problems.push_back(RoutingProblem{key.source().begin.line,
                                    fmt::format("unknown key '{}{}' (expected one of: {})", prefix,
                                                key.str(), fmt::join(known, ", "))});
}

std::optional<std::vector<std::string>> strings(Problems& problems, const toml::node& node,
                                                std::string_view key) {
  std::vector<std::string> out;
  if (const auto* text = node.as_string()) {
    out.push_back(text->get());
    return out;
  }
  const auto* array = node.as_array();
  if (array == nullptr) {
    wrongType(problems, node, key, "a string or an array of strings");
    return std::nullopt;
  }
  for (std::size_t i = 0; i < array->size(); ++i) {
    const auto* text = array->get(i)->as_string();
    if (text == nullptr) {
      wrongType(problems, *array->get(i), fmt::format("{}[{}]", key, i), "a string");
      return std::nullopt;
    }
    out.push_back(text->get());
  }
  return out;
}

std::optional<std::chrono::milliseconds> duration(Problems& problems, const toml::node& node,
                                                  std::string_view key) {
  std::string text;
  if (const auto* s = node.as_string()) {
    text = s->get();
  } else if (const auto* i = node.as_integer(); i != nullptr && i->get() > 0) {
    return std::chrono::seconds(i->get());
  } else {
    wrongType(problems, node, key, "a duration like \"100ms\" or \"1s\"");
    return std::nullopt;
  }
  auto parsed = parseDuration(text);
  if (!parsed || parsed->count() == 0) {
    problem(problems, node,
            fmt::format("key '{}': {}", key,
                        parsed ? std::string("must be greater than zero") : parsed.error()));
    return std::nullopt;
  }
  return *parsed;
}

std::optional<std::int64_t> integer(Problems& problems, const toml::node& node,
                                    std::string_view key, std::int64_t min, std::int64_t max) {
  const auto* value = node.as_integer();
  if (value == nullptr) {
    wrongType(problems, node, key, "an integer");
    return std::nullopt;
  }
  if (value->get() < min || value->get() > max) {
    problem(problems, node,
            fmt::format("key '{}': expected {} to {}, got {}", key, min, max, value->get()));
    return std::nullopt;
  }
  return value->get();
}

void checkRegex(Problems& problems, const toml::node& node, std::string_view key,
                const std::string& pattern) {
  re2::RE2::Options options;
  options.set_log_errors(false);
  re2::RE2 re(pattern, options);
  if (!re.ok()) {
    problem(problems, node,
            fmt::format("key '{}': invalid regular expression {:?}: {}", key, pattern, re.error()));
  }
}

// `level = "error"`, `level = ["error", "fatal"]` or `level = { prefix = "err" }`.
std::optional<RouteMatch> readMatch(Problems& problems, std::string_view field,
                                    const toml::node& node, const std::string& key) {
  RouteMatch match;
  if (field == "level") {
    match.field = RouteMatch::Field::kLevel;
  } else if (field == "category") {
    match.field = RouteMatch::Field::kCategory;
  } else if (field == "source") {
    match.field = RouteMatch::Field::kSource;
  } else if (!field.empty() && field.front() == '/') {
    if (auto checked = checkJsonPointer(field); !checked) {
      problem(problems, node, fmt::format("key '{}': {}", key, checked.error()));
      return std::nullopt;
    }
    match.field = RouteMatch::Field::kPointer;
    match.pointer = std::string(field);
  } else {
    problem(problems, node,
            fmt::format("key '{}': a match names \"level\", \"category\", \"source\" or a JSON "
                        "pointer like \"/ctx/user\"",
                        key));
    return std::nullopt;
  }
  if (node.is_string() || node.is_array()) {
    auto values = strings(problems, node, key);
    if (!values) return std::nullopt;
    match.op = node.is_string() ? RouteMatch::Op::kEquals : RouteMatch::Op::kOneOf;
    match.values = std::move(*values);
    return match;
  }
  const auto* table = node.as_table();
  if (table == nullptr || table->size() != 1) {
    problem(problems, node,
            fmt::format("key '{}': expected a string, an array of strings, or a table with one "
                        "of equals, in, prefix, regex",
                        key));
    return std::nullopt;
  }
  const toml::key* op_key_ptr = nullptr;
  const toml::node* value_ptr = nullptr;
  for (auto&& [k, v] : *table) {
    op_key_ptr = &k;
    value_ptr = &v;
  }
  const toml::key& op_key = *op_key_ptr;
  const toml::node& value = *value_ptr;
  const std::string op_name(op_key.str());
  const std::string value_key = fmt::format("{}.{}", key, op_name);
  if (op_name == "in") {
    const auto* array = value.as_array();
    if (array == nullptr) {
      wrongType(problems, value, value_key, "an array of strings");
      return std::nullopt;
    }
    auto values = strings(problems, value, value_key);
    if (!values) return std::nullopt;
    match.op = RouteMatch::Op::kOneOf;
    match.values = std::move(*values);
    return match;
  }
  const auto* text = value.as_string();
  if (op_name != "equals" && op_name != "prefix" && op_name != "regex") {
    unknownKey(problems, op_key, key + ".", {"equals", "in", "prefix", "regex"});
    return std::nullopt;
  }
  if (text == nullptr) {
    wrongType(problems, value, value_key, "a string");
    return std::nullopt;
  }
  match.op = op_name == "equals"   ? RouteMatch::Op::kEquals
             : op_name == "prefix" ? RouteMatch::Op::kPrefix
                                   : RouteMatch::Op::kRegex;
  match.values.push_back(text->get());
  if (match.op == RouteMatch::Op::kRegex) checkRegex(problems, value, value_key, text->get());
  return match;
}

void checkDestinationSyntax(Problems& problems, const toml::node& node, std::string_view key,
                            const std::vector<std::string>& to) {
  for (const auto& d : to) {
    if (!parseDestination(d)) {
      problem(problems, node,
              fmt::format("key '{}': unknown destination {:?} (expected \"sqlite\", "
                          "\"postgres\", \"stdout\" or \"files:<name>\")",
                          key, d));
    }
  }
}

std::optional<Route> readRoute(Problems& problems, const toml::table& table,
                               const std::string& prefix) {
  Route route;
  route.line = lineOf(table);
  route.name = prefix;
  bool has_to = false;
  const std::size_t before = problems.size();
  for (auto&& [key, node] : table) {
    const std::string_view name = key.str();
    const std::string full = fmt::format("{}.{}", prefix, name);
    if (name == "name") {
      if (const auto* text = node.as_string()) {
        route.name = text->get();
      } else {
        wrongType(problems, node, full, "a string");
      }
    } else if (name == "match") {
      const auto* match = node.as_table();
      if (match == nullptr) {
        wrongType(problems, node, full, "a table like { level = \"error\" }");
        continue;
      }
      for (auto&& [field, value] : *match) {
        if (auto m =
                readMatch(problems, field.str(), value, fmt::format("{}.{}", full, field.str()))) {
          route.match.push_back(std::move(*m));
        }
      }
    } else if (name == "to") {
      has_to = true;
      if (auto to = strings(problems, node, full)) {
        if (to->empty())
          problem(problems, node, fmt::format("key '{}': names no destination", full));
        checkDestinationSyntax(problems, node, full, *to);
        route.to = std::move(*to);
      }
    } else if (name == "continue") {
      if (const auto* flag = node.as_boolean()) {
        route.cont = flag->get();
      } else {
        wrongType(problems, node, full, "a boolean");
      }
    } else if (name == "priority") {
      if (auto p = integer(problems, node, full, 0, 100)) route.priority = static_cast<int>(*p);
    } else {
      unknownKey(problems, key, prefix + ".", {"name", "match", "to", "continue", "priority"});
    }
  }
  if (!has_to) {
    problems.push_back(RoutingProblem{
        route.line, fmt::format("key '{}.to': missing (a route needs destinations)", prefix)});
  }
  if (problems.size() != before) return std::nullopt;
  return route;
}

std::optional<FileSinkConfig> readFileSink(Problems& problems, std::string_view name,
                                           const toml::node& node) {
  const std::string prefix = fmt::format("sink.files.{}", name);
  const auto* table = node.as_table();
  if (table == nullptr) {
    wrongType(problems, node, prefix, "a table");
    return std::nullopt;
  }
  FileSinkConfig sink;
  sink.name = std::string(name);
  bool has_dir = false;
  const std::size_t before = problems.size();
  for (auto&& [key, value] : *table) {
    const std::string_view k = key.str();
    const std::string full = fmt::format("{}.{}", prefix, k);
    if (k == "dir" || k == "path" || k == "timezone") {
      const auto* text = value.as_string();
      if (text == nullptr || text->get().empty()) {
        wrongType(problems, value, full, "a non-empty string");
        continue;
      }
      (k == "dir" ? sink.dir : k == "path" ? sink.path : sink.timezone) = text->get();
      has_dir |= k == "dir";
    } else if (k == "max_open_files") {
      if (auto n = integer(problems, value, full, 1, 65536)) {
        sink.max_open_files = static_cast<std::uint64_t>(*n);
      }
    } else if (k == "handle_idle") {
      if (auto d = duration(problems, value, full)) sink.handle_idle = *d;
    } else if (k == "sync") {
      if (const auto* flag = value.as_boolean()) {
        sink.sync = flag->get();
      } else {
        wrongType(problems, value, full, "a boolean");
      }
    } else {
      unknownKey(problems, key, prefix + ".",
                 {"dir", "path", "timezone", "max_open_files", "handle_idle", "sync"});
    }
  }
  if (!has_dir) {
    problem(problems, node,
            fmt::format("key '{}.dir': missing (where the files are written)", prefix));
  }
  if (problems.size() != before) return std::nullopt;
  return sink;
}

}  // namespace

std::optional<Destination> parseDestination(std::string_view text) {
  if (text == "sqlite") return Destination{Destination::Kind::kSqlite, {}};
  if (text == "postgres") return Destination{Destination::Kind::kPostgres, {}};
  if (text == "stdout") return Destination{Destination::Kind::kStdout, {}};
  constexpr std::string_view kFiles = "files:";
  if (text.substr(0, kFiles.size()) == kFiles && text.size() > kFiles.size()) {
    return Destination{Destination::Kind::kFiles, std::string(text.substr(kFiles.size()))};
  }
  return std::nullopt;
}

std::vector<Route> readRoutes(const toml::node& node, Problems& problems) {
  std::vector<Route> routes;
  const auto* array = node.as_array();
  if (array == nullptr) {
    wrongType(problems, node, "route", "an array of tables ([[route]])");
    return routes;
  }
  for (std::size_t i = 0; i < array->size(); ++i) {
    const std::string prefix = fmt::format("route[{}]", i);
    const auto* table = array->get(i)->as_table();
    if (table == nullptr) {
      wrongType(problems, *array->get(i), prefix, "a table");
      continue;
    }
    if (auto route = readRoute(problems, *table, prefix)) routes.push_back(std::move(*route));
  }
  return routes;
}

Routing readRoutingTable(const toml::node& node, Problems& problems) {
  Routing routing;
  const auto* table = node.as_table();
  if (table == nullptr) {
    wrongType(problems, node, "routing", "a table ([routing])");
    return routing;
  }
  routing.line = lineOf(node);
  for (auto&& [key, value] : *table) {
    const std::string_view k = key.str();
    const std::string full = fmt::format("routing.{}", k);
    if (k == "default") {
      if (auto to = strings(problems, value, full)) {
        checkDestinationSyntax(problems, value, full, *to);
        routing.default_to = std::move(*to);
      }
    } else if (k == "priority_flush") {
      if (auto d = duration(problems, value, full)) routing.priority_flush = *d;
    } else if (k == "default_priority") {
      if (auto p = integer(problems, value, full, 0, 100))
        routing.default_priority = static_cast<int>(*p);
    } else if (k == "priorities") {
      const auto* levels = value.as_table();
      if (levels == nullptr) {
        wrongType(problems, value, full, "a table like { error = 10, warn = 9 }");
        continue;
      }
      routing.level_priority.clear();
      for (auto&& [level, p] : *levels) {
        if (auto n = integer(problems, p, fmt::format("{}.{}", full, level.str()), 0, 100)) {
          routing.level_priority[std::string(level.str())] = static_cast<int>(*n);
        }
      }
    } else {
      unknownKey(problems, key, "routing.",
                 {"default", "priority_flush", "default_priority", "priorities"});
    }
  }
  return routing;
}

void readSinkTable(const toml::node& node, std::vector<FileSinkConfig>& files,
                   std::optional<PostgresConfig>& postgres, Problems& problems) {
  const auto* table = node.as_table();
  if (table == nullptr) {
    wrongType(problems, node, "sink", "a table ([sink.files.<name>] or [sink.postgres])");
    return;
  }
  for (auto&& [key, value] : *table) {
    const std::string_view k = key.str();
    if (k == "files") {
      const auto* named = value.as_table();
      if (named == nullptr) {
        wrongType(problems, value, "sink.files", "tables ([sink.files.<name>])");
        continue;
      }
      for (auto&& [name, sink] : *named) {
        const std::string_view n = name.str();
        const bool ok = !n.empty() && std::all_of(n.begin(), n.end(), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-';
        });
        if (!ok) {
          problems.push_back(RoutingProblem{
              name.source().begin.line,
              fmt::format("key 'sink.files.{}': use letters, digits, '_' and '-' in a sink name",
                          n)});
          continue;
        }
        if (auto parsed = readFileSink(problems, n, sink)) files.push_back(std::move(*parsed));
      }
    } else if (k == "postgres") {
      const auto* pg = value.as_table();
      if (pg == nullptr) {
        wrongType(problems, value, "sink.postgres", "a table");
        continue;
      }
      PostgresConfig config;
      bool has_conninfo = false;
      for (auto&& [pk, pv] : *pg) {
        const std::string full = fmt::format("sink.postgres.{}", pk.str());
        const auto* text = pv.as_string();
        if (pk.str() != "conninfo" && pk.str() != "host_id" && pk.str() != "schema") {
          unknownKey(problems, pk, "sink.postgres.", {"conninfo", "host_id", "schema"});
        } else if (text == nullptr || text->get().empty()) {
          wrongType(problems, pv, full, "a non-empty string");
        } else if (pk.str() == "conninfo") {
          config.conninfo = text->get();
          has_conninfo = true;
        } else if (pk.str() == "host_id") {
          config.host_id = text->get();
        } else {
          config.schema = text->get();
        }
      }
      if (!has_conninfo) {
        problem(problems, value, "key 'sink.postgres.conninfo': missing (libpq key=value or URI)");
      } else {
        postgres = std::move(config);
      }
    } else {
      unknownKey(problems, key, "sink.", {"files", "postgres"});
    }
  }
}

void checkDestinations(const std::vector<Route>& routes, const Routing& routing,
                       const std::vector<FileSinkConfig>& files,
                       const std::optional<PostgresConfig>& postgres, Problems& problems) {
  auto check = [&](std::uint32_t line, std::string_view key, const std::vector<std::string>& to) {
    for (const auto& text : to) {
      auto d = parseDestination(text);
      if (!d) continue;  // reported while reading
      if (d->kind == Destination::Kind::kPostgres && !postgres) {
        problems.push_back(RoutingProblem{
            line,
            fmt::format("key '{}': destination \"postgres\" needs a [sink.postgres] table", key)});
      }
      if (d->kind == Destination::Kind::kFiles &&
          std::none_of(files.begin(), files.end(),
                       [&](const FileSinkConfig& f) { return f.name == d->name; })) {
        problems.push_back(RoutingProblem{
            line, fmt::format("key '{}': destination {:?} needs a [sink.files.{}] table", key, text,
                              d->name)});
      }
    }
  };
  for (std::size_t i = 0; i < routes.size(); ++i) {
    check(routes[i].line, fmt::format("route[{}].to", i), routes[i].to);
  }
  check(routing.line, "routing.default", routing.default_to);
  // Destinations are bits of a 64-bit mask: sqlite, postgres, stdout and the file sinks.
  if (files.size() > 60) {
    problems.push_back(
        RoutingProblem{0, fmt::format("at most 60 [sink.files.*] tables, got {}", files.size())});
  }
}

}  // namespace sqtail::config
