#include "cli/table.hpp"

#include <algorithm>

#include <fmt/core.h>

#include "obs/json_string.hpp"

namespace sqtail::cli {

tl::expected<Format, std::string> parseFormat(std::string_view text) {
  if (text == "table") return Format::kTable;
  if (text == "csv") return Format::kCsv;
  if (text == "tsv") return Format::kTsv;
  if (text == "json") return Format::kJson;
  return tl::unexpected(fmt::format("unknown format '{}': use table, csv, tsv or json", text));
}

void Table::addRow(std::vector<std::string> cells, std::vector<bool> is_null) {
  is_null.resize(cells.size(), false);
  rows.push_back(std::move(cells));
  nulls.push_back(std::move(is_null));
}

std::string thousands(long long value) {
  std::string digits = std::to_string(value < 0 ? -value : value);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return value < 0 ? "-" + out : out;
}

namespace {

std::string csvCell(const std::string& s, char sep) {
  if (s.find_first_of(std::string("\"\n\r") + sep) == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + '"';
}

std::string jsonString(const std::string& s) {
  std::string out;
  obs::appendJsonString(out, s);
  return out;
}

bool looksNumeric(const std::string& s) {
  if (s.empty()) return false;
  std::size_t i = s[0] == '-' ? 1 : 0;
  bool digit = false;
  for (; i < s.size(); ++i) {
    if (s[i] >= '0' && s[i] <= '9') {
      digit = true;
    } else if (s[i] != '.' && s[i] != 'e' && s[i] != 'E' && s[i] != '+' && s[i] != '-') {
      return false;
    }
  }
  return digit;
}

}  // namespace

std::string render(const Table& t, Format format) {
  std::string out;
  const std::size_t cols = t.headers.size();
  auto isNum = [&](std::size_t c) { return c < t.numeric.size() && t.numeric[c]; };
  switch (format) {
    case Format::kCsv:
    case Format::kTsv: {
      const char sep = format == Format::kCsv ? ',' : '\t';
      auto line = [&](const std::vector<std::string>& cells) {
        for (std::size_t c = 0; c < cells.size(); ++c) {
          if (c) out += sep;
          out += format == Format::kCsv ? csvCell(cells[c], sep) : cells[c];
        }
        out += '\n';
      };
      line(t.headers);
      for (const auto& r : t.rows) line(r);
      break;
    }
    case Format::kJson: {
      out += "[";
      for (std::size_t r = 0; r < t.rows.size(); ++r) {
        out += r ? ",\n {" : "\n {";
        for (std::size_t c = 0; c < cols; ++c) {
          if (c) out += ", ";
          out += jsonString(t.headers[c]) + ": ";
          const auto& v = t.rows[r][c];
          if (t.nulls[r][c]) {
            out += "null";
          } else if (isNum(c) && looksNumeric(v)) {
            out += v;
          } else {
            out += jsonString(v);
          }
        }
        out += "}";
      }
      out += t.rows.empty() ? "]\n" : "\n]\n";
      break;
    }
    case Format::kTable: {
      std::vector<std::size_t> width(cols);
      for (std::size_t c = 0; c < cols; ++c) width[c] = t.headers[c].size();
      for (const auto& r : t.rows) {
        for (std::size_t c = 0; c < cols && c < r.size(); ++c)
          width[c] = std::max(width[c], r[c].size());
      }
      auto line = [&](const std::vector<std::string>& cells) {
        std::string l;
        for (std::size_t c = 0; c < cols; ++c) {
          if (c) l += "  ";
          const std::string& v = c < cells.size() ? cells[c] : std::string();
          std::string pad(width[c] - std::min(width[c], v.size()), ' ');
          l += isNum(c) ? pad + v : v + pad;
        }
        while (!l.empty() && l.back() == ' ') l.pop_back();
        out += l + '\n';
      };
      line(t.headers);
      for (const auto& r : t.rows) line(r);
      break;
    }
  }
  return out;
}

}  // namespace sqtail::cli
