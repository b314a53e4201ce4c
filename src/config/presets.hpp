// Owns the built-in source presets (`preset = "claude-code"` in a [[source]], or
// `sqtail run --preset claude-code`). Pure functions; any thread may call them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace sqtail::config {

// The preset's source with its defaults filled in (paths from the environment), or nullopt
// for an unknown name. Keys given next to `preset` override these.
std::optional<Source> preset(std::string_view name);
// Names of the presets, for messages.
std::vector<std::string_view> presetNames();

// The preset's globs, as ccusage finds its data: each comma-separated entry of
// $CLAUDE_CONFIG_DIR + "/projects/**/*.jsonl" when that is set and not blank, else
// ~/.config/claude/projects/**/*.jsonl and ~/.claude/projects/**/*.jsonl.
std::vector<std::string> claudeProjectGlobs(const char* claude_config_dir, const char* home);

}  // namespace sqtail::config
