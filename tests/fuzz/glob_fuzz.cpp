// libFuzzer target for watch::Glob and the path helpers. Built by `meson setup -Dfuzz=true`
// (clang); run by `scripts/test --fuzz SECONDS`.
// Input: pattern '\0' path '\0' cwd (missing parts are empty). Properties, beyond "no crash":
//  - normalizePath gives an absolute path without "." or ".." segments, and is idempotent;
//  - a path the glob matches starts at the glob's root (discovery starts walking there);
//  - every directory above a matching path is one the glob couldContain (discovery walks and
//    watches only those: a false "no" there would miss the file).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "watch/glob.hpp"

namespace {

using sqtail::watch::Glob;
using sqtail::watch::normalizePath;
using sqtail::watch::splitPath;

[[noreturn]] void fail(const char* what, std::string_view a, std::string_view b) {
  std::fprintf(stderr, "glob_fuzz: %s: '%.*s' '%.*s'\n", what, static_cast<int>(a.size()), a.data(),
               static_cast<int>(b.size()), b.data());
  std::abort();
}

std::string_view nextPart(std::string_view& rest) {
  const std::size_t end = rest.find('\0');
  const std::string_view part = rest.substr(0, end);
  rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
  return part;
}

void checkNormalized(std::string_view input, std::string_view cwd, const std::string& out) {
  if (out.empty() || out.front() != '/') fail("normalizePath is not absolute", input, out);
  if (out.size() > 1 && out.back() == '/') fail("normalizePath ends in '/'", input, out);
  for (std::string_view seg : splitPath(out)) {
    if (seg == "." || seg == "..") fail("normalizePath left a dot segment", input, out);
  }
  if (out.find("//") != std::string::npos) fail("normalizePath left '//'", input, out);
  if (normalizePath(out, cwd) != out) fail("normalizePath is not idempotent", input, out);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  const std::string_view pattern = nextPart(rest);
  const std::string_view raw_path = nextPart(rest);
  std::string cwd = normalizePath(nextPart(rest), "/");
  checkNormalized(raw_path, "/", normalizePath(raw_path, "/"));
  checkNormalized(pattern, cwd, normalizePath(pattern, cwd));

  const Glob glob(pattern, cwd);
  const std::string path = normalizePath(raw_path, cwd);
  // Known and reported (seed regression_many_doublestar_timeout): Glob::matchFrom backtracks
  // over every split of the path between the `**` segments, O(depth^k / k!) for k of them
  // (release build, a 200-deep path: k=4 takes 3.6 s, k=5 100 s). Until it is memoized, keep
  // to k <= 3 and 64 segments, where one input stays in milliseconds, so the fuzzer looks
  // for other bugs instead of finding this one again every run.
  std::size_t doublestars = 0;
  for (std::string_view seg : splitPath(glob.pattern())) doublestars += seg == "**";
  if (doublestars > 3 || splitPath(path).size() > 64) return 0;
  const bool matched = glob.matches(path);
  const bool prefix = glob.couldContain(path);
  (void)prefix;
  if (!matched) return 0;

  const std::string& root = glob.root();
  if (!(root == "/" || path == root || path.rfind(root + "/", 0) == 0)) {
    fail("a match outside the glob's root", path, root);
  }
  // Each directory above the match, from its parent up to "/".
  std::string dir = path;
  while (dir != "/") {
    const std::size_t slash = dir.rfind('/');
    dir.resize(slash == 0 ? 1 : slash);
    if (!glob.couldContain(dir)) fail("couldContain says no above a match", dir, glob.pattern());
  }
  return 0;
}
