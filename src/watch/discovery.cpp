#include "watch/discovery.hpp"

#include <dirent.h>
#include <fnmatch.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/core.h>

#include "obs/log.hpp"

namespace sqtail::watch {

namespace {
// Deep enough for any real log tree; a guard against directory loops through bind mounts.
constexpr int kMaxDepth = 64;

std::string parentOf(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}
}  // namespace

Discovery::Discovery(const std::vector<config::Source>& sources, std::string_view cwd,
                     Inotify* inotify)
    : inotify_(inotify) {
  for (const auto& src : sources) {
    SourceGlobs g;
    for (const auto& p : src.paths) g.include.emplace_back(p, cwd);
    for (const auto& e : src.exclude) {
      if (e.find('/') == std::string::npos) {
        g.exclude_names.push_back(e);
      } else {
        g.exclude_paths.emplace_back(e, cwd);
      }
    }
    for (const auto& glob : g.include) roots_.push_back(glob.root());
    sources_.push_back(std::move(g));
  }
}

bool Discovery::insideRoots(std::string_view path) const {
  return std::any_of(roots_.begin(), roots_.end(), [&](const std::string& root) {
    return root == "/" || (path.size() > root.size() && path.substr(0, root.size()) == root &&
                           path[root.size()] == '/');
  });
}

int Discovery::sourceOf(std::string_view path) const {
  const auto slash = path.rfind('/');
  const std::string name(path.substr(slash == std::string_view::npos ? 0 : slash + 1));
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    const auto& s = sources_[i];
    if (std::none_of(s.include.begin(), s.include.end(),
                     [&](const Glob& g) { return g.matches(path); })) {
      continue;
    }
    bool excluded =
        std::any_of(s.exclude_paths.begin(), s.exclude_paths.end(),
                    [&](const Glob& g) { return g.matches(path); }) ||
        std::any_of(s.exclude_names.begin(), s.exclude_names.end(), [&](const std::string& pat) {
          return fnmatch(pat.c_str(), name.c_str(), 0) == 0;
        });
    if (!excluded) return static_cast<int>(i);
  }
  return -1;
}

bool Discovery::couldContain(std::string_view dir) const {
  for (const auto& s : sources_) {
    for (const auto& g : s.include) {
      if (g.couldContain(dir)) return true;
    }
  }
  return false;
}

void Discovery::watch(const std::string& dir) {
  if (inotify_ == nullptr) return;
  auto wd = inotify_->watchDir(dir);
  if (!wd) {
    ++watch_failures_;
    obs::log::warn("cannot watch {}; falling back to polling it", wd.error().message());
  }
}

void Discovery::scanAll(const Found& found) {
  std::vector<std::string> roots;
  for (const auto& s : sources_) {
    for (const auto& g : s.include) roots.push_back(g.root());
  }
  std::sort(roots.begin(), roots.end());
  roots.erase(std::unique(roots.begin(), roots.end()), roots.end());
  for (const auto& root : roots) {
    std::string dir = root;
    for (auto st = sys::stat(dir); !st || !S_ISDIR(st->st_mode); st = sys::stat(dir)) {
      if (dir == "/") break;
      dir = parentOf(dir);
    }
    if (dir != root) {
      // The root does not exist yet: watch the deepest ancestor that does, to see it appear.
      watch(dir);
      continue;
    }
    walk(root, found, 0);
  }
}

void Discovery::scanDir(const std::string& dir, const Found& found) {
  if (couldContain(dir)) walk(dir, found, 0);
}

void Discovery::walk(const std::string& dir, const Found& found, int depth) {
  if (depth > kMaxDepth) return;
  // Watch before listing, so a file created in between is reported by one or the other.
  watch(dir);
  auto listed = sys::listDir(dir);
  if (!listed) {
    if (listed.error().code != ENOENT) obs::log::warn("cannot list {}", listed.error().message());
    return;
  }
  std::vector<std::pair<std::string, unsigned char>> entries;
  entries.reserve(listed->size());
  for (auto& e : *listed) entries.emplace_back(std::move(e.name), e.type);
  std::sort(entries.begin(), entries.end());
  const std::string prefix = dir == "/" ? "/" : dir + "/";
  for (auto& [name, type] : entries) {
    std::string path = prefix + name;
    if (type == DT_UNKNOWN) {
      auto st = sys::lstat(path);
      if (!st) continue;
      type = S_ISDIR(st->st_mode) ? DT_DIR : S_ISREG(st->st_mode) ? DT_REG : DT_LNK;
    }
    if (type == DT_DIR) {
      if (couldContain(path)) walk(path, found, depth + 1);
      continue;
    }
    if (type != DT_REG && type != DT_LNK) continue;
    int src = sourceOf(path);
    if (src < 0) continue;
    if (type == DT_LNK) {
      auto st = sys::stat(path);
      if (!st || !S_ISREG(st->st_mode)) continue;
    }
    found(path, src);
  }
}

}  // namespace sqtail::watch
