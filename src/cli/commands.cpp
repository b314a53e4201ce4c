#include "cli/commands.hpp"

#include <sqlite3.h>

#include <string_view>

#include <fmt/core.h>

#include "cli/command.hpp"
#include "sink/sqlite/sqlite_sink.hpp"

namespace sqtail::cli {

namespace {

constexpr const char* kExamples = R"(Examples:
  sqtail run --db stats.db 'logs/**/*.jsonl'          tail forever (inotify), Ctrl-C to stop
  sqtail run --once --db stats.db 'logs/**/*.jsonl'   backfill to EOF, commit, exit
  sqtail run --config conf/sqtail.toml                sources and settings from a file
  sqtail run --db s.db 'logs/*.jsonl' -- my-agent -v  sidecar: run my-agent, drain, exit with its code
  sqtail reload --db s.db                             the running sqtail re-reads its config
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

  // `sqtail run [options] -- CMD ARGS...`: the command is the sidecar's child, not patterns.
  std::vector<std::string> child;
  if (argc > 1 && std::string_view(argv[1]) == "run") {
    for (int i = 2; i < argc; ++i) {
      if (std::string_view(argv[i]) == "--") {
        child.assign(argv + i + 1, argv + argc);
        argc = i;
        break;
      }
    }
  }

  Action action;
  addRunCommand(app, action, std::move(child));
  addReloadCommand(app, action);
  addFilesCommand(app, action);
  addStatsCommand(app, action);
  addQueryCommand(app, action);
  addUsageCommand(app, action);
  addTopCommand(app, action);
  addCheckCommand(app, action);
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
