// Owns how query results are shown: an aligned terminal table, CSV, TSV or JSON.
// Pure formatting; any thread may call it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

namespace sqtail::cli {

enum class Format { kTable, kCsv, kTsv, kJson };
tl::expected<Format, std::string> parseFormat(std::string_view text);

struct Table {
  std::vector<std::string> headers;
  std::vector<bool> numeric;  // right-aligned in tables, unquoted numbers in JSON
  std::vector<std::vector<std::string>> rows;
  std::vector<std::vector<bool>> nulls;  // per cell: SQL NULL (empty in tables, null in JSON)

  void addRow(std::vector<std::string> cells, std::vector<bool> is_null = {});
};

std::string render(const Table& table, Format format);
// 1234567 -> "1,234,567"
std::string thousands(long long value);

}  // namespace sqtail::cli
