// Owns path-pattern matching: shell globs per path segment plus `**` for any number of
// directories. Pure; any thread may call it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sqtail::watch {

class Glob {
 public:
  // `pattern` is made absolute against `cwd` when relative, and normalized (no ".", "..").
  Glob(std::string_view pattern, std::string_view cwd);

  // True when the absolute, normalized `path` matches the whole pattern.
  bool matches(std::string_view path) const;
  // True when files below directory `dir` could match (dir is a possible prefix), so it
  // must be watched and walked.
  bool couldContain(std::string_view dir) const;
  // The deepest directory with no wildcard in it: discovery starts there.
  const std::string& root() const { return root_; }
  const std::string& pattern() const { return pattern_; }

 private:
  bool matchFrom(std::size_t pi, const std::vector<std::string_view>& path, std::size_t si,
                 bool prefix) const;

  std::string pattern_;
  std::vector<std::string> segments_;
  std::string root_;
};

// "/a/./b/../c" -> "/a/c"; `path` made absolute against `cwd` first.
std::string normalizePath(std::string_view path, std::string_view cwd);
std::vector<std::string_view> splitPath(std::string_view path);
bool hasWildcard(std::string_view segment);

}  // namespace sqtail::watch
