// Owns the Claude Code usage rules: which JSONL lines are usage entries, their dedup key and
// cost, and the SQL behind `sqtail usage`. Extractor: one per tail thread; the rest: any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

namespace sqtail::usage {

// ---- Pricing ----------------------------------------------------------------------------

// US dollars per million tokens, one price per token category.
struct Rates {
  double input = 0;
  double output = 0;
  double cache_write_5m = 0;
  double cache_write_1h = 0;
  double cache_read = 0;

  friend bool operator==(const Rates&, const Rates&) = default;
};

// Tokens of one category in one entry beyond this are charged at ModelPrice::above_threshold
// (ccusage: strictly more than 200,000; the first 200,000 stay at the base rate).
inline constexpr std::int64_t kTierThreshold = 200'000;

struct ModelPrice {
  Rates base;
  std::optional<Rates> above_threshold;  // none: every token at the base rate
  double fast_multiplier = 1;            // the whole entry's cost, when usage.speed == "fast"

  friend bool operator==(const ModelPrice&, const ModelPrice&) = default;
};

struct Pricing {
  std::map<std::string, ModelPrice, std::less<>> models;  // by model id ("claude-...")

  // The exact id, then "claude-" + id, then the shortest id that contains `model` or is
  // contained in it (ccusage's fuzzy match, made deterministic). nullptr: unknown, costs 0.
  const ModelPrice* find(std::string_view model) const;

  friend bool operator==(const Pricing&, const Pricing&) = default;
};

// conf/pricing.toml. Unknown keys, wrong types and negative prices are errors naming the line.
tl::expected<Pricing, std::string> loadPricing(const std::filesystem::path& file);
tl::expected<Pricing, std::string> loadPricingString(std::string_view toml,
                                                     std::string_view origin);
// The same table as conf/pricing.toml, compiled in (a unit test keeps the two equal).
Pricing builtinPricing();

// ---- Entries ----------------------------------------------------------------------------

struct Entry {
  // "mid:<message.id>:<requestId>", "mids:<message.id>:<session>:<timestamp>" (the record's
  // sessionId, else the file's session), or "" (no dedup: kUsageUpsert then keys the row by
  // file and offset).
  std::string dedup_key;
  std::int64_t ts_ms = 0;  // the record's "timestamp"
  std::string project;     // first directory under projects/
  std::string session;     // the session file's name (the parent session for subagent files)
  std::string model;       // "-fast" appended for fast mode; "" for <synthetic> or missing
  std::int64_t input = 0, output = 0, cache_creation_5m = 0, cache_creation_1h = 0, cache_read = 0;
  std::optional<double> cost_record;  // the record's costUSD
  double cost_calc = 0;               // from the pricing table; 0 for unknown models
  bool sidechain = false;

  // What decides between two copies of one entry (after sidechain).
  std::int64_t total() const {
    return input + output + cache_creation_5m + cache_creation_1h + cache_read;
  }
};

// Cost of `entry`'s tokens priced as `model` (the id without "-fast"); `fast` applies the
// model's fast_multiplier. 0 when the model is not in the table.
double cost(const Pricing& pricing, std::string_view model, const Entry& entry, bool fast = false);

class Extractor {
 public:
  explicit Extractor(Pricing pricing);
  ~Extractor();
  Extractor(const Extractor&) = delete;
  Extractor& operator=(const Extractor&) = delete;

  // nullopt when the line is no usage entry (no message.usage, a field of the wrong type,
  // no valid timestamp, not JSON). `line` excludes the newline and has kPadding (64) readable
  // bytes after it, like parse::Extractor. `path` is the file's path (project and session).
  std::optional<Entry> extract(std::string_view line, std::string_view path);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Project and session from a transcript path: ".../projects/<project>/<session>.jsonl" or
// ".../projects/<project>/<session>/subagents/<agent>.jsonl". The last "projects" directory
// counts, so a home under ~/projects does not shift it; "unknown" when there is none.
struct PathParts {
  std::string project;
  std::string session;
};
PathParts splitPath(std::string_view path);

// ---- The `sqtail usage` report ------------------------------------------------------------

enum class Group { kDay, kWeek, kMonth, kSession, kProject, kModel };
enum class CostMode {
  kAuto,       // costUSD when the record has it, else calculated
  kCalculate,  // always calculated from tokens
  kDisplay,    // costUSD only (0 without)
};

tl::expected<Group, std::string> parseGroup(std::string_view text);
std::string_view groupName(Group group);
tl::expected<CostMode, std::string> parseCostMode(std::string_view text);

struct ReportSpec {
  std::vector<Group> by;
  CostMode mode = CostMode::kAuto;
};

// One SELECT over the usage table: the group columns (named as groupName()), then
// input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, total_tokens, cost_usd.
// ?1 and ?2 bound the ts range [since, until). Days, weeks (starting on Sunday, as ccusage) and
// months are local dates in the process's time zone (see useTimezone). Grouped by model, the
// entries without a model are left out of the rows (as ccusage does); totalsSql still counts
// them. Time columns sort ascending, then cost descending.
std::string reportSql(const ReportSpec& spec);
// The same sums over every entry in [?1, ?2), as one row without group columns.
std::string totalsSql(const ReportSpec& spec);

// Makes local time (localtime_r, and so SQLite's 'localtime') the IANA zone `name` for this
// process; "" or "local" keeps the system's. Checked against the tz database, because glibc
// silently falls back to UTC for a name it does not know. Process-wide: call before any thread.
tl::expected<void, std::string> useTimezone(std::string_view name);

// "2026-01-15" or "20260115": the start of that local day (or of the day `days_after` later),
// in epoch milliseconds; nullopt for anything else.
std::optional<std::int64_t> localDayStart(std::string_view date, int days_after = 0);

inline constexpr std::int64_t kNoLimit = std::numeric_limits<std::int64_t>::max();

}  // namespace sqtail::usage
