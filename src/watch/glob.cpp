#include "watch/glob.hpp"

#include <fnmatch.h>

namespace sqtail::watch {

std::vector<std::string_view> splitPath(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < path.size()) {
    std::size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::string normalizePath(std::string_view path, std::string_view cwd) {
  std::string joined;
  if (path.empty() || path.front() != '/') {
    joined.assign(cwd);
    joined += '/';
  }
  joined += path;
  std::vector<std::string_view> parts;
  for (auto seg : splitPath(joined)) {
    if (seg == ".") continue;
    if (seg == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(seg);
  }
  std::string out;
  for (auto seg : parts) {
    out += '/';
    out += seg;
  }
  return out.empty() ? "/" : out;
}

// A backslash escapes in fnmatch ("lo\\g" matches "log"), so such a segment is no literal name.
bool hasWildcard(std::string_view segment) {
  return segment.find_first_of("*?[\\") != std::string_view::npos;
}

Glob::Glob(std::string_view pattern, std::string_view cwd) : pattern_(normalizePath(pattern, cwd)) {
  for (auto seg : splitPath(pattern_)) segments_.emplace_back(seg);
  for (const auto& seg : segments_) {
    if (hasWildcard(seg) || &seg == &segments_.back()) break;
    root_ += '/';
    root_ += seg;
  }
  if (root_.empty()) root_.assign(1, '/');  // not = "/": GCC 12 -O3 warns (restrict)
}

bool Glob::matchFrom(std::size_t pi, const std::vector<std::string_view>& path, std::size_t si,
                     bool prefix) const {
  for (;;) {
    if (si == path.size()) {
      if (prefix) return pi < segments_.size();
      while (pi < segments_.size() && segments_[pi] == "**") ++pi;
      return pi == segments_.size();
    }
    if (pi == segments_.size()) return false;
    if (segments_[pi] == "**") {
      // Zero directories, or this one and maybe more.
      return matchFrom(pi + 1, path, si, prefix) || matchFrom(pi, path, si + 1, prefix);
    }
    const std::string name(path[si]);
    if (fnmatch(segments_[pi].c_str(), name.c_str(), 0) != 0) return false;
    ++pi;
    ++si;
  }
}

bool Glob::matches(std::string_view path) const { return matchFrom(0, splitPath(path), 0, false); }

bool Glob::couldContain(std::string_view dir) const {
  return matchFrom(0, splitPath(dir), 0, true);
}

}  // namespace sqtail::watch
