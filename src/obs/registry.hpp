// Owns the live metric values: one family per row of the metrics table, a child per set of
// label values, and the handles the threads update. Handles: any thread, lock-free, no lookup.
// counter()/gauge()/histogram()/addCollector()/scrape(): any thread (lock order below).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "obs/metrics_table.hpp"

namespace sqtail::obs {

// A handle on one counter child. Resolve it once (Registry::counter) and keep it: inc() is one
// relaxed atomic add. A default-constructed handle writes to a shared scratch cell, so code
// can run without a registry (unit tests of other modules).
class Counter {
 public:
  Counter() noexcept;
  void inc() const noexcept { cell_->fetch_add(1, std::memory_order_relaxed); }
  void add(std::uint64_t n) const noexcept { cell_->fetch_add(n, std::memory_order_relaxed); }
  // For a collector that reads a total kept elsewhere (CPU time) at scrape time.
  void set(std::uint64_t total) const noexcept { cell_->store(total, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return cell_->load(std::memory_order_relaxed); }

 private:
  friend class Registry;
  explicit Counter(std::atomic<std::uint64_t>* cell) : cell_(cell) {}
  std::atomic<std::uint64_t>* cell_;
};

class Gauge {
 public:
  Gauge() noexcept;
  void set(double v) const noexcept { cell_->store(v, std::memory_order_relaxed); }
  void add(double d) const noexcept { cell_->fetch_add(d, std::memory_order_relaxed); }
  void inc() const noexcept { add(1); }
  void dec() const noexcept { add(-1); }
  double value() const noexcept { return cell_->load(std::memory_order_relaxed); }

 private:
  friend class Registry;
  explicit Gauge(std::atomic<double>* cell) : cell_(cell) {}
  std::atomic<double>* cell_;
};

namespace detail {
struct HistogramCell {
  explicit HistogramCell(std::span<const double> upper_bounds);
  std::span<const double> bounds;
  // Per bucket, not cumulative; the last one is +Inf. _count is their sum, so a scrape never
  // shows a +Inf bucket that disagrees with _count.
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts;
  std::atomic<double> sum{0};
};
}  // namespace detail

class Histogram {
 public:
  Histogram() noexcept;
  void observe(double v) const noexcept;

 private:
  friend class Registry;
  explicit Histogram(detail::HistogramCell* cell) : cell_(cell) {}
  detail::HistogramCell* cell_;
};

class Registry {
 public:
  // `table` must outlive the registry; row i must have id i. Unlabelled metrics get their one
  // child now, so they show as 0 before anything happens.
  explicit Registry(std::span<const MetricSpec> table = kMetrics);
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The child for these label values (one per label name, in table order), created on first
  // use; the same values give the same child. Asking for the wrong type or label count is a
  // bug and aborts. Call at start-up, not per event: this takes a lock and compares strings.
  Counter counter(MetricId id, std::initializer_list<std::string_view> label_values = {});
  Gauge gauge(MetricId id, std::initializer_list<std::string_view> label_values = {});
  Histogram histogram(MetricId id, std::initializer_list<std::string_view> label_values = {});

  // Runs before each scrape, on the scraping thread, to refresh values kept elsewhere. It must
  // not call counter()/gauge()/histogram(): resolve its handles when adding it.
  void addCollector(std::function<void()> collect);

  // Runs the collectors, then renders every family in Prometheus text format 0.0.4.
  std::string scrape();

 private:
  struct Child {
    std::vector<std::string> label_values;
    // One cache line per child: counters written by different threads do not share one.
    alignas(64) std::atomic<std::uint64_t> count{0};
    std::atomic<double> value{0};
    std::unique_ptr<detail::HistogramCell> histogram;
  };
  struct Family {
    explicit Family(const MetricSpec* s) : spec(s) {}
    const MetricSpec* spec;
    std::deque<Child> children;  // a deque: children never move, handles stay valid
  };

  Child& child(MetricId id, MetricType type, std::initializer_list<std::string_view> values);
  void render(std::string& out) const;  // exposition.cpp; needs mu_ held

  // Lock order: collect_mu_, then mu_.
  std::mutex collect_mu_;
  std::vector<std::function<void()>> collectors_;
  mutable std::mutex mu_;
  std::deque<Family> families_;  // one per table row, in table order
};

// Sets sqtail_build_info{version} to 1 and adds a collector for the process's resident memory
// and CPU time (read from /proc/self at scrape time). Needs the sqtail table.
void addProcessCollector(Registry& registry);
// Adds a collector for the sizes of the SQLite database file and its -wal file.
void addDatabaseCollector(Registry& registry, std::filesystem::path db);

// README's list of metrics: a Markdown table made from `table`.
std::string metricsMarkdown(std::span<const MetricSpec> table = kMetrics);

// Label values and help text escaped as the text format asks (exposed for tests).
std::string escapeLabelValue(std::string_view value);
std::string escapeHelp(std::string_view help);

}  // namespace sqtail::obs
