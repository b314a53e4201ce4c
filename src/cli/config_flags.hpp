// Owns the command-line flags that shape a configuration (`run` and `check` take the same
// ones) and how they lay over the config file. Main thread only.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <tl/expected.hpp>

#include "config/config.hpp"

namespace sqtail::cli {

struct ConfigFlags {
  std::string config_path, db, flush, read_from, source_name = "default";
  std::vector<std::string> patterns, excludes, presets;
  bool no_raw = false;

  // Registers the patterns and the --config, --db, --flush-interval, --no-raw, --exclude,
  // --read-from, --source-name and --preset options on `cmd`.
  void addTo(CLI::App* cmd);
  // The file first, then the command line over it (run again for each reload).
  tl::expected<config::Config, std::string> resolve() const;
};

}  // namespace sqtail::cli
