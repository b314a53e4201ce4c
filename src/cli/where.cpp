#include "cli/where.hpp"

#include <algorithm>

#include <fmt/core.h>

namespace sqtail::cli {

namespace {

// Splits at each `sep` that no backslash escapes; the pieces keep their escapes.
std::vector<std::string_view> splitUnescaped(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\') {
      ++i;
    } else if (text[i] == sep) {
      parts.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  parts.push_back(text.substr(start));
  return parts;
}

// The first `c` that no backslash escapes, or npos.
std::size_t findUnescaped(std::string_view text, char c) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\') {
      ++i;
    } else if (text[i] == c) {
      return i;
    }
  }
  return std::string_view::npos;
}

std::string unescape(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) ++i;
    out += text[i];
  }
  return out;
}

std::string keyList() {
  std::string list;
  const std::size_t n = std::size(kWhereKeys);
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) list += i + 1 == n ? " or " : ", ";
    list += kWhereKeys[i];
  }
  return list;
}

bool isTimeUnit(std::string_view key) {
  return key == "minute" || key == "hour" || key == "day" || key == "ts" || key == "time";
}

tl::expected<WhereTerm, std::string> parseTerm(std::string_view term) {
  const std::size_t eq = findUnescaped(term, '=');
  if (eq == std::string_view::npos) {
    return tl::unexpected(
        fmt::format("--where: '{}' has no '=' or '!=' (write it like level=error)", term));
  }
  WhereTerm out;
  std::string_view key = term.substr(0, eq);
  // '!' is only an operator right before '=', and only when not escaped itself.
  if (!key.empty() && key.back() == '!' && (key.size() < 2 || key[key.size() - 2] != '\\')) {
    out.negated = true;
    key.remove_suffix(1);
  }
  if (key.empty()) {
    return tl::unexpected(
        fmt::format("--where: '{}' has no key before the '{}'", term, out.negated ? "!=" : "="));
  }
  if (std::find(std::begin(kWhereKeys), std::end(kWhereKeys), key) == std::end(kWhereKeys)) {
    std::string text = fmt::format("--where: unknown key '{}': use {}", key, keyList());
    if (isTimeUnit(key)) text += " (time is filtered with --since and --until)";
    return tl::unexpected(std::move(text));
  }
  out.key = std::string(key);
  const std::string_view values = term.substr(eq + 1);
  if (!values.empty() && values.back() == '\\' &&
      (values.size() - (values.find_last_not_of('\\') + 1)) % 2 == 1) {
    return tl::unexpected(
        fmt::format("--where: '{}' ends in a lone '\\' (write '\\\\' for a backslash)", term));
  }
  for (std::string_view value : splitUnescaped(values, '|')) {
    // "level==error" would otherwise look for the value "=error" and quietly match nothing.
    if (findUnescaped(value, '=') != std::string_view::npos) {
      return tl::unexpected(fmt::format(
          "--where: '{}': use one '=' or '!=' per condition (write '\\=' for a literal '=')",
          term));
    }
    out.values.push_back(unescape(value));
  }
  return out;
}

}  // namespace

tl::expected<std::vector<WhereTerm>, std::string> parseWhere(std::string_view text) {
  if (text.empty()) {
    return tl::unexpected(std::string("--where: empty filter (write it like level=error)"));
  }
  std::vector<WhereTerm> terms;
  for (std::string_view term : splitUnescaped(text, ',')) {
    if (term.empty()) {
      return tl::unexpected(
          fmt::format("--where: '{}' has an empty condition (a ',' too many?)", text));
    }
    auto parsed = parseTerm(term);
    if (!parsed) return tl::unexpected(std::move(parsed.error()));
    terms.push_back(std::move(*parsed));
  }
  return terms;
}

SqlCondition whereToSql(const std::vector<WhereTerm>& terms,
                        const std::function<std::string(std::string_view key)>& column,
                        int first_param) {
  SqlCondition out;
  int param = first_param;
  for (const auto& term : terms) {
    if (!out.sql.empty()) out.sql += " AND ";
    const std::string col = column(term.key);
    if (term.values.size() == 1) {
      out.sql += fmt::format("{} {} ?{}", col, term.negated ? "!=" : "=", param++);
    } else {
      out.sql += fmt::format("{} {}IN (", col, term.negated ? "NOT " : "");
      for (std::size_t i = 0; i < term.values.size(); ++i) {
        out.sql += fmt::format("{}?{}", i ? ", " : "", param++);
      }
      out.sql += ")";
    }
    out.params.insert(out.params.end(), term.values.begin(), term.values.end());
  }
  return out;
}

}  // namespace sqtail::cli
