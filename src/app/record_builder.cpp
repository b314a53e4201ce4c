#include "app/record_builder.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <span>

#include "sink/files/time_zone.hpp"

namespace sqtail::app {

namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

std::int64_t wallMillis() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

RecordBuilder::RecordBuilder(const config::Config& config, const usage::Pricing& pricing,
                             bool with_outputs, std::uint8_t keep)
    : store_raw_(config.store_raw), with_outputs_(with_outputs), keep_(keep) {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0) host_ = host;
  for (const auto& src : config.sources) {
    source_names_.push_back(src.name);
    extractors_.push_back(std::make_unique<parse::Extractor>(src.fields));
    usage_.push_back(src.usage.empty() ? nullptr : std::make_unique<usage::Extractor>(pricing));
    if (src.category_from_stack.empty()) {
      stack_fields_.push_back(nullptr);
      stacks_.push_back(nullptr);
    } else {
      stack_fields_.push_back(
          std::make_unique<parse::FieldReader>(std::vector<std::string>{src.category_from_stack}));
      stacks_.push_back(std::make_unique<parse::StackCategory>(
          parse::StackCategoryOptions{src.stack_skip, static_cast<std::size_t>(src.stack_cache)}));
    }
  }
  router_ = std::make_unique<route::Router>(config);
  std::vector<std::string> pointers = router_->pointers();
  if (with_outputs_) {
    for (const auto& sink : config.file_sinks) {
      // Checked when the config was loaded (sqtail check, start-up): cannot fail here.
      auto tmpl = sink::PathTemplate::parse(sink.path, *sink::TimeZone::load(sink.timezone));
      template_fields_.push_back(pointers.size());
      pointers.insert(pointers.end(), tmpl->pointers().begin(), tmpl->pointers().end());
      templates_.push_back(std::make_unique<sink::PathTemplate>(std::move(*tmpl)));
    }
  }
  fields_ = std::make_unique<parse::FieldReader>(std::move(pointers));
}

RecordBuilder::~RecordBuilder() = default;

parse::StackCategory::Stats RecordBuilder::stackStats(std::size_t source) const {
  if (source >= stacks_.size() || !stacks_[source]) return {};
  return stacks_[source]->stats();
}

RecordBuilder::Added RecordBuilder::add(sink::Batch& batch, const FileRef& f,
                                        const tail::LineReader::Line& line) {
  Added added;
  auto reject = [&](std::string_view text, parse::RejectReason reason) {
    batch.rejects.push_back(
        sink::RejectRow{f.id, line.offset, line.line_no, parse::reasonName(reason), line.length,
                        batch.put(text.substr(0, tail::LineReader::kSnippetBytes))});
    added.kind = Added::Kind::kReject;
    added.reason = reason;
    return added;
  };
  batch.input_bytes += line.length;
  if (line.too_long) return reject(line.text, parse::RejectReason::kLineTooLong);
  std::string_view text = line.text;
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  if (line.offset == 0 && text.substr(0, kBom.size()) == kBom) text.remove_prefix(kBom.size());
  if (text.find_first_not_of(" \t") == std::string_view::npos) return added;  // kEmpty
  const auto source = static_cast<std::size_t>(f.source);
  auto fields = extractors_[source]->extract(text);
  if (!fields) return reject(text, fields.error());
  if (!fields->category && stacks_[source]) {
    // No category field: the module of the stack's first application frame, if any.
    if (const auto& stack = stack_fields_[source]->read(text).front()) {
      fields->category = stacks_[source]->categoryOf(*stack);
    }
  }
  auto put = [&](const std::optional<std::string_view>& v) {
    return v ? batch.put(*v) : sink::Slice{};
  };
  const std::size_t arena_mark = batch.arena.size();
  const std::size_t outputs_mark = batch.outputs.size();
  sink::EventRow row{f.id,
                     line.offset,
                     line.line_no,
                     fields->ts_ms.value_or(0),
                     fields->ts_ms.has_value(),
                     put(fields->level),
                     put(fields->category),
                     put(fields->message),
                     store_raw_ ? batch.put(text) : sink::Slice{}};
  route(batch, source_names_[source], text, *fields, row, added.high_priority);
  if ((row.sinks & keep_) != 0) {
    batch.events.push_back(row);
  } else if (batch.outputs.size() == outputs_mark) {
    batch.arena.resize(arena_mark);  // nothing refers to the strings just put
  }
  added.kind = Added::Kind::kEvent;
  if (auto& agent = usage_[source]) {
    if (auto e = agent->extract(text, f.path)) {
      batch.usage.push_back(
          sink::UsageRow{f.id, line.offset, e->ts_ms, batch.put(e->dedup_key),
                         batch.put(e->project), batch.put(e->session), batch.put(e->model),
                         e->input, e->output, e->cache_creation_5m, e->cache_creation_1h,
                         e->cache_read, e->total(), e->cost_record, e->cost_calc, e->sidechain});
    }
  }
  added.ts_ms = fields->ts_ms.value_or(wallMillis());
  addRollup(f.source, added.ts_ms / 60000, fields->category.value_or(""),
            fields->level.value_or(""), line.length);
  return added;
}

void RecordBuilder::route(sink::Batch& batch, std::string_view source, std::string_view text,
                          const parse::Fields& fields, sink::EventRow& row, bool& high_priority) {
  const std::vector<std::optional<std::string_view>>* values =
      fields_->empty() ? nullptr : &fields_->read(text);
  const route::Decision decision =
      router_->route(route::RecordView{fields.level, fields.category, source, values});
  row.sinks = static_cast<std::uint8_t>(
      ((decision.to & route::bit(route::kSqliteBit)) != 0 ? sink::kToSqlite : 0) |
      ((decision.to & route::bit(route::kPostgresBit)) != 0 ? sink::kToPostgres : 0));
  high_priority = decision.priority > router_->defaultPriority();
  const route::Mask lines =
      decision.to & ~(route::bit(route::kSqliteBit) | route::bit(route::kPostgresBit));
  if (lines == 0 || !with_outputs_) return;
  // The original line, once, shared by every line sink (and events.raw when kept).
  const sink::Slice original = row.raw.null() ? batch.put(text) : row.raw;
  if ((lines & route::bit(route::kStdoutBit)) != 0) {
    batch.outputs.push_back(sink::OutputRow{sink::OutputRow::kStdout, sink::Slice{}, original});
  }
  for (std::size_t i = 0; i < templates_.size(); ++i) {
    if ((lines & route::bit(route::kFirstFileBit + static_cast<int>(i))) == 0) continue;
    const auto& tmpl = *templates_[i];
    std::span<const std::optional<std::string_view>> own;
    if (values != nullptr && !tmpl.pointers().empty()) {
      own = std::span(*values).subspan(template_fields_[i], tmpl.pointers().size());
    }
    path_scratch_.clear();
    tmpl.render(
        sink::PathTemplate::Values{fields.ts_ms, wallMillis(), source, host_,
                                   fields.level.value_or(""), fields.category.value_or(""), own},
        path_scratch_);
    batch.outputs.push_back(
        sink::OutputRow{static_cast<std::uint16_t>(i), batch.put(path_scratch_), original});
  }
}

void RecordBuilder::addRollup(int source, std::int64_t minute, std::string_view category,
                              std::string_view level, std::int64_t bytes) {
  // One reusable key buffer: no allocation per line once the groups are known.
  rollup_key_.clear();
  rollup_key_.append(reinterpret_cast<const char*>(&minute), sizeof minute);
  rollup_key_.append(reinterpret_cast<const char*>(&source), sizeof source);
  rollup_key_.append(category);
  rollup_key_ += '\0';
  rollup_key_.append(level);
  auto it = rollups_.find(rollup_key_);
  if (it == rollups_.end()) {
    it = rollups_
             .emplace(rollup_key_,
                      RollupAgg{minute, source, std::string(category), std::string(level)})
             .first;
  }
  it->second.lines++;
  it->second.bytes += bytes;
}

void RecordBuilder::sealRollups(sink::Batch& batch) {
  for (auto& [key, agg] : rollups_) {
    batch.rollups.push_back(sink::RollupRow{agg.minute,
                                            source_names_[static_cast<std::size_t>(agg.source)],
                                            agg.category, agg.level, agg.lines, agg.bytes});
  }
  rollups_.clear();
}

}  // namespace sqtail::app
