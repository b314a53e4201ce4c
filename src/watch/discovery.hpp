// Owns which files belong to which source: walks the directories the globs can reach,
// watches them (new directories too) and answers "does this path match a source".
// Call only from the tail thread.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "watch/glob.hpp"
#include "watch/inotify.hpp"

namespace sqtail::watch {

class Discovery {
 public:
  using Found = std::function<void(const std::string& path, int source)>;

  // `inotify` may be null (one-shot backfill: nothing to watch).
  Discovery(const std::vector<config::Source>& sources, std::string_view cwd, Inotify* inotify);

  // The first source whose paths match and whose excludes do not, or -1.
  int sourceOf(std::string_view path) const;
  bool couldContain(std::string_view dir) const;

  // Walks from every glob root (watching the nearest existing ancestor of a missing root),
  // in sorted name order, and reports each matching regular file.
  void scanAll(const Found& found);
  // Walks one directory that appeared (or reappeared) below a watched one.
  void scanDir(const std::string& dir, const Found& found);

  // True when `path` is below one of the directories the globs start from (for symlinks:
  // a link whose target leaves them is only followed with follow_symlinks).
  bool insideRoots(std::string_view path) const;
  // Watches one more directory (the target directory of a followed symlink).
  void watchDir(const std::string& dir) { watch(dir); }

  // Directories whose watch could not be added (watch limit): they need polling.
  std::size_t watchFailures() const { return watch_failures_; }

 private:
  struct SourceGlobs {
    std::vector<Glob> include;
    std::vector<Glob> exclude_paths;         // excludes with a '/': the whole path
    std::vector<std::string> exclude_names;  // excludes without one: the file name
  };
  void watch(const std::string& dir);
  void walk(const std::string& dir, const Found& found, int depth);

  std::vector<SourceGlobs> sources_;
  std::vector<std::string> roots_;
  Inotify* inotify_;
  std::size_t watch_failures_ = 0;
};

}  // namespace sqtail::watch
