// Micro-benchmark of parse::Extractor on realistic JSONL lines, one core.
// Build (from the repository root):
//   g++ -std=c++20 -O2 -Isrc scripts/bench/parse_bench.cpp src/parse/extractor.cpp
//       -lsimdjson -o /tmp/parse_bench && /tmp/parse_bench [lines] [rounds]
// Prints lines/s and MB/s for the best of a few rounds over the same in-memory buffer, the
// way the tail thread sees lines: back to back in one read buffer, each followed by the next.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "parse/extractor.hpp"

namespace {

using sqtail::parse::Extractor;

constexpr const char* kLevels[] = {"info", "INFO", "debug", "warn", "WARNING", "error", "trace"};
constexpr const char* kLoggers[] = {"http.server", "db.pool",     "auth",   "scheduler",
                                    "cache.redis", "agent.tools", "billing"};
constexpr const char* kWords[] = {
    "request", "completed",      "user",       "session",        "token",   "refresh", "timeout",
    "retry",   "cache",          "miss",       "upstream",       "latency", "queued",  "flushed",
    "rows",    "\\\"quoted\\\"", "caf\\u00e9", "path=/v1/items", "ok"};
constexpr const char* kMethods[] = {"GET", "POST", "PUT", "DELETE"};

std::string makeLine(std::mt19937_64& rng, std::size_t index) {
  std::uniform_int_distribution<int> pick(0, 1 << 20);
  const auto any = [&](const auto& table) {
    return table[static_cast<std::size_t>(pick(rng)) % std::size(table)];
  };
  char ts[40];
  const int ms = pick(rng) % 1000;
  const int sec = static_cast<int>(index / 1000 % 60);
  const int min = static_cast<int>(index / 60000 % 60);
  std::snprintf(ts, sizeof ts, "2026-11-22T10:%02d:%02d.%03dZ", min, sec, ms);

  std::string line;
  line.reserve(420);
  line += R"({"ts":")";
  line += ts;
  line += R"(","level":")";
  line += any(kLevels);
  line += R"(","logger":")";
  line += any(kLoggers);
  line += R"(","msg":")";
  const std::size_t message_at = line.size();
  line += R"(","pid":)" + std::to_string(1000 + pick(rng) % 30000);
  line += R"(,"host":"node-)" + std::to_string(pick(rng) % 64) + R"(.cluster.local")";
  line += R"(,"req":{"method":")";
  line += any(kMethods);
  line += R"(","path":"/api/v1/items/)" + std::to_string(pick(rng)) + R"(","status":)";
  line += std::to_string(200 + 100 * (pick(rng) % 4));
  line += R"(,"duration_ms":)" + std::to_string(pick(rng) % 5000) + "." +
          std::to_string(pick(rng) % 1000);
  line += R"(,"headers":{"x-request-id":")" + std::to_string(pick(rng)) + R"("}})";
  if (pick(rng) % 2) {
    line += R"(,"tags":["svc","v)" + std::to_string(pick(rng) % 9) + R"(",null,true])";
  }
  if (pick(rng) % 2) {
    line += R"(,"usage":{"input_tokens":)" + std::to_string(pick(rng) % 100000) +
            R"(,"output_tokens":)" + std::to_string(pick(rng) % 4000) + "}";
  }
  line += "}";

  // Fill the message with words until the line has its drawn length (250-400 bytes).
  const std::size_t target = 250 + static_cast<std::size_t>(pick(rng)) % 151;
  std::string message;
  while (line.size() + message.size() < target) {
    const std::string_view word = any(kWords);
    if (line.size() + message.size() + word.size() + 1 > target) {
      message.append(target - line.size() - message.size(), '.');
      break;
    }
    if (!message.empty()) message += ' ';
    message += word;
  }
  line.insert(message_at, message);
  return line;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t count = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 5;

  std::mt19937_64 rng(7);
  std::string buffer;
  std::vector<std::pair<std::size_t, std::size_t>> lines;  // offset, length
  lines.reserve(count);
  std::size_t shortest = SIZE_MAX;
  std::size_t longest = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const std::string line = makeLine(rng, i);
    if (i == 0) std::printf("sample: %s\n", line.c_str());
    shortest = std::min(shortest, line.size());
    longest = std::max(longest, line.size());
    lines.emplace_back(buffer.size(), line.size());
    buffer += line;
    buffer += '\n';
  }
  buffer.append(sqtail::parse::kPadding, ' ');
  const double megabytes = static_cast<double>(buffer.size()) / 1e6;

  Extractor extractor{sqtail::config::FieldMap{}};
  double best_seconds = 1e30;
  std::size_t accepted = 0;
  std::uint64_t checksum = 0;
  for (int round = 0; round < rounds; ++round) {
    accepted = 0;
    checksum = 0;
    const auto start = std::chrono::steady_clock::now();
    for (const auto& [offset, length] : lines) {
      const auto fields = extractor.extract(std::string_view(buffer.data() + offset, length));
      if (!fields) continue;
      ++accepted;
      checksum += static_cast<std::uint64_t>(fields->ts_ms.value_or(0)) +
                  fields->level.value_or("").size() + fields->message.value_or("").size();
    }
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    best_seconds = std::min(best_seconds, elapsed.count());
  }

  std::printf("lines: %zu (%zu-%zu bytes, %.1f MB), accepted %zu, checksum %llu\n", lines.size(),
              shortest, longest, megabytes, accepted, static_cast<unsigned long long>(checksum));
  std::printf("best of %d: %.3f s, %.2f M lines/s, %.0f MB/s\n", rounds, best_seconds,
              static_cast<double>(lines.size()) / best_seconds / 1e6, megabytes / best_seconds);
  return accepted == lines.size() ? 0 : 1;
}
