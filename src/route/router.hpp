// Owns the routing decision: which destinations a record goes to, and its priority, from the
// [[route]] rules in order. Built on the main thread; route() only on the tail thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace re2 {
class RE2;
}

namespace sqtail::route {

// Destinations are bits: sqlite, postgres, stdout, then one per [sink.files.*] in config order.
using Mask = std::uint64_t;
inline constexpr int kSqliteBit = 0;
inline constexpr int kPostgresBit = 1;
inline constexpr int kStdoutBit = 2;
inline constexpr int kFirstFileBit = 3;
inline constexpr Mask bit(int b) { return Mask{1} << b; }

struct RecordView {
  std::optional<std::string_view> level;  // normalized ("warn", "error")
  std::optional<std::string_view> category;
  std::string_view source;
  // Values of Router::pointers(), in that order (parse::FieldReader reads them).
  const std::vector<std::optional<std::string_view>>* fields = nullptr;
};

struct Decision {
  Mask to = 0;
  int priority = 1;
  std::vector<int> routes;  // indexes of the matching routes (explain() only)
};

class Router {
 public:
  // Regexes were checked by the config loader; destinations exist.
  explicit Router(const config::Config& config);
  ~Router();
  Router(Router&&) noexcept;
  Router& operator=(Router&&) noexcept;

  Decision route(const RecordView& record) const { return decide(record, false); }
  // Same, with the routes that matched listed (for `sqtail check`).
  Decision explain(const RecordView& record) const { return decide(record, true); }

  // JSON pointers the conditions read.
  const std::vector<std::string>& pointers() const { return pointers_; }
  // Every destination some record may go to.
  Mask used() const { return used_; }
  // No [[route]]: every record goes to the defaults, at its level's priority.
  bool trivial() const { return rules_.empty(); }
  int defaultPriority() const { return default_priority_; }
  std::string destinationName(int bit) const;

 private:
  struct Condition {
    config::RouteMatch::Field field;
    int pointer = -1;  // index into pointers_
    config::RouteMatch::Op op;
    std::vector<std::string> values;
    std::shared_ptr<re2::RE2> regex;
  };
  struct Rule {
    std::vector<Condition> conditions;
    Mask to = 0;
    bool cont = false;
    std::optional<int> priority;
  };
  Decision decide(const RecordView& record, bool list) const;
  static bool holds(const Condition& c, const RecordView& record);
  int levelPriority(std::optional<std::string_view> level) const;

  std::vector<Rule> rules_;
  Mask default_to_ = 0;
  Mask used_ = 0;
  std::vector<std::string> pointers_;
  std::map<std::string, int, std::less<>> level_priority_;
  int default_priority_ = 1;
  std::vector<std::string> file_sinks_;
};

// The destination bits named by a route's `to` list.
Mask maskOf(const std::vector<std::string>& to, const std::vector<config::FileSinkConfig>& files);

}  // namespace sqtail::route
