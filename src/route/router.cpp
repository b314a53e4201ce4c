#include "route/router.hpp"

#include <algorithm>

#include <re2/re2.h>

namespace sqtail::route {

Mask maskOf(const std::vector<std::string>& to, const std::vector<config::FileSinkConfig>& files) {
  Mask mask = 0;
  for (const auto& text : to) {
    auto d = config::parseDestination(text);
    if (!d) continue;
    switch (d->kind) {
      case config::Destination::Kind::kSqlite:
        mask |= bit(kSqliteBit);
        break;
      case config::Destination::Kind::kPostgres:
        mask |= bit(kPostgresBit);
        break;
      case config::Destination::Kind::kStdout:
        mask |= bit(kStdoutBit);
        break;
      case config::Destination::Kind::kFiles:
        for (std::size_t i = 0; i < files.size(); ++i) {
          if (files[i].name == d->name) mask |= bit(kFirstFileBit + static_cast<int>(i));
        }
        break;
    }
  }
  return mask;
}

Router::Router(const config::Config& config)
    : level_priority_(config.routing.level_priority.begin(), config.routing.level_priority.end()),
      default_priority_(config.routing.default_priority) {
  for (const auto& f : config.file_sinks) file_sinks_.push_back(f.name);
  default_to_ = maskOf(config.routing.default_to, config.file_sinks);
  used_ = default_to_;
  for (const auto& route : config.routes) {
    Rule rule;
    rule.to = maskOf(route.to, config.file_sinks);
    rule.cont = route.cont;
    rule.priority = route.priority;
    used_ |= rule.to;
    for (const auto& m : route.match) {
      Condition c{m.field, -1, m.op, m.values, nullptr};
      if (m.field == config::RouteMatch::Field::kPointer) {
        auto it = std::find(pointers_.begin(), pointers_.end(), m.pointer);
        if (it == pointers_.end()) it = pointers_.insert(pointers_.end(), m.pointer);
        c.pointer = static_cast<int>(it - pointers_.begin());
      }
      if (m.op == config::RouteMatch::Op::kRegex) {
        re2::RE2::Options options;
        options.set_log_errors(false);
        c.regex = std::make_shared<re2::RE2>(m.values.front(), options);
      }
      rule.conditions.push_back(std::move(c));
    }
    rules_.push_back(std::move(rule));
  }
}

Router::~Router() = default;
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;

bool Router::holds(const Condition& c, const RecordView& record) {
  std::optional<std::string_view> value;
  switch (c.field) {
    case config::RouteMatch::Field::kLevel:
      value = record.level;
      break;
    case config::RouteMatch::Field::kCategory:
      value = record.category;
      break;
    case config::RouteMatch::Field::kSource:
      value = record.source;
      break;
    case config::RouteMatch::Field::kPointer:
      if (record.fields != nullptr && static_cast<std::size_t>(c.pointer) < record.fields->size()) {
        value = (*record.fields)[static_cast<std::size_t>(c.pointer)];
      }
      break;
  }
  if (!value) return false;  // a missing field matches nothing
  switch (c.op) {
    case config::RouteMatch::Op::kEquals:
      return *value == c.values.front();
    case config::RouteMatch::Op::kOneOf:
      return std::find(c.values.begin(), c.values.end(), *value) != c.values.end();
    case config::RouteMatch::Op::kPrefix:
      return value->substr(0, c.values.front().size()) == c.values.front();
    case config::RouteMatch::Op::kRegex:
      return re2::RE2::PartialMatch(re2::StringPiece(value->data(), value->size()), *c.regex);
  }
  return false;
}

int Router::levelPriority(std::optional<std::string_view> level) const {
  if (level) {
    if (auto it = level_priority_.find(*level); it != level_priority_.end()) return it->second;
  }
  return default_priority_;
}

Decision Router::decide(const RecordView& record, bool list) const {
  Decision d;
  std::optional<int> route_priority;
  bool matched = false;
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    const Rule& rule = rules_[i];
    const bool all = std::all_of(rule.conditions.begin(), rule.conditions.end(),
                                 [&](const Condition& c) { return holds(c, record); });
    if (!all) continue;
    matched = true;
    d.to |= rule.to;
    if (rule.priority) route_priority = std::max(route_priority.value_or(0), *rule.priority);
    if (list) d.routes.push_back(static_cast<int>(i));
    if (!rule.cont) break;
  }
  if (!matched) d.to = default_to_;
  d.priority = route_priority ? *route_priority : levelPriority(record.level);
  return d;
}

std::string Router::destinationName(int b) const {
  switch (b) {
    case kSqliteBit:
      return "sqlite";
    case kPostgresBit:
      return "postgres";
    case kStdoutBit:
      return "stdout";
    default: {
      const auto i = static_cast<std::size_t>(b - kFirstFileBit);
      return i < file_sinks_.size() ? "files:" + file_sinks_[i] : "?";
    }
  }
}

}  // namespace sqtail::route
