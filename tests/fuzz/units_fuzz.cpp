// libFuzzer target for the duration and size parsers (config::parseDuration, parseSize).
// Built by `meson setup -Dfuzz=true` (clang); run by `scripts/test --fuzz SECONDS`.
// Properties, beyond "no crash, no sanitizer report" (UBSan watches the overflow checks):
//  - an accepted text starts with a digit; a bare number is seconds / bytes;
//  - an accepted value reads back the same when written in the smallest unit;
//  - a rejected text has a message;
//  - the [http] table's own copy of the size parser (obs/http_config.cpp, which cannot link
//    config) agrees with config::parseSize: reached through loadString's lag_threshold.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace {

using sqtail::config::parseDuration;
using sqtail::config::parseSize;

[[noreturn]] void fail(const char* what, std::string_view text) {
  std::fprintf(stderr, "units_fuzz: %s: '%.*s'\n", what, static_cast<int>(text.size()),
               text.data());
  std::abort();
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool allDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!isDigit(c)) return false;
  }
  return true;
}

// The value of a bare number that fits in 64 bits.
bool bareValue(std::string_view s, std::uint64_t& value) {
  if (!allDigits(s)) return false;
  value = 0;
  for (char c : s) {
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return false;
    value = value * 10 + digit;
  }
  return true;
}

void checkDuration(std::string_view text) {
  const auto ms = parseDuration(text);
  if (!ms) {
    if (ms.error().empty()) fail("duration rejected without a message", text);
    return;
  }
  if (text.empty() || !isDigit(text.front())) fail("duration accepted without a number", text);
  if (ms->count() < 0) fail("negative duration", text);
  const auto again = parseDuration(std::to_string(ms->count()) + "ms");
  if (!again || *again != *ms) fail("duration does not read back in ms", text);
  std::uint64_t bare = 0;
  if (bareValue(text, bare) && static_cast<std::uint64_t>(ms->count()) != bare * 1000) {
    fail("a bare duration is not seconds", text);
  }
}

// config::parseSize and the [http] lag_threshold parser must agree (0 aside, which
// lag_threshold refuses as a value, not as a form).
void checkSameAsHttp(std::string_view text, const tl::expected<std::uint64_t, std::string>& size) {
  // Only texts that can be written into a TOML basic string as they are.
  for (char c : text) {
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') return;
  }
  if (size && *size == 0) return;
  std::string toml = "[http]\nlisten = \"127.0.0.1:0\"\nlag_threshold = \"";
  toml += text;
  toml += "\"\n";
  const auto loaded = sqtail::config::loadString(toml, "units.toml");
  if (loaded.has_value() != size.has_value()) {
    fail(
        size ? "config accepts a size that [http] refuses" : "[http] accepts a size config refuses",
        text);
  }
  if (size && (!loaded->http || loaded->http->lag_threshold != *size)) {
    fail("config and [http] read a size differently", text);
  }
}

void checkSize(std::string_view text) {
  const auto size = parseSize(text);
  checkSameAsHttp(text, size);
  if (!size) {
    if (size.error().empty()) fail("size rejected without a message", text);
    return;
  }
  if (text.empty() || !isDigit(text.front())) fail("size accepted without a number", text);
  const auto again = parseSize(std::to_string(*size));
  if (!again || *again != *size) fail("size does not read back in bytes", text);
  std::uint64_t bare = 0;
  if (bareValue(text, bare) && *size != bare) fail("a bare size is not bytes", text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  checkDuration(text);
  checkSize(text);
  return 0;
}
