// Owns the category derived from a stack-trace field (the module of its first application
// frame) and a bounded LRU cache of those results. Tail thread only; not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sqtail::parse {

// A derived category is at most this long; longer module names are cut (they are ASCII).
inline constexpr std::size_t kMaxStackCategoryBytes = 100;

struct StackCategoryOptions {
  // A frame whose location contains any of these substrings is library or runtime code and
  // never decides. Empty strings are ignored. The location is the file path (Node, Python,
  // Ruby, Go) or, for Java/Kotlin, the whole frame "pkg.Class.method(File.java:N)", so "java."
  // or "org.springframework." can be added to pass over framework frames.
  std::vector<std::string> skip = {"node_modules/",  "/vendor/",  "site-packages/",
                                   "dist-packages/", "internal/", "<anonymous>",
                                   "node:"};
  // Cached stacks. 0 turns the cache off (every call parses).
  std::size_t cache_size = 4096;
};

// The category of one stack trace, uncached; the view points into `stack`.
//
// Frames recognized (one per line, leading blanks ignored):
//   Node/JS      "at fn (/app/src/engine/loop.js:12:5)", "at /app/src/x.js:1:2"
//   Java/Kotlin  "at com.acme.engine.Loop.run(Loop.java:42)" (also "java.base/..." prefixes
//                and logback's " ~[app.jar:?]" suffix)
//   Python       "File \"/app/engine/loop.py\", line 12, in run"
//   Go           "/app/engine/loop.go:42 +0x1d" (the location line under "main.run(...)")
//   Ruby         "/app/lib/engine/loop.rb:12:in `run'", "from /app/x.rb:3:in 'Foo#bar'"
// The first frame that passes the skip rules and yields a module name decides; Python
// tracebacks list the innermost call last, so there the last such frame decides. The module
// name is the file's base name without its extension ("loop"); for a Java frame whose file is
// not "Name.ext" ("Unknown Source", "Native Method") it is the class's simple name, without
// "$Inner" ("Loop"). A name must start with [A-Za-z0-9_] and hold only [A-Za-z0-9_.-]: the
// category may name a file, so "..", "/" and anything outside that set never come out (such
// a frame does not decide). Frames with no usable file ("at async Promise.all (index 0)",
// "(native)", "<string>") do not decide either. Nothing usable: nullopt.
std::optional<std::string_view> categoryFromStack(std::string_view stack,
                                                  const std::vector<std::string>& skip);

// categoryFromStack() behind an LRU cache.
//
// Cache key: a 64-bit XXH3 hash of the stack's frame text plus that text's length; nothing
// more is compared, so two different stacks of equal length share a result when their hashes
// collide, with probability about cache_size / 2^64 per lookup. The frame text is the stack
// from its first indented line to its last one, when no line outside that range is a frame:
// the message lines of Node ("Error: user 4711 not found"), Java and Python then do not split
// one stack into many keys. Otherwise (Ruby's first line is a frame) it is the whole stack.
//
// Memory: 128 bytes per entry plus a hash table of 4-byte slots (the power of two >= 2 x
// cache_size), so at most 144 x cache_size bytes; 557,056 bytes for the default 4096.
class StackCategory {
 public:
  explicit StackCategory(StackCategoryOptions options);
  ~StackCategory();
  StackCategory(const StackCategory&) = delete;
  StackCategory& operator=(const StackCategory&) = delete;

  // A hit does not parse. The view stays valid until the next call.
  std::optional<std::string_view> categoryOf(std::string_view stack);

  struct Stats {
    std::uint64_t hits;
    std::uint64_t misses;
    std::uint64_t evictions;
    std::size_t size;  // entries now cached
  };
  Stats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sqtail::parse
