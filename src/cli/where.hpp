// Owns the `--where` filter of the read-side commands: its grammar, and its translation into
// an SQL condition whose values are all bound parameters. Pure; any thread may call it.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

namespace sqtail::cli {

// One `key=value`, `key!=value` or `key=a|b|c` term; the terms of a filter are ANDed.
struct WhereTerm {
  std::string key;                  // one of kWhereKeys
  bool negated = false;             // `!=`: none of the values
  std::vector<std::string> values;  // one of these (an empty value matches an absent field)

  friend bool operator==(const WhereTerm&, const WhereTerm&) = default;
};

// The keys a filter may name: the --by columns that are not time units.
inline constexpr std::string_view kWhereKeys[] = {"level", "category", "source", "file"};

// Parses "level=error,category=engine", "level!=debug", "level=warn|error". A backslash
// takes the next character literally, so values may hold ',', '|', '=', '!' or '\'.
// Spaces around keys and values are kept: log fields rarely have them, and guessing would
// make a value with a space unmatchable.
tl::expected<std::vector<WhereTerm>, std::string> parseWhere(std::string_view text);

// An SQL condition ("" when there are no terms) and the values for its placeholders, which
// are numbered from the `first_param` given to whereToSql.
struct SqlCondition {
  std::string sql;
  std::vector<std::string> params;
};

// `column` maps a key to the SQL expression it filters (chosen by the caller from fixed
// text, never from the user); each value becomes a `?N` parameter.
SqlCondition whereToSql(const std::vector<WhereTerm>& terms,
                        const std::function<std::string(std::string_view key)>& column,
                        int first_param);

}  // namespace sqtail::cli
