// Owns sqtail's own log: levelled lines to stderr (journald takes them from there) or to a
// file through a buffer flushed on a timer, at shutdown and on every error. A storm of the
// same warning is one line per window with a count. Any thread; one mutex inside.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace sqtail::obs::log {

enum class Level { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

// Lines below `min` are dropped. `file` empty: stderr, unbuffered. Returns an error text
// when the file cannot be opened (the caller stops start-up with it).
std::string configure(Level min, const std::string& file);
// "error", "warn", "info", "debug"; nullopt-like false for anything else.
bool parseLevel(std::string_view text, Level& out);

// One line. `key` identifies "the same message" for rate limiting (the format string).
void write(Level level, std::string_view key, std::string_view text);
// Writes out a file's buffer (the main thread calls it every tick and at exit).
void flush();

// Within this window, repeats of one key after the first are counted, not written.
inline constexpr auto kRepeatWindow = std::chrono::seconds(10);

// The format string, as the key of "the same message".
template <typename... Args>
std::string_view key(const fmt::format_string<Args...>& f) {
  const fmt::string_view view = f;
  return {view.data(), view.size()};
}

template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::kError, key<Args...>(f), fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::kWarn, key<Args...>(f), fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::kInfo, key<Args...>(f), fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace sqtail::obs::log
