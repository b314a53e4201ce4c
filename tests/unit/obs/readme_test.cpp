// README's "## Metrics" section must be the table generated from src/obs/metrics_table.hpp.
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "obs/registry.hpp"

namespace sqtail::obs {
namespace {

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The text from the line after "## Metrics" up to the next "## " heading.
std::string metricsSection(const std::string& readme) {
  const std::string heading = "## Metrics\n";
  std::size_t start = 0;
  if (readme.rfind(heading, 0) != 0) {
    start = readme.find("\n" + heading);
    if (start == std::string::npos) return {};
    ++start;
  }
  start += heading.size();
  std::size_t end = readme.find("\n## ", start);
  return readme.substr(start, end == std::string::npos ? std::string::npos : end + 1 - start);
}

std::set<std::string> namesIn(const std::string& markdown) {
  std::set<std::string> names;
  std::size_t pos = 0;
  while ((pos = markdown.find("| `sqtail_", pos)) != std::string::npos) {
    const std::size_t start = pos + 3;
    const std::size_t end = markdown.find('`', start);
    names.insert(markdown.substr(start, end - start));
    pos = end;
  }
  return names;
}

TEST(Readme, MetricsSectionIsTheGeneratedTable) {
  const std::string generated = metricsMarkdown();
  const std::string out = std::string(SQTAIL_BUILD_ROOT) + "/metrics.md";
  std::ofstream(out, std::ios::binary) << generated;

  const std::string readme = readFile(std::string(SQTAIL_SOURCE_ROOT) + "/README.md");
  const std::string section = metricsSection(readme);
  const std::string fix = fmt::format("paste {} into README's ## Metrics section", out);
  ASSERT_FALSE(section.empty()) << "README.md has no \"## Metrics\" section: " << fix;
  if (section.find(generated) != std::string::npos) return;

  std::string diff;
  const auto want = namesIn(generated);
  const auto have = namesIn(section);
  for (const auto& name : want) {
    if (!have.contains(name)) diff += fmt::format("\n  missing from README: {}", name);
  }
  for (const auto& name : have) {
    if (!want.contains(name)) diff += fmt::format("\n  in README, not in the table: {}", name);
  }
  if (diff.empty()) diff = "\n  same names; a type, label or description differs";
  FAIL() << "README's ## Metrics section is not the table in src/obs/metrics_table.hpp: " << fix
         << diff;
}

}  // namespace
}  // namespace sqtail::obs
