// Owns the shape of a subcommand: each one registers its options on the CLI11 app and
// returns the action to run when it is chosen. Call from the main thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <CLI/CLI.hpp>
#include <tl/expected.hpp>

#include "cli/table.hpp"

namespace sqtail::cli {

using Action = std::function<int()>;

// Each adds its subcommand to `app` and sets `action` for when it is the one parsed.
// `child`: the words after `--` (sidecar mode), split off before CLI11 parses the rest.
void addRunCommand(CLI::App& app, Action& action, std::vector<std::string> child);
void addReloadCommand(CLI::App& app, Action& action);
void addFilesCommand(CLI::App& app, Action& action);
void addStatsCommand(CLI::App& app, Action& action);
void addQueryCommand(CLI::App& app, Action& action);
void addUsageCommand(CLI::App& app, Action& action);
void addTopCommand(CLI::App& app, Action& action);
void addCheckCommand(CLI::App& app, Action& action);

// Shared by the read-side commands.
std::optional<SQLite::Database> openReadOnly(const std::string& db);
// "15m" (that long ago) or an RFC 3339 timestamp, to epoch milliseconds.
tl::expected<std::int64_t, std::string> parseWhen(const std::string& text);
std::string isoMillis(std::int64_t ms);
// Runs `body` with the --format value parsed, or says what is wrong with it (exit 2).
int withFormat(const std::string& text, const std::function<int(Format)>& body);
std::int64_t nowMillis();

}  // namespace sqtail::cli
