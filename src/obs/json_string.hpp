// A string as a JSON string literal: quotes, backslashes and control characters escaped, other
// bytes (UTF-8 included) as they are. Used by /health and by the CLI's --format json.
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>

namespace sqtail::obs {

inline void appendJsonString(std::string& out, std::string_view s) {
  out += '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

}  // namespace sqtail::obs
