#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/core.h>

#include "app/pid_file.hpp"
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
  pid_t follow_pid = 0;
};

// The file first, then the command line over it. Run again for each SIGHUP reload.
tl::expected<config::Config, std::string> buildConfig(const RunFlags& o) {
  config::Config cfg;
  if (!o.config_path.empty()) {
    auto loaded = config::loadFile(o.config_path);
    if (!loaded) return tl::unexpected(loaded.error().message);
    cfg = std::move(*loaded);
  }
  if (!o.db.empty()) cfg.db = o.db;
  if (!o.flush.empty()) {
    auto d = config::parseDuration(o.flush);
    if (!d || d->count() <= 0) {
      return tl::unexpected(
          fmt::format("--flush-interval '{}': expected a duration like 1s or 250ms", o.flush));
    }
    cfg.flush_interval = *d;
  }
  if (o.no_raw) cfg.store_raw = false;
  for (const auto& name : o.presets) {
    auto src = config::preset(name);
    if (!src) return tl::unexpected(fmt::format("--preset {}: unknown preset (known: claude-code)", name));
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
  return cfg;
}

int runWith(const RunFlags& o, std::vector<std::string> child) {
  auto cfg = buildConfig(o);
  if (!cfg) {
    fmt::print(stderr, "sqtail: {}\n", cfg.error());
    return 2;
  }
  app::RunOptions ro;
  ro.once = o.once;
  ro.progress = !o.no_progress && (o.progress || (o.once && isatty(STDERR_FILENO)));
  if (!o.config_path.empty()) ro.reload = [o] { return buildConfig(o); };
  ro.child = std::move(child);
  ro.follow_pid = o.follow_pid;
  if (o.once && (!ro.child.empty() || ro.follow_pid > 0)) {
    fmt::print(stderr, "sqtail: --once reads to the end and exits; it does not follow a process\n");
    return 2;
  }
  return app::run(*cfg, ro);
}

}  // namespace

void addRunCommand(CLI::App& app, Action& action, std::vector<std::string> child) {
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
  run->add_option("--follow-pid", o->follow_pid,
                  "Drain, commit and exit when this process has exited");
  run->callback([&action, o, child = std::move(child)] {
    action = [o, child] { return runWith(*o, child); };
  });
}

void addReloadCommand(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("reload", "Make the sqtail running on a database re-read its config");
  auto db = std::make_shared<std::string>("sqtail.db");
  cmd->add_option("--db", *db, "The database the running sqtail writes");
  cmd->callback([&action, db] {
    action = [db] {
      auto pid = app::PidFile::running(*db);
      if (!pid) {
        fmt::print(stderr, "sqtail: no sqtail is running on {}\n", *db);
        return 1;
      }
      if (::kill(*pid, SIGHUP) != 0) {
        fmt::print(stderr, "sqtail: cannot signal pid {}: {}\n", *pid, std::strerror(errno));
        return 1;
      }
      fmt::print("sent SIGHUP to sqtail (pid {}); it logs whether the new config was taken\n", *pid);
      return 0;
    };
  });
}

}  // namespace sqtail::cli
