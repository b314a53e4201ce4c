// Owns sqtail's settings: the TOML file, the defaults and the command-line overrides.
// Loaded once on the main thread before any other thread starts; read-only afterwards.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "config/routing.hpp"
#include "obs/http_config.hpp"

namespace sqtail::config {

enum class ReadFrom { kHead, kTail };

// JSON pointers tried in order; the first one present in a line wins.
struct FieldMap {
  std::vector<std::string> ts{"/ts", "/timestamp", "/time", "/@timestamp"};
  std::vector<std::string> level{"/level", "/severity", "/lvl"};
  std::vector<std::string> category{"/category", "/logger", "/component", "/source"};
  std::vector<std::string> message{"/message", "/msg"};

  friend bool operator==(const FieldMap&, const FieldMap&) = default;
};

struct Source {
  std::string name;                  // unique; "default" for patterns given on the command line
  std::vector<std::string> paths;    // globs, `**` matches any number of directories
  std::vector<std::string> exclude;  // globs matched against the full path
  ReadFrom read_from = ReadFrom::kHead;
  FieldMap fields;
  // "claude-code": lines are also read as agent usage entries into the `usage` table.
  std::string usage;
  // A JSON pointer to a stack trace: when a line has no category field, its category is the
  // module of the stack's first frame outside the `stack_skip` paths (parse::StackCategory).
  std::string category_from_stack;
  std::vector<std::string> stack_skip{"node_modules/",  "/vendor/",       "site-packages/",
                                      "dist-packages/", "internal/",      "<anonymous>",
                                      "node:",          "go/src/runtime/"};
  std::uint64_t stack_cache = 4096;  // entries of its LRU cache

  friend bool operator==(const Source&, const Source&) = default;
};

struct Config {
  std::filesystem::path db = "sqtail.db";
  bool store_raw = true;                           // keep the whole line in events.raw
  std::chrono::milliseconds flush_interval{1000};  // a batch commits at the latest after this
  std::uint64_t batch_max_rows = 20000;            // ... or when it holds this many rows
  std::uint64_t batch_max_bytes = 4ull << 20;      // ... or this many bytes of lines
  std::uint64_t max_buffer_bytes = 24ull << 20;    // bytes read but not yet committed, at most
  std::uint64_t max_line_bytes = 1ull << 20;       // longer lines are rejects
  std::uint64_t read_chunk_bytes = 256ull << 10;   // bytes per file per turn (fairness)
  std::uint64_t fingerprint_bytes = 1024;          // identity hash covers this many first bytes
  std::chrono::milliseconds rotate_wait{5000};     // a rotated or deleted file stays open this
                                                   // long after its last write, then closes
  std::chrono::milliseconds poll_interval{1000};   // rescan period where inotify cannot watch
  bool follow_symlinks = false;                    // follow links whose target leaves the roots
  std::optional<obs::HttpConfig> http;             // [http]: /metrics and /health; off if absent
  std::filesystem::path pricing;                   // model prices for `usage`; empty: built in
  std::string log_level = "info";                  // error, warn, info, debug
  std::string log_file;                            // empty: stderr (journald picks it up)
  // Retention; unset keeps forever. Events (and rejects) older than `retention` by their
  // time, and all but the newest `max_events` events, are deleted in small steps between
  // batches. Rollups have their own key; `usage` is always kept.
  std::optional<std::chrono::milliseconds> retention;
  std::optional<std::uint64_t> max_events;
  std::optional<std::chrono::milliseconds> rollup_retention;
  std::vector<Source> sources;
  // Routing (README "Routing"): without [[route]] every record goes to routing.default_to.
  std::vector<Route> routes;
  Routing routing;
  std::vector<FileSinkConfig> file_sinks;
  std::optional<PostgresConfig> postgres;

  friend bool operator==(const Config&, const Config&) = default;
};

struct Error {
  std::string message;  // "sqtail.toml:12: key 'flush_interval': expected a duration like \"1s\""
};

// Parses "250ms", "1s", "5m", "1h", "7d" (a bare integer means seconds). Whole numbers only;
// a space may separate the number from the unit ("16 MiB" too).
tl::expected<std::chrono::milliseconds, std::string> parseDuration(std::string_view text);
// Parses "4096", "64KiB", "16MiB", "1GiB", "10MB" (decimal units are powers of 1000).
tl::expected<std::uint64_t, std::string> parseSize(std::string_view text);
// Accepts an RFC 6901 pointer that names a member ("/a/b~1c"); the empty pointer (the whole
// line) is refused because a field is never the whole document.
tl::expected<void, std::string> checkJsonPointer(std::string_view pointer);

// Reads a TOML file. Unknown keys, wrong types and bad values are errors that name
// the file, the line and the key; all of them are reported, one per line, in file order.
// Relative paths in it stay relative to the working dir.
tl::expected<Config, Error> loadFile(const std::filesystem::path& file);
// Same, from text (for tests); `origin` names it in messages.
tl::expected<Config, Error> loadString(std::string_view toml, std::string_view origin);

}  // namespace sqtail::config
