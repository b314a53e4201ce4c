// Owns the metric handles the tail and writer threads bump, resolved once at start-up so the
// hot path is one relaxed atomic add. Built on the main thread; each handle has one writer
// thread (named beside it), and obs::Registry renders them on the HTTP thread.
#pragma once

#include <array>
#include <vector>

#include "config/config.hpp"
#include "obs/health.hpp"
#include "obs/registry.hpp"
#include "parse/extractor.hpp"

namespace sqtail::app {

struct TailMetrics {                                                     // tail thread
  std::vector<obs::Counter> lines_read, bytes_read, rotated, truncated;  // per source index
  std::vector<obs::Counter> stack_hits, stack_misses;                    // per source index
  std::vector<obs::Gauge> files_tracked;                                 // per source index
  std::vector<obs::Counter> open_errors, read_errors;                    // per source index
  std::array<obs::Counter, parse::kRejectReasonCount> rejects;           // per reason
  obs::Gauge deleted_bytes, inotify_watches, buffered, files_failing;
  obs::Counter inotify_overflows, polling_fallbacks, backpressure_us;
  obs::Health* health = nullptr;
  obs::Registry* registry = nullptr;  // null in tests: handles write to a scratch cell

  // Per-source handles, by index into config.sources (again after a reload).
  void resolveSources(const config::Config& config) {
    lines_read.clear(), bytes_read.clear(), rotated.clear(), truncated.clear();
    stack_hits.clear(), stack_misses.clear();
    files_tracked.clear();
    open_errors.clear(), read_errors.clear();
    for (const auto& src : config.sources) {
      if (registry == nullptr) {
        lines_read.emplace_back(), bytes_read.emplace_back(), rotated.emplace_back();
        truncated.emplace_back(), files_tracked.emplace_back();
        stack_hits.emplace_back(), stack_misses.emplace_back();
        open_errors.emplace_back(), read_errors.emplace_back();
        continue;
      }
      lines_read.push_back(registry->counter(obs::MetricId::kLinesRead, {src.name}));
      bytes_read.push_back(registry->counter(obs::MetricId::kBytesRead, {src.name}));
      rotated.push_back(registry->counter(obs::MetricId::kFilesRotated, {src.name}));
      truncated.push_back(registry->counter(obs::MetricId::kFilesTruncated, {src.name}));
      stack_hits.push_back(registry->counter(obs::MetricId::kStackCacheHits, {src.name}));
      stack_misses.push_back(registry->counter(obs::MetricId::kStackCacheMisses, {src.name}));
      files_tracked.push_back(registry->gauge(obs::MetricId::kFilesTracked, {src.name}));
      open_errors.push_back(registry->counter(obs::MetricId::kFileErrors, {src.name, "open"}));
      read_errors.push_back(registry->counter(obs::MetricId::kFileErrors, {src.name, "read"}));
    }
  }

  static TailMetrics resolve(obs::Registry& registry, obs::Health& health,
                             const config::Config& config) {
    TailMetrics m;
    m.registry = &registry;
    m.resolveSources(config);
    for (int i = 0; i < parse::kRejectReasonCount; ++i) {
      m.rejects[static_cast<std::size_t>(i)] = registry.counter(
          obs::MetricId::kRejects, {parse::reasonName(static_cast<parse::RejectReason>(i))});
    }
    m.deleted_bytes = registry.gauge(obs::MetricId::kDeletedFileBytes);
    m.inotify_watches = registry.gauge(obs::MetricId::kInotifyWatches);
    m.buffered = registry.gauge(obs::MetricId::kBufferedBytes);
    m.files_failing = registry.gauge(obs::MetricId::kFilesFailing);
    m.inotify_overflows = registry.counter(obs::MetricId::kInotifyOverflows);
    m.polling_fallbacks = registry.counter(obs::MetricId::kPollingFallbacks);
    m.backpressure_us = registry.counter(obs::MetricId::kBackpressureSeconds);
    m.health = &health;
    return m;
  }
};

struct SinkMetrics {  // the sink's writer thread
  obs::Counter records, batches, failures;
  obs::Histogram rows, duration, lag;
  obs::SinkHealth* health = nullptr;

  static SinkMetrics resolve(obs::Registry& registry, obs::Health& health, std::string_view sink) {
    SinkMetrics m;
    m.records = registry.counter(obs::MetricId::kRecordsCommitted, {sink});
    m.batches = registry.counter(obs::MetricId::kBatchesCommitted, {sink});
    m.failures = registry.counter(obs::MetricId::kCommitFailures, {sink});
    m.rows = registry.histogram(obs::MetricId::kBatchRows, {sink});
    m.duration = registry.histogram(obs::MetricId::kCommitDuration, {sink});
    m.lag = registry.histogram(obs::MetricId::kCommitLag, {sink});
    m.health = &health.addSink(std::string(sink));
    return m;
  }
};

}  // namespace sqtail::app
