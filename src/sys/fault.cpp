#include "sys/fault.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace sqtail::sys::fault {

namespace {

constexpr std::array<std::pair<Op, std::string_view>, 12> kOpNames = {{
    {Op::kOpen, "open"},
    {Op::kRead, "read"},
    {Op::kWrite, "write"},
    {Op::kFsync, "fsync"},
    {Op::kTruncate, "truncate"},
    {Op::kStat, "stat"},
    {Op::kOpendir, "opendir"},
    {Op::kUnlink, "unlink"},
    {Op::kInotifyAddWatch, "inotify_add_watch"},
    {Op::kSqliteWrite, "sqlite_write"},
    {Op::kSqliteSync, "sqlite_sync"},
    {Op::kAny, "*"},
}};

bool isSqlite(Op op) { return op == Op::kSqliteWrite || op == Op::kSqliteSync; }

// An errno value by its name (glibc knows every name: strerrorname_np), or 0.
int errnoByName(std::string_view name) {
  for (int e = 1; e < 256; ++e) {
    const char* known = strerrorname_np(e);
    if (known != nullptr && name == known) return e;
  }
  return 0;
}

bool parseCount(std::string_view text, std::uint64_t& out) {
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end && !text.empty();
}

bool parseProbability(std::string_view text, double& out) {
  if (text.empty()) return false;
  const std::string copy(text);  // strtod wants a terminated string; from_chars(double) is GCC 11+
  char* end = nullptr;
  out = std::strtod(copy.c_str(), &end);
  return end == copy.c_str() + copy.size() && out >= 0 && out <= 1;
}

tl::expected<Rule, std::string> parseRule(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return tl::unexpected(std::string("rule '") + std::string(text) + "': " + std::string(why));
  };
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const std::size_t colon = text.find(':', start);
    parts.push_back(text.substr(start, colon == std::string_view::npos ? colon : colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  if (parts.size() < 2) return bad("expected OP:EFFECT[:OPTION]...");
  Rule rule;
  const auto op = std::find_if(kOpNames.begin(), kOpNames.end(),
                               [&](const auto& named) { return named.second == parts[0]; });
  if (op == kOpNames.end()) return bad("unknown op '" + std::string(parts[0]) + "'");
  rule.op = op->first;
  if (parts[1] == "short") {
    if (rule.op != Op::kRead && rule.op != Op::kWrite && rule.op != Op::kAny) {
      return bad("'short' applies to read and write only");
    }
    rule.effect = kShort;
  } else {
    rule.effect = errnoByName(parts[1]);
    if (rule.effect == 0) return bad("unknown effect '" + std::string(parts[1]) + "'");
    if (isSqlite(rule.op) && rule.effect == EINTR) {
      return bad("SQLite retries EINTR itself: not an effect for sqlite_ ops");
    }
  }
  for (std::size_t i = 2; i < parts.size(); ++i) {
    const std::string_view opt = parts[i];
    const std::size_t eq = opt.find('=');
    const std::string_view key = opt.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? "" : opt.substr(eq + 1);
    if (eq == std::string_view::npos) return bad("option '" + std::string(opt) + "' needs a value");
    if (key == "after") {
      if (!parseCount(value, rule.after)) return bad("after= wants a whole number");
    } else if (key == "count") {
      if (!parseCount(value, rule.count)) return bad("count= wants a whole number");
    } else if (key == "p") {
      if (!parseProbability(value, rule.p)) return bad("p= wants a number from 0 to 1");
    } else if (key == "path") {
      if (value.empty()) return bad("path= wants a non-empty string");
      rule.path = value;
    } else {
      return bad("unknown option '" + std::string(key) + "' (after, count, p, path)");
    }
  }
  return rule;
}

// The active rules and their counters. A fixed array: check() never sees it move.
struct Armed {
  Rule rule;
  std::atomic<std::uint64_t> seen{0};   // calls matched, for after= and p=
  std::atomic<std::uint64_t> fired{0};  // calls failed, for count=
};
constexpr std::size_t kMaxRules = 32;
std::array<Armed, kMaxRules> g_rules;
std::size_t g_rule_count = 0;
bool g_wants_sqlite = false;
std::atomic<std::uint64_t> g_injected{0};

// A uniform draw in [0, 1) from the rule and the call's number (splitmix64).
double draw(std::size_t rule, std::uint64_t n) {
  std::uint64_t z = (n + 1) * 0x9e3779b97f4a7c15ull + rule * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

std::string fdPath(int fd) {
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char target[4096];
  const ssize_t n = ::readlink(link, target, sizeof target);
  return n > 0 ? std::string(target, static_cast<std::size_t>(n)) : std::string();
}

// SQTAIL_FAULTS, before main: the rules are in place before any thread makes a call.
[[maybe_unused]] const bool kFromEnvironment = [] {
  const char* spec = std::getenv("SQTAIL_FAULTS");  // NOLINT(concurrency-mt-unsafe): before main
  if (spec == nullptr || *spec == '\0') return false;
  if (auto r = configure(spec); !r) {
    std::fprintf(stderr, "sqtail: SQTAIL_FAULTS: %s\n", r.error().c_str());
    std::_Exit(2);
  }
  std::fprintf(stderr, "sqtail: SQTAIL_FAULTS is set: injecting faults (%s)\n", spec);
  return true;
}();

}  // namespace

std::atomic<bool> detail::active{false};

std::string_view opName(Op op) {
  for (const auto& [named, name] : kOpNames) {
    if (named == op) return name;
  }
  return "?";
}

tl::expected<std::vector<Rule>, std::string> parse(std::string_view spec) {
  std::vector<Rule> rules;
  for (std::size_t start = 0; start <= spec.size();) {
    std::size_t comma = spec.find(',', start);
    if (comma == std::string_view::npos) comma = spec.size();
    const std::string_view text = spec.substr(start, comma - start);
    if (!text.empty()) {
      auto rule = parseRule(text);
      if (!rule) return tl::unexpected(rule.error());
      rules.push_back(std::move(*rule));
    }
    start = comma + 1;
  }
  if (rules.size() > kMaxRules) {
    return tl::unexpected("more than " + std::to_string(kMaxRules) + " rules");
  }
  return rules;
}

tl::expected<void, std::string> configure(std::string_view spec) {
  auto rules = parse(spec);
  if (!rules) return tl::unexpected(rules.error());
  detail::active.store(false, std::memory_order_relaxed);
  g_wants_sqlite = false;
  for (std::size_t i = 0; i < rules->size(); ++i) {
    g_rules[i].rule = (*rules)[i];
    g_rules[i].seen.store(0, std::memory_order_relaxed);
    g_rules[i].fired.store(0, std::memory_order_relaxed);
    g_wants_sqlite = g_wants_sqlite || isSqlite((*rules)[i].op);
  }
  g_rule_count = rules->size();
  g_injected.store(0, std::memory_order_relaxed);
  detail::active.store(g_rule_count > 0, std::memory_order_release);
  return {};
}

void reset() { [[maybe_unused]] auto r = configure(""); }

bool wantsSqlite() { return g_wants_sqlite; }

std::uint64_t injected() { return g_injected.load(std::memory_order_relaxed); }

int detail::decide(Op op, const char* path, int fd) {
  std::string fd_path;
  bool fd_path_known = false;
  for (std::size_t i = 0; i < g_rule_count; ++i) {
    Armed& armed = g_rules[i];
    const Rule& rule = armed.rule;
    if (rule.op == Op::kAny ? isSqlite(op) : rule.op != op) continue;
    if (rule.effect == kShort && op != Op::kRead && op != Op::kWrite) continue;
    if (!rule.path.empty()) {
      if (path == nullptr && fd >= 0 && !fd_path_known) {
        fd_path = fdPath(fd);
        fd_path_known = true;
      }
      const std::string_view where = path != nullptr ? std::string_view(path) : fd_path;
      if (where.find(rule.path) == std::string_view::npos) continue;
    }
    const std::uint64_t n = armed.seen.fetch_add(1, std::memory_order_relaxed);
    if (n < rule.after) continue;
    if (rule.p < 1 && draw(i, n) >= rule.p) continue;
    if (armed.fired.fetch_add(1, std::memory_order_relaxed) >= rule.count) continue;
    g_injected.fetch_add(1, std::memory_order_relaxed);
    return rule.effect;
  }
  return 0;
}

}  // namespace sqtail::sys::fault
