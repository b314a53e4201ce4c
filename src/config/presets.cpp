#include "config/presets.hpp"

#include <algorithm>
#include <cstdlib>

namespace sqtail::config {

std::vector<std::string> claudeProjectGlobs(const char* claude_config_dir, const char* home) {
  constexpr std::string_view kGlob = "/projects/**/*.jsonl";
  std::vector<std::string> globs;
  std::string_view dirs = claude_config_dir != nullptr ? claude_config_dir : "";
  while (!dirs.empty()) {
    const std::size_t comma = dirs.find(',');
    std::string_view dir = dirs.substr(0, comma);
    dirs = comma == std::string_view::npos ? std::string_view{} : dirs.substr(comma + 1);
    while (!dir.empty() && (dir.front() == ' ' || dir.front() == '\t')) dir.remove_prefix(1);
    while (!dir.empty() && (dir.back() == ' ' || dir.back() == '\t')) dir.remove_suffix(1);
    while (dir.size() > 1 && dir.back() == '/') dir.remove_suffix(1);
    if (dir.empty()) continue;
    std::string glob = std::string(dir) + std::string(kGlob);
    if (std::find(globs.begin(), globs.end(), glob) == globs.end()) globs.push_back(glob);
  }
  if (!globs.empty()) return globs;
  const std::string base = home != nullptr ? home : "";
  return {base + "/.config/claude" + std::string(kGlob), base + "/.claude" + std::string(kGlob)};
}

std::vector<std::string_view> presetNames() { return {"claude-code"}; }

std::optional<Source> preset(std::string_view name) {
  if (name != "claude-code") return std::nullopt;
  // conf/presets/claude-code.toml documents these choices line by line.
  Source s;
  s.name = "claude-code";
  s.paths = claudeProjectGlobs(std::getenv("CLAUDE_CONFIG_DIR"), std::getenv("HOME"));
  s.read_from = ReadFrom::kHead;
  s.usage = "claude-code";
  s.fields.ts = {"/timestamp"};
  s.fields.level = {"/level"};
  s.fields.category = {"/type"};
  s.fields.message = {"/summary", "/content"};
  return s;
}

}  // namespace sqtail::config
