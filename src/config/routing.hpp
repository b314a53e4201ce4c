// Owns the routing settings: [[route]] rules, [routing] defaults and priorities, and the
// destinations they name ([sink.files.<name>], [sink.postgres]). Parsed on the main thread by
// the config loader; read-only afterwards.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <toml++/toml.h>

namespace sqtail::config {

// One condition of a route: a field compared one way. All conditions of a route must hold.
// Conditions are kept in the order of their keys ("/ptr" < "category" < "level" < "source").
struct RouteMatch {
  enum class Field { kLevel, kCategory, kSource, kPointer };
  enum class Op { kEquals, kOneOf, kPrefix, kRegex };
  Field field = Field::kLevel;
  std::string pointer;  // kPointer: an RFC 6901 pointer into the line
  Op op = Op::kEquals;
  std::vector<std::string> values;  // one for kEquals, kPrefix and kRegex

  friend bool operator==(const RouteMatch&, const RouteMatch&) = default;
};

struct Route {
  std::string name;               // for `sqtail check` and logs; "route[i]" if unset
  std::vector<RouteMatch> match;  // empty: every record
  std::vector<std::string> to;    // "sqlite", "postgres", "stdout", "files:<name>"
  bool cont = false;              // `continue = true`: later routes are tried too
  std::optional<int> priority;    // overrides the level's priority
  std::uint32_t line = 0;         // of its [[route]] header, for messages

  // Where it was written does not make two routes differ.
  friend bool operator==(const Route& a, const Route& b) {
    return a.name == b.name && a.match == b.match && a.to == b.to && a.cont == b.cont &&
           a.priority == b.priority;
  }
};

// [sink.files.<name>]: lines written to files under `dir`, by a path template.
struct FileSinkConfig {
  std::string name;
  std::string dir;
  std::string path = "{date}/{category}.jsonl";
  std::string timezone = "UTC";  // for {date} and {hour}: "UTC" or a fixed offset "+02:00"
  std::uint64_t max_open_files = 64;
  std::chrono::milliseconds handle_idle{60'000};
  bool sync = true;  // sync each batch's files before its commit (power-loss safe)

  friend bool operator==(const FileSinkConfig&, const FileSinkConfig&) = default;
};

// [sink.postgres]
struct PostgresConfig {
  std::string conninfo;  // libpq key=value or URI; the password is never logged
  std::string host_id;   // empty: the host name
  std::string schema = "sqtail";

  friend bool operator==(const PostgresConfig&, const PostgresConfig&) = default;
};

// [routing]
struct Routing {
  std::vector<std::string> default_to{"sqlite"};  // for records no route matched
  // Priority by normalized level; other levels get default_priority.
  std::map<std::string, int> level_priority{
      {"fatal", 10}, {"critical", 10}, {"error", 10}, {"warn", 9}};
  int default_priority = 1;
  // A record above default_priority is committed within this long of its write.
  std::chrono::milliseconds priority_flush{100};
  std::uint32_t line = 0;  // of [routing], for messages

  friend bool operator==(const Routing& a, const Routing& b) {
    return a.default_to == b.default_to && a.level_priority == b.level_priority &&
           a.default_priority == b.default_priority && a.priority_flush == b.priority_flush;
  }
};

struct RoutingProblem {
  std::uint32_t line = 0;
  std::string text;
};

// Readers for the loader; each appends what is wrong to `problems`.
std::vector<Route> readRoutes(const toml::node& node, std::vector<RoutingProblem>& problems);
Routing readRoutingTable(const toml::node& node, std::vector<RoutingProblem>& problems);
// The [sink] table: files.<name> and postgres.
void readSinkTable(const toml::node& node, std::vector<FileSinkConfig>& files,
                   std::optional<PostgresConfig>& postgres, std::vector<RoutingProblem>& problems);
// Destinations named by routes and [routing] must exist: checked once everything is read.
void checkDestinations(const std::vector<Route>& routes, const Routing& routing,
                       const std::vector<FileSinkConfig>& files,
                       const std::optional<PostgresConfig>& postgres,
                       std::vector<RoutingProblem>& problems);

// "sqlite", "postgres", "stdout" or "files:<name>" split into kind and name.
struct Destination {
  enum class Kind { kSqlite, kPostgres, kStdout, kFiles };
  Kind kind;
  std::string name;  // kFiles only
};
std::optional<Destination> parseDestination(std::string_view text);

}  // namespace sqtail::config
