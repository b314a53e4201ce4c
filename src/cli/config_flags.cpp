#include "cli/config_flags.hpp"

#include <fmt/format.h>

#include "config/presets.hpp"

namespace sqtail::cli {

void ConfigFlags::addTo(CLI::App* cmd) {
  cmd->add_option("patterns", patterns, "Globs of files to tail ('**' matches any depth)");
  cmd->add_option("-c,--config", config_path, "TOML config file (see conf/sqtail.toml)");
  cmd->add_option("--db", db, "SQLite database file (default: sqtail.db)");
  cmd->add_option("--flush-interval", flush, "Commit at least this often (default 1s)");
  cmd->add_flag("--no-raw", no_raw, "Do not keep the whole line in events.raw");
  cmd->add_option("--exclude", excludes, "Globs to skip (a name without '/' matches file names)");
  cmd->add_option("--read-from", read_from, "head|tail: where files new to the DB start")
      ->check(CLI::IsMember({"head", "tail"}));
  cmd->add_option("--source-name", source_name, "Source name for the patterns given here");
  cmd->add_option("--preset", presets, "Add a built-in source: claude-code");
}

tl::expected<config::Config, std::string> ConfigFlags::resolve() const {
  config::Config cfg;
  if (!config_path.empty()) {
    auto loaded = config::loadFile(config_path);
    if (!loaded) return tl::unexpected(loaded.error().message);
    cfg = std::move(*loaded);
  }
  if (!db.empty()) cfg.db = db;
  if (!flush.empty()) {
    auto d = config::parseDuration(flush);
    if (!d || d->count() <= 0) {
      return tl::unexpected(
          fmt::format("--flush-interval '{}': expected a duration like 1s or 250ms", flush));
    }
    cfg.flush_interval = *d;
  }
  if (no_raw) cfg.store_raw = false;
  for (const auto& name : presets) {
    auto src = config::preset(name);
    if (!src) {
      return tl::unexpected(fmt::format("--preset {}: unknown preset (known: {})", name,
                                        fmt::join(config::presetNames(), ", ")));
    }
    cfg.sources.push_back(std::move(*src));
  }
  const auto from = read_from == "tail" ? config::ReadFrom::kTail : config::ReadFrom::kHead;
  if (!patterns.empty()) {
    config::Source src;
    src.name = source_name;
    src.paths = patterns;
    src.exclude = excludes;
    src.read_from = from;
    cfg.sources.push_back(std::move(src));
  } else {
    // Without patterns, --exclude and --read-from apply to the sources of the file.
    for (auto& s : cfg.sources) {
      s.exclude.insert(s.exclude.end(), excludes.begin(), excludes.end());
      if (!read_from.empty()) s.read_from = from;
    }
  }
  return cfg;
}

}  // namespace sqtail::cli
