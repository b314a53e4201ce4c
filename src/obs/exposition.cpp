// The Prometheus text format 0.0.4 for Registry::scrape(), and the Markdown list for README.
// https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
#include <cmath>
#include <iterator>

#include <fmt/format.h>

#include "obs/registry.hpp"

namespace sqtail::obs {
namespace {

std::string_view typeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// Go's ParseFloat reads what fmt writes for finite values ("0.25", "1e-06", "1234567");
// the three special values have their own spelling in the format.
void appendNumber(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    fmt::format_to(std::back_inserter(out), "{}", v);
  }
}

void appendLabels(std::string& out, std::span<const std::string_view> names,
                  const std::vector<std::string>& values, std::string_view le = {}) {
  if (names.empty() && le.empty()) return;
  out += '{';
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    out += escapeLabelValue(values[i]);
    out += '"';
  }
  if (!le.empty()) {
    if (!names.empty()) out += ',';
    out += "le=\"";
    out += le;
    out += '"';
  }
  out += '}';
}

std::string markdownCell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') {
      out += ' ';  // a table row is one line
      continue;
    }
    if (c == '|') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::string escapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string escapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Registry::scrape() {
  std::lock_guard collect_lock(collect_mu_);
  for (const auto& collect : collectors_) collect();
  std::string out;
  out.reserve(8192);
  std::lock_guard lock(mu_);
  render(out);
  return out;
}

void Registry::render(std::string& out) const {
  for (const Family& family : families_) {
    const MetricSpec& spec = *family.spec;
    // Families with no child yet (labelled, nothing seen) still say what they are.
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", spec.name,
                   escapeHelp(spec.help), spec.name, typeName(spec.type));
    for (const Child& child : family.children) {
      switch (spec.type) {
        case MetricType::kCounter: {
          out += spec.name;
          appendLabels(out, spec.labels, child.label_values);
          out += ' ';
          const std::uint64_t count = child.count.load(std::memory_order_relaxed);
          if (spec.scale == 1) {
            fmt::format_to(std::back_inserter(out), "{}", count);
          } else {
            appendNumber(out, static_cast<double>(count) * spec.scale);
          }
          out += '\n';
          break;
        }
        case MetricType::kGauge:
          out += spec.name;
          appendLabels(out, spec.labels, child.label_values);
          out += ' ';
          appendNumber(out, child.value.load(std::memory_order_relaxed));
          out += '\n';
          break;
        case MetricType::kHistogram: {
          const detail::HistogramCell& cell = *child.histogram;
          std::uint64_t cumulative = 0;
          std::string le;
          for (std::size_t b = 0; b <= cell.bounds.size(); ++b) {
            cumulative += cell.counts[b].load(std::memory_order_relaxed);
            le.clear();
            if (b < cell.bounds.size()) {
              appendNumber(le, cell.bounds[b]);
            } else {
              le = "+Inf";
            }
            fmt::format_to(std::back_inserter(out), "{}_bucket", spec.name);
            appendLabels(out, spec.labels, child.label_values, le);
            fmt::format_to(std::back_inserter(out), " {}\n", cumulative);
          }
          fmt::format_to(std::back_inserter(out), "{}_sum", spec.name);
          appendLabels(out, spec.labels, child.label_values);
          out += ' ';
          appendNumber(out, cell.sum.load(std::memory_order_relaxed));
          fmt::format_to(std::back_inserter(out), "\n{}_count", spec.name);
          appendLabels(out, spec.labels, child.label_values);
          fmt::format_to(std::back_inserter(out), " {}\n", cumulative);
          break;
        }
      }
    }
  }
}

std::string metricsMarkdown(std::span<const MetricSpec> table) {
  std::string out =
      "| Metric | Type | Labels | Description |\n"
      "| --- | --- | --- | --- |\n";
  for (const MetricSpec& spec : table) {
    std::string labels;
    for (std::string_view label : spec.labels) {
      if (!labels.empty()) labels += ", ";
      labels += fmt::format("`{}`", label);
    }
    fmt::format_to(std::back_inserter(out), "| `{}` | {} | {} | {} |\n", spec.name,
                   typeName(spec.type), labels, markdownCell(spec.help));
  }
  return out;
}

}  // namespace sqtail::obs
