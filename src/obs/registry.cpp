#include "obs/registry.hpp"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include <fmt/core.h>

#include "sys/sys.hpp"

#ifndef SQTAIL_VERSION
#error "SQTAIL_VERSION must be defined by the build (see src/obs/meson.build)"
#endif

namespace sqtail::obs {
namespace {

// Where default-constructed handles write. Shared and never read: a cheap stand-in for "off".
std::atomic<std::uint64_t> g_scratch_count{0};
std::atomic<double> g_scratch_value{0};

detail::HistogramCell* scratchHistogram() {
  static detail::HistogramCell cell{{}};
  return &cell;
}

[[noreturn]] void misuse(const MetricSpec& spec, std::string_view what) {
  fmt::print(stderr, "sqtail: bug: metric {}: {}\n", spec.name, what);
  std::abort();
}

std::string_view typeWord(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "a counter";
    case MetricType::kGauge:
      return "a gauge";
    case MetricType::kHistogram:
      return "a histogram";
  }
  return "?";
}

// A file under /proc is generated on read: one pread of a page returns all of these ones.
std::optional<std::string> readProcFile(const std::string& path) {
  auto fd = sys::openRead(path);
  if (!fd) return std::nullopt;
  std::string text(4096, '\0');
  auto n = sys::preadFull(fd->get(), text.data(), text.size(), 0);
  if (!n) return std::nullopt;
  text.resize(*n);
  return text;
}

// The whitespace-separated fields of `text`, from the first one on.
std::vector<std::string_view> fields(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t start = text.find_first_not_of(" \n", pos);
    if (start == std::string_view::npos) break;
    std::size_t end = text.find_first_of(" \n", start);
    if (end == std::string_view::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    pos = end;
  }
  return out;
}

std::optional<std::uint64_t> toNumber(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

Counter::Counter() noexcept : cell_(&g_scratch_count) {}
Gauge::Gauge() noexcept : cell_(&g_scratch_value) {}
Histogram::Histogram() noexcept : cell_(scratchHistogram()) {}

detail::HistogramCell::HistogramCell(std::span<const double> upper_bounds)
    : bounds(upper_bounds),
      counts(std::make_unique<std::atomic<std::uint64_t>[]>(upper_bounds.size() + 1)) {}

void Histogram::observe(double v) const noexcept {
  const auto& bounds = cell_->bounds;
  // `le` is inclusive: v lands in the first bucket whose bound is >= v; NaN only in +Inf.
  const std::size_t bucket =
      std::isnan(v) ? bounds.size()
                    : static_cast<std::size_t>(std::lower_bound(bounds.begin(), bounds.end(), v) -
                                               bounds.begin());
  cell_->counts[bucket].fetch_add(1, std::memory_order_relaxed);
  cell_->sum.fetch_add(v, std::memory_order_relaxed);
}

Registry::Registry(std::span<const MetricSpec> table) {
  for (std::size_t i = 0; i < table.size(); ++i) {
    if (static_cast<std::size_t>(table[i].id) != i) misuse(table[i], "table row out of order");
    families_.emplace_back(&table[i]);
  }
  for (const MetricSpec& spec : table) {
    if (spec.labels.empty()) child(spec.id, spec.type, {});
  }
}

Registry::Child& Registry::child(MetricId id, MetricType type,
                                 std::initializer_list<std::string_view> values) {
  std::lock_guard lock(mu_);
  const auto index = static_cast<std::size_t>(id);
  if (index >= families_.size()) std::abort();
  Family& family = families_[index];
  const MetricSpec& spec = *family.spec;
  if (spec.type != type) {
    misuse(spec, fmt::format("is {}, asked for as {}", typeWord(spec.type), typeWord(type)));
  }
  if (values.size() != spec.labels.size()) {
    misuse(spec, fmt::format("has {} labels, given {} values", spec.labels.size(), values.size()));
  }
  for (Child& c : family.children) {
    if (std::equal(c.label_values.begin(), c.label_values.end(), values.begin(), values.end())) {
      return c;
    }
  }
  Child& c = family.children.emplace_back();
  c.label_values.assign(values.begin(), values.end());
  if (type == MetricType::kHistogram) {
    c.histogram = std::make_unique<detail::HistogramCell>(spec.buckets);
  }
  return c;
}

Counter Registry::counter(MetricId id, std::initializer_list<std::string_view> label_values) {
  return Counter(&child(id, MetricType::kCounter, label_values).count);
}

Gauge Registry::gauge(MetricId id, std::initializer_list<std::string_view> label_values) {
  return Gauge(&child(id, MetricType::kGauge, label_values).value);
}

Histogram Registry::histogram(MetricId id, std::initializer_list<std::string_view> label_values) {
  return Histogram(child(id, MetricType::kHistogram, label_values).histogram.get());
}

void Registry::addCollector(std::function<void()> collect) {
  std::lock_guard lock(collect_mu_);
  collectors_.push_back(std::move(collect));
}

void addProcessCollector(Registry& registry) {
  registry.gauge(MetricId::kBuildInfo, {SQTAIL_VERSION}).set(1);
  const Gauge rss = registry.gauge(MetricId::kResidentMemoryBytes);
  const Counter cpu = registry.counter(MetricId::kCpuSeconds);
  const auto page_bytes = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  const auto ticks_per_second = static_cast<std::uint64_t>(sysconf(_SC_CLK_TCK));
  registry.addCollector([=] {
    // statm: size resident shared ... (in pages)
    if (auto statm = readProcFile("/proc/self/statm")) {
      const auto f = fields(*statm);
      if (f.size() > 1) {
        if (auto pages = toNumber(f[1])) rss.set(static_cast<double>(*pages * page_bytes));
      }
    }
    // stat: pid (comm) state ppid ... utime stime ...; comm may hold spaces and parentheses,
    // so count fields from the last ')': utime and stime are the 12th and 13th after it.
    if (auto stat = readProcFile("/proc/self/stat")) {
      const std::size_t paren = stat->rfind(')');
      if (paren == std::string::npos) return;
      const auto f = fields(std::string_view(*stat).substr(paren + 1));
      if (f.size() > 12) {
        const auto utime = toNumber(f[11]);
        const auto stime = toNumber(f[12]);
        if (utime && stime && ticks_per_second > 0) {
          cpu.set((*utime + *stime) * 1'000'000 / ticks_per_second);  // the counter is in µs
        }
      }
    }
  });
}

void addDatabaseCollector(Registry& registry, std::filesystem::path db) {
  const Gauge db_size = registry.gauge(MetricId::kDbSizeBytes);
  const Gauge wal_size = registry.gauge(MetricId::kDbWalSizeBytes);
  registry.addCollector([db_size, wal_size, main = db.string(), wal = db.string() + "-wal"] {
    // A missing -wal file is normal (checkpointed and removed, or not created yet): size 0.
    auto size = [](const std::string& path) {
      auto st = sys::stat(path);
      return st ? static_cast<double>(st->st_size) : 0.0;
    };
    db_size.set(size(main));
    wal_size.set(size(wal));
  });
}

}  // namespace sqtail::obs
