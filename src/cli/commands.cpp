#include "cli/commands.hpp"

#include <sqlite3.h>

#include <fmt/core.h>

#include "cli/command.hpp"
#include "sink/sqlite/sqlite_sink.hpp"

namespace sqtail::cli {

namespace {

constexpr const char* kExamples = R"(Examples:
  sqtail run --db stats.db 'logs/**/*.jsonl'          tail forever (inotify), Ctrl-C to stop
  sqtail run --once --db stats.db 'logs/**/*.jsonl'   backfill to EOF, commit, exit
  sqtail run --config conf/sqtail.toml                sources and settings from a file
  sqtail files --db stats.db                          tracked files, offsets, lag
  sqtail stats --db stats.db --by level,category --since 1h
  sqtail query --db stats.db "SELECT level, count(*) FROM events GROUP BY 1"
  sqtail run --preset claude-code --db usage.db       Claude Code transcripts: tokens and cost
  sqtail usage --db usage.db --by day,model           per day and model, as ccusage daily
)";

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sqtail: tails JSONL logs into a SQLite stats DB, exactly once."};
  app.footer(kExamples);
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("sqtail ") + SQTAIL_VERSION);

  Action action;
  addRunCommand(app, action);
  addFilesCommand(app, action);
  addStatsCommand(app, action);
  addQueryCommand(app, action);
  addUsageCommand(app, action);
  app.add_subcommand("version", "Print the version")->callback([&action] {
    action = [] {
      fmt::print("sqtail {} (SQLite {}, schema {})\n", SQTAIL_VERSION, sqlite3_libversion(),
                 sink::kSchemaVersion);
      return 0;
    };
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return action ? action() : 2;
}

}  // namespace sqtail::cli
