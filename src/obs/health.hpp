// Owns what /health reports: the facts the tail and writer threads publish (atomics) and the
// rule that turns them into "ok" or "degraded". Publish from the thread named beside each
// method; evaluate() from any thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <iterator>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace sqtail::obs {

struct HealthPolicy {
  // A sink that failed a commit this recently is failing. The writer retries a failing commit
  // at least every 5 s, so a sink that is still down never looks healthy in between.
  std::chrono::seconds failure_window{60};
  std::uint64_t lag_threshold = 64ull << 20;  // [http] lag_threshold
};

struct HealthReport {
  bool ok = true;
  std::vector<std::string> reasons;  // empty when ok
};

class SinkHealth {
 public:
  using Clock = std::chrono::steady_clock;

  explicit SinkHealth(std::string name) : name_(std::move(name)) {}

  // The sink's writer thread, on each failed commit attempt.
  void commitFailed(Clock::time_point now = Clock::now()) noexcept {
    last_failure_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
  }

  // A success ends the failing state at once: /health is ok again when the fault clears.
  void commitSucceeded() noexcept {
    if (last_failure_.load(std::memory_order_relaxed) != kNever) {
      last_failure_.store(kNever, std::memory_order_relaxed);
    }
  }

  const std::string& name() const { return name_; }
  std::optional<Clock::time_point> lastFailure() const noexcept {
    const Clock::rep t = last_failure_.load(std::memory_order_relaxed);
    if (t == kNever) return std::nullopt;
    return Clock::time_point(Clock::duration(t));
  }

 private:
  static constexpr Clock::rep kNever = std::numeric_limits<Clock::rep>::min();
  std::string name_;
  std::atomic<Clock::rep> last_failure_{kNever};
};

class Health {
 public:
  using Clock = std::chrono::steady_clock;

  // Main thread, at start-up, once per sink. The reference stays valid as long as the Health.
  SinkHealth& addSink(std::string name) {
    std::lock_guard lock(mu_);
    return sinks_.emplace_back(std::move(name));
  }

  // Tail thread: the most unread bytes (size - offset) of any tracked file, refreshed now and
  // then (computing it walks every file).
  void setMaxFileLag(std::uint64_t bytes) noexcept {
    max_file_lag_.store(bytes, std::memory_order_relaxed);
  }
  // Tail thread: true while changes are found by polling instead of inotify.
  void setPolling(bool polling) noexcept { polling_.store(polling, std::memory_order_relaxed); }
  // Tail thread: how many log files failed their last open or read (retried on a timer).
  void setFailingFiles(std::uint64_t n) noexcept {
    failing_files_.store(n, std::memory_order_relaxed);
  }

  HealthReport evaluate(const HealthPolicy& policy, Clock::time_point now = Clock::now()) const {
    HealthReport report;
    {
      std::lock_guard lock(mu_);
      for (const SinkHealth& sink : sinks_) {
        const auto failed = sink.lastFailure();
        if (!failed || now - *failed >= policy.failure_window) continue;
        const auto ago = std::chrono::duration_cast<std::chrono::seconds>(now - *failed);
        report.reasons.push_back(fmt::format("sink '{}' is failing: a commit failed {}s ago",
                                             sink.name(), std::max<std::int64_t>(0, ago.count())));
      }
    }
    const std::uint64_t lag = max_file_lag_.load(std::memory_order_relaxed);
    if (lag > policy.lag_threshold) {
      report.reasons.push_back(fmt::format("a file is {} behind (lag_threshold {})",
                                           humanBytes(lag), humanBytes(policy.lag_threshold)));
    }
    if (polling_.load(std::memory_order_relaxed)) {
      report.reasons.push_back(
          "watching by polling: inotify is unavailable or its watch limit is reached");
    }
    if (const auto failing = failing_files_.load(std::memory_order_relaxed); failing > 0) {
      report.reasons.push_back(
          fmt::format("{} log file{} cannot be opened or read (tried again every poll_interval)",
                      failing, failing == 1 ? "" : "s"));
    }
    report.ok = report.reasons.empty();
    return report;
  }

 private:
  static std::string humanBytes(std::uint64_t bytes) {
    constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    std::size_t u = 0;
    while (v >= 1024 && u + 1 < std::size(kUnits)) {
      v /= 1024;
      ++u;
    }
    return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, kUnits[u]);
  }

  mutable std::mutex mu_;  // guards the list sinks_, not the sinks' own atomics
  std::deque<SinkHealth> sinks_;
  std::atomic<std::uint64_t> max_file_lag_{0};
  std::atomic<bool> polling_{false};
  std::atomic<std::uint64_t> failing_files_{0};
};

}  // namespace sqtail::obs
