#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <ctime>
#include <iostream>

#include <fmt/core.h>

#include "cli/command.hpp"
#include "config/config.hpp"
#include "parse/extractor.hpp"

namespace sqtail::cli {

std::int64_t nowMillis() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// "15m" (ago), or an RFC 3339 timestamp, to epoch ms.
tl::expected<std::int64_t, std::string> parseWhen(const std::string& text) {
  if (auto ts = parse::parseRfc3339(text)) return *ts;
  if (auto d = config::parseDuration(text)) return nowMillis() - d->count();
  return tl::unexpected(fmt::format(
      "'{}' is neither a duration (15m, 24h, 7d) nor a timestamp (2026-11-22T10:00:00Z)", text));
}

// A missing file is refused rather than created.
std::optional<SQLite::Database> openReadOnly(const std::string& db) {
  struct stat st {};
  if (::stat(db.c_str(), &st) != 0) {
    fmt::print(stderr, "sqtail: no database at '{}' (run `sqtail run --db {} ...` first)\n", db,
               db);
    return std::nullopt;
  }
  try {
    SQLite::Database conn(db, SQLite::OPEN_READONLY);
    conn.setBusyTimeout(5000);
    return conn;
  } catch (const SQLite::Exception& e) {
    fmt::print(stderr, "sqtail: cannot open '{}': {}\n", db, e.what());
    return std::nullopt;
  }
}

std::string isoMillis(std::int64_t ms) {
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int withFormat(const std::string& text, const std::function<int(Format)>& body) {
  auto format = parseFormat(text);
  if (!format) {
    fmt::print(stderr, "sqtail: {}\n", format.error());
    return 2;
  }
  return body(*format);
}

}  // namespace sqtail::cli
