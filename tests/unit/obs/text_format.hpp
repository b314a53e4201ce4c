// A strict reader of the Prometheus text format 0.0.4, for the tests: every line must be a
// # HELP or # TYPE comment or a sample of a family typed before it; histograms must be whole.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

namespace sqtail::obs::testing {

struct Sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // values unescaped
  double value = 0;

  std::string label(std::string_view name) const;  // "" when absent
};

struct ParsedText {
  std::vector<Sample> samples;
  std::map<std::string, std::string, std::less<>> types;  // family -> counter/gauge/histogram
  std::map<std::string, std::string, std::less<>> helps;  // family -> help, unescaped

  // The samples named `name` whose labels include every pair of `with`.
  std::vector<Sample> find(std::string_view name,
                           std::vector<std::pair<std::string, std::string>> with = {}) const;
};

tl::expected<ParsedText, std::string> parseText(std::string_view text);

}  // namespace sqtail::obs::testing
