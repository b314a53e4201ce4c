// libFuzzer target for config::loadString, the TOML config loader. Built by
// `meson setup -Dfuzz=true` (clang); run by `scripts/test --fuzz SECONDS`.
// Beyond "no crash, no sanitizer report, no exception out of the loader", it checks that
// every error names a line: each line of the message starts with "fuzz.toml:N:" (N >= 1), the
// form the README promises ("sqtail: bad.toml:2: unknown key ..."). One exception: a TOML
// syntax error ("fuzz.toml:N:C: ...", always alone) quotes toml++'s description, which can
// hold a raw newline (seed regression_toml_error_with_newline; reported, cosmetic).
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "config/config.hpp"

namespace {

constexpr std::string_view kOrigin = "fuzz.toml";

// "fuzz.toml:12: ..." or "fuzz.toml:12:3: ..." (toml++'s parse errors add the column).
bool namesALine(std::string_view line) {
  if (line.substr(0, kOrigin.size()) != kOrigin) return false;
  line.remove_prefix(kOrigin.size());
  if (line.empty() || line.front() != ':') return false;
  line.remove_prefix(1);
  std::size_t digits = 0;
  std::uint64_t number = 0;
  while (digits < line.size() && std::isdigit(static_cast<unsigned char>(line[digits]))) {
    number = number * 10 + static_cast<std::uint64_t>(line[digits] - '0');
    if (++digits > 9) return false;
  }
  return digits > 0 && number >= 1 && digits < line.size() && line[digits] == ':';
}

// toml++'s errors carry a column too: "fuzz.toml:12:7: ...".
bool isSyntaxError(std::string_view message) {
  std::size_t pos = kOrigin.size() + 1;
  while (pos < message.size() && std::isdigit(static_cast<unsigned char>(message[pos]))) ++pos;
  if (pos >= message.size() || message[pos] != ':') return false;
  const std::size_t column = ++pos;
  while (pos < message.size() && std::isdigit(static_cast<unsigned char>(message[pos]))) ++pos;
  return pos > column && pos < message.size() && message[pos] == ':';
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto loaded = sqtail::config::loadString(text, kOrigin);
  if (loaded) return 0;
  const std::string& message = loaded.error().message;
  if (message.empty()) {
    std::fprintf(stderr, "config_fuzz: an error without a message\n");
    std::abort();
  }
  // Messages quote values with {:?}, which escapes newlines, so each '\n' starts an error;
  // but a syntax error is the only error and its text is toml++'s.
  if (!namesALine(message)) {
    std::fprintf(stderr, "config_fuzz: an error that names no line:\n%s\n", message.c_str());
    std::abort();
  }
  if (isSyntaxError(message)) return 0;
  std::size_t start = 0;
  while (start <= message.size()) {
    std::size_t end = message.find('\n', start);
    if (end == std::string::npos) end = message.size();
    const std::string_view line(message.data() + start, end - start);
    if (!namesALine(line)) {
      std::fprintf(stderr, "config_fuzz: an error that names no line: '%.*s' in:\n%s\n",
                   static_cast<int>(line.size()), line.data(), message.c_str());
      std::abort();
    }
    start = end + 1;
  }
  return 0;
}
