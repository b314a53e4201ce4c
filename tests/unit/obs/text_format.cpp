#include "text_format.hpp"

#include <cmath>
#include <cstdlib>
#include <set>

#include <fmt/format.h>

namespace sqtail::obs::testing {
namespace {

bool isNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool isNameChar(char c) { return isNameStart(c) || (c >= '0' && c <= '9'); }
bool isMetricName(std::string_view s) {
  if (s.empty() || !isNameStart(s[0])) return false;
  for (char c : s) {
    if (!isNameChar(c)) return false;
  }
  return true;
}
bool isLabelName(std::string_view s) {
  return isMetricName(s) && s.find(':') == std::string_view::npos;
}

bool parseValue(std::string_view text, double& out) {
  if (text == "+Inf") {
    out = INFINITY;
    return true;
  }
  if (text == "-Inf") {
    out = -INFINITY;
    return true;
  }
  if (text == "NaN") {
    out = NAN;
    return true;
  }
  if (text.empty()) return false;
  const std::string copy(text);
  char* end = nullptr;
  out = std::strtod(copy.c_str(), &end);
  // strtod also takes "inf", "nan" and hex floats, which Prometheus does not write.
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')) {
      return false;
    }
  }
  return end == copy.c_str() + copy.size();
}

// Reads an escaped string up to its closing quote; `pos` starts after the opening quote.
bool readQuoted(std::string_view line, std::size_t& pos, std::string& out, bool allow_quote) {
  while (pos < line.size()) {
    const char c = line[pos++];
    if (c == '"' && allow_quote) return true;
    if (c == '\n') return false;
    if (c != '\\') {
      out += c;
      continue;
    }
    if (pos >= line.size()) return false;
    const char e = line[pos++];
    if (e == '\\') {
      out += '\\';
    } else if (e == 'n') {
      out += '\n';
    } else if (e == '"' && allow_quote) {
      out += '"';
    } else {
      return false;
    }
  }
  return !allow_quote;  // a label value must be closed; help text ends with the line
}

std::string_view familyOf(std::string_view name, const ParsedText& parsed) {
  for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (name.size() > suffix.size() && name.substr(name.size() - suffix.size()) == suffix) {
      const std::string_view base = name.substr(0, name.size() - suffix.size());
      auto it = parsed.types.find(base);
      if (it != parsed.types.end() && it->second == "histogram") return base;
    }
  }
  return name;
}

}  // namespace

std::string Sample::label(std::string_view label_name) const {
  for (const auto& [k, v] : labels) {
    if (k == label_name) return v;
  }
  return {};
}

std::vector<Sample> ParsedText::find(std::string_view name,
                                     std::vector<std::pair<std::string, std::string>> with) const {
  std::vector<Sample> out;
  for (const Sample& s : samples) {
    if (s.name != name) continue;
    bool all = true;
    for (const auto& [k, v] : with) all = all && s.label(k) == v;
    if (all) out.push_back(s);
  }
  return out;
}

tl::expected<ParsedText, std::string> parseText(std::string_view text) {
  ParsedText parsed;
  if (!text.empty() && text.back() != '\n') return tl::make_unexpected("no final newline");
  std::set<std::string, std::less<>> sampled_families;
  std::size_t line_no = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    auto fail = [&](std::string_view why) {
      return tl::make_unexpected(fmt::format("line {}: {}: {:?}", line_no, why, line));
    };
    if (line.empty()) return fail("empty line");
    if (line[0] == '#') {
      if (line.substr(0, 7) == "# HELP ") {
        const std::size_t space = line.find(' ', 7);
        if (space == std::string_view::npos) return fail("HELP without text");
        const std::string name(line.substr(7, space - 7));
        if (!isMetricName(name)) return fail("bad metric name");
        if (parsed.helps.contains(name)) return fail("second HELP");
        std::string help;
        std::size_t pos = space + 1;
        if (!readQuoted(line, pos, help, false)) return fail("bad escape in HELP");
        parsed.helps[name] = help;
      } else if (line.substr(0, 7) == "# TYPE ") {
        const std::size_t space = line.find(' ', 7);
        if (space == std::string_view::npos) return fail("TYPE without type");
        const std::string name(line.substr(7, space - 7));
        const std::string type(line.substr(space + 1));
        if (!isMetricName(name)) return fail("bad metric name");
        if (type != "counter" && type != "gauge" && type != "histogram" && type != "summary" &&
            type != "untyped") {
          return fail("unknown type");
        }
        if (parsed.types.contains(name)) return fail("second TYPE");
        if (sampled_families.contains(name)) return fail("TYPE after samples");
        parsed.types[name] = type;
      } else {
        return fail("a comment that is neither HELP nor TYPE");
      }
      continue;
    }
    Sample sample;
    std::size_t pos = 0;
    while (pos < line.size() && isNameChar(line[pos])) ++pos;
    sample.name = std::string(line.substr(0, pos));
    if (!isMetricName(sample.name)) return fail("bad metric name");
    if (pos < line.size() && line[pos] == '{') {
      ++pos;
      std::set<std::string> seen;
      while (pos < line.size() && line[pos] != '}') {
        const std::size_t name_start = pos;
        while (pos < line.size() && isNameChar(line[pos])) ++pos;
        std::string label_name(line.substr(name_start, pos - name_start));
        if (!isLabelName(label_name)) return fail("bad label name");
        if (!seen.insert(label_name).second) return fail("duplicate label");
        if (line.substr(pos, 2) != "=\"") return fail("expected =\" after a label name");
        pos += 2;
        std::string value;
        if (!readQuoted(line, pos, value, true)) return fail("bad label value");
        sample.labels.emplace_back(std::move(label_name), std::move(value));
        if (pos < line.size() && line[pos] == ',') ++pos;
      }
      if (pos >= line.size()) return fail("unclosed label set");
      ++pos;
    }
    if (pos >= line.size() || line[pos] != ' ') return fail("expected a space before the value");
    ++pos;
    std::string_view rest = line.substr(pos);
    const std::size_t space = rest.find(' ');
    const std::string_view value = rest.substr(0, space);
    if (!parseValue(value, sample.value)) return fail("bad value");
    if (space != std::string_view::npos) {
      double timestamp = 0;
      if (!parseValue(rest.substr(space + 1), timestamp)) return fail("bad timestamp");
    }
    const std::string_view family = familyOf(sample.name, parsed);
    if (!parsed.types.contains(family)) return fail("a sample without a TYPE line before it");
    sampled_families.emplace(family);
    parsed.samples.push_back(std::move(sample));
  }

  // Histograms: buckets ascending and cumulative, ending in +Inf equal to _count.
  for (const auto& [family, type] : parsed.types) {
    if (type != "histogram") continue;
    std::map<std::vector<std::pair<std::string, std::string>>, std::vector<const Sample*>> series;
    for (const Sample& s : parsed.samples) {
      if (s.name != family + "_bucket") continue;
      auto key = s.labels;
      std::erase_if(key, [](const auto& kv) { return kv.first == "le"; });
      if (key.size() == s.labels.size()) return tl::make_unexpected(family + ": bucket without le");
      series[key].push_back(&s);
    }
    for (const auto& [key, buckets] : series) {
      double last_le = -INFINITY;
      double last_count = 0;
      for (const Sample* b : buckets) {
        double le = 0;
        if (!parseValue(b->label("le"), le) || le <= last_le) {
          return tl::make_unexpected(family + ": le not ascending");
        }
        if (b->value < last_count) return tl::make_unexpected(family + ": buckets not cumulative");
        last_le = le;
        last_count = b->value;
      }
      if (!std::isinf(last_le)) return tl::make_unexpected(family + ": no +Inf bucket");
      int counts = 0;
      int sums = 0;
      for (const Sample& s : parsed.samples) {
        if (s.labels != key) continue;
        if (s.name == family + "_count") {
          ++counts;
          if (s.value != last_count) return tl::make_unexpected(family + ": _count != +Inf");
        }
        if (s.name == family + "_sum") ++sums;
      }
      if (counts != 1 || sums != 1) return tl::make_unexpected(family + ": _sum/_count missing");
    }
  }
  return parsed;
}

}  // namespace sqtail::obs::testing
