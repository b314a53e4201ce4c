#include "obs/log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "sys/sys.hpp"

namespace sqtail::obs::log {

namespace {

using Clock = std::chrono::steady_clock;

struct Repeat {
  Clock::time_point window_start;
  long suppressed = 0;
  Level level = Level::kWarn;
};

struct State {
  std::mutex mu;
  Level min = Level::kInfo;
  sys::Fd file;  // invalid: stderr
  std::string buffer;
  std::unordered_map<std::string, Repeat> repeats;
};

State& state() {
  static State s;
  return s;
}

constexpr std::string_view levelName(Level level) {
  switch (level) {
    case Level::kError:
      return "error";
    case Level::kWarn:
      return "warning";
    case Level::kInfo:
      return "info";
    case Level::kDebug:
      return "debug";
  }
  return "";
}

void flushLocked(State& s) {
  if (!s.file || s.buffer.empty()) return;
  // A full disk must not stop the tailer: the log is the one thing we may drop.
  [[maybe_unused]] auto r = sys::writeAll(s.file.get(), s.buffer.data(), s.buffer.size());
  s.buffer.clear();
}

}  // namespace

bool parseLevel(std::string_view text, Level& out) {
  for (Level l : {Level::kError, Level::kWarn, Level::kInfo, Level::kDebug}) {
    if (text == levelName(l) || (l == Level::kWarn && text == "warn")) {
      out = l;
      return true;
    }
  }
  return false;
}

std::string configure(Level min, const std::string& file) {
  State& s = state();
  std::lock_guard lock(s.mu);
  s.min = min;
  if (file.empty()) return {};
  auto fd = sys::openAppend(file, 0640);
  if (!fd) return fmt::format("cannot open log file {}: {}", file, std::strerror(fd.error().code));
  flushLocked(s);
  s.file = std::move(*fd);
  return {};
}

void write(Level level, std::string_view key, std::string_view text) {
  State& s = state();
  std::lock_guard lock(s.mu);
  if (level > s.min) return;
  const auto now = Clock::now();
  std::string line;
  if (level != Level::kError) {
    auto& r = s.repeats[std::string(key)];
    if (r.window_start != Clock::time_point{} && now - r.window_start < kRepeatWindow) {
      ++r.suppressed;
      return;
    }
    if (r.suppressed > 0) {
      line = fmt::format("sqtail: {}: (the previous message repeated {} more times in {}s)\n",
                         levelName(level), r.suppressed,
                         std::chrono::duration_cast<std::chrono::seconds>(kRepeatWindow).count());
    }
    r = Repeat{now, 0, level};
  }
  line += fmt::format("sqtail: {}: {}\n", levelName(level), text);
  if (!s.file) {
    [[maybe_unused]] auto w = sys::writeAll(STDERR_FILENO, line.data(), line.size());
    return;
  }
  s.buffer += line;
  if (level == Level::kError || s.buffer.size() > (64u << 10)) flushLocked(s);
}

void flush() {
  State& s = state();
  std::lock_guard lock(s.mu);
  // A storm that has ended still gets its count, one window late at most.
  const auto now = Clock::now();
  for (auto& [key, r] : s.repeats) {
    if (r.suppressed == 0 || now - r.window_start < kRepeatWindow) continue;
    const std::string line = fmt::format(
        "sqtail: {}: (the previous message repeated {} more times in {}s)\n", levelName(r.level),
        r.suppressed, std::chrono::duration_cast<std::chrono::seconds>(kRepeatWindow).count());
    if (s.file) {
      s.buffer += line;
    } else {
      [[maybe_unused]] auto w = sys::writeAll(STDERR_FILENO, line.data(), line.size());
    }
    r.suppressed = 0;
  }
  flushLocked(s);
}

}  // namespace sqtail::obs::log
