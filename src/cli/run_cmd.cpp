#include <unistd.h>

#include <fmt/core.h>

#include "app/run.hpp"
#include "cli/command.hpp"
#include "config/config.hpp"
#include "config/presets.hpp"

namespace sqtail::cli {

namespace {

struct RunFlags {
  std::string config_path, db, flush, read_from, source_name = "default";
  std::vector<std::string> patterns, excludes, presets;
  bool once = false, no_raw = false, progress = false, no_progress = false;
};

// The file first, then the command line over it.
int runWith(const RunFlags& o) {
  config::Config cfg;
  if (!o.config_path.empty()) {
    auto loaded = config::loadFile(o.config_path);
    if (!loaded) {
      fmt::print(stderr, "sqtail: {}\n", loaded.error().message);
      return 2;
    }
    cfg = std::move(*loaded);
  }
  if (!o.db.empty()) cfg.db = o.db;
  if (!o.flush.empty()) {
    auto d = config::parseDuration(o.flush);
    if (!d || d->count() <= 0) {
      fmt::print(stderr, "sqtail: --flush-interval '{}': expected a duration like 1s or 250ms\n",
                 o.flush);
      return 2;
    }
    cfg.flush_interval = *d;
  }
  if (o.no_raw) cfg.store_raw = false;
  for (const auto& name : o.presets) {
    auto src = config::preset(name);
    if (!src) {
      fmt::print(stderr, "sqtail: --preset {}: unknown preset (known: claude-code)\n", name);
      return 2;
    }
    cfg.sources.push_back(std::move(*src));
  }
  const auto read_from = o.read_from == "tail" ? config::ReadFrom::kTail : config::ReadFrom::kHead;
  if (!o.patterns.empty()) {
    config::Source src;
    src.name = o.source_name;
    src.paths = o.patterns;
    src.exclude = o.excludes;
    src.read_from = read_from;
    cfg.sources.push_back(std::move(src));
  } else {
    // Without patterns, --exclude and --read-from apply to the sources of the file.
    for (auto& s : cfg.sources) {
      s.exclude.insert(s.exclude.end(), o.excludes.begin(), o.excludes.end());
      if (!o.read_from.empty()) s.read_from = read_from;
    }
  }
  app::RunOptions ro;
  ro.once = o.once;
  ro.progress = !o.no_progress && (o.progress || (o.once && isatty(STDERR_FILENO)));
  return app::run(cfg, ro);
}

}  // namespace

void addRunCommand(CLI::App& app, Action& action) {
  auto* run = app.add_subcommand("run", "Tail files into the DB (until SIGINT/SIGTERM, or --once)");
  auto o = std::make_shared<RunFlags>();
  run->add_option("patterns", o->patterns, "Globs of files to tail ('**' matches any depth)");
  run->add_option("-c,--config", o->config_path, "TOML config file (see conf/sqtail.toml)");
  run->add_option("--db", o->db, "SQLite database file (default: sqtail.db)");
  run->add_flag("--once", o->once, "Read every file to its end, commit, exit");
  run->add_option("--flush-interval", o->flush, "Commit at least this often (default 1s)");
  run->add_flag("--no-raw", o->no_raw, "Do not keep the whole line in events.raw");
  run->add_option("--exclude", o->excludes, "Globs to skip (a name without '/' matches file names)");
  run->add_option("--read-from", o->read_from, "head|tail: where files new to the DB start")
      ->check(CLI::IsMember({"head", "tail"}));
  run->add_option("--source-name", o->source_name, "Source name for the patterns given here");
  run->add_option("--preset", o->presets, "Add a built-in source: claude-code");
  run->add_flag("--progress", o->progress, "Draw a progress line (default with --once on a terminal)");
  run->add_flag("--no-progress", o->no_progress, "Never draw a progress line");
  run->callback([&action, o] { action = [o] { return runWith(*o); }; });
}

}  // namespace sqtail::cli
