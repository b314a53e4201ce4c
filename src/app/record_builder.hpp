// Owns turning one line of a source file into the rows it adds to a batch: the fields, the
// event and where it is routed (with the line sinks' outputs), a reject, a usage entry, and
// the per-minute rollups. The tail thread builds its batches with one; the PostgreSQL writer
// builds its catch-up batches with another. One thread per instance.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"
#include "parse/extractor.hpp"
#include "parse/field_reader.hpp"
#include "parse/stack_category.hpp"
#include "route/router.hpp"
#include "sink/batch.hpp"
#include "sink/files/path_template.hpp"
#include "tail/line_reader.hpp"
#include "usage/usage.hpp"

namespace sqtail::app {

class RecordBuilder {
 public:
  // with_outputs: build the OutputRows of the line sinks (files, stdout); without, a record
  // adds no output. keep: the EventRow::sinks bits an event needs to be added (the tail keeps
  // every routed event, the PostgreSQL catch-up only those routed to PostgreSQL). Path
  // templates were checked when the config was loaded.
  RecordBuilder(const config::Config& config, const usage::Pricing& pricing, bool with_outputs,
                std::uint8_t keep);
  ~RecordBuilder();
  RecordBuilder(const RecordBuilder&) = delete;
  RecordBuilder& operator=(const RecordBuilder&) = delete;

  struct FileRef {
    std::int64_t id;
    int source;  // index into config.sources
    std::string_view path;
  };
  struct Added {
    enum class Kind { kEmpty, kEvent, kReject };
    Kind kind = Kind::kEmpty;
    parse::RejectReason reason{};  // kReject
    bool high_priority = false;    // kEvent: above the default priority
    std::int64_t ts_ms = 0;        // kEvent: its time, or the time it was read without one
  };

  // Adds the line's rows to `batch` (and its bytes to batch.input_bytes); its rollup is held
  // until sealRollups().
  Added add(sink::Batch& batch, const FileRef& file, const tail::LineReader::Line& line);
  // The rollups of the lines added since the last call, into `batch`.
  void sealRollups(sink::Batch& batch);
  // Source i's stack-trace category cache (category_from_stack), or zeros without one.
  parse::StackCategory::Stats stackStats(std::size_t source) const;

 private:
  struct RollupAgg {
    std::int64_t minute;
    int source;
    std::string category, level;
    std::int64_t lines = 0, bytes = 0;
  };
  void route(sink::Batch& batch, std::string_view source, std::string_view text,
             const parse::Fields& fields, sink::EventRow& row, bool& high_priority);
  void addRollup(int source, std::int64_t minute, std::string_view category, std::string_view level,
                 std::int64_t bytes);

  std::vector<std::string> source_names_;
  bool store_raw_;
  bool with_outputs_;
  std::uint8_t keep_;
  std::vector<std::unique_ptr<parse::Extractor>> extractors_;
  std::vector<std::unique_ptr<usage::Extractor>> usage_;  // per source; null: not a usage source
  std::unique_ptr<route::Router> router_;
  std::unique_ptr<parse::FieldReader> fields_;  // the pointers routes and path templates read
  // Per source with category_from_stack: its pointer's reader and the category cache.
  std::vector<std::unique_ptr<parse::FieldReader>> stack_fields_;
  std::vector<std::unique_ptr<parse::StackCategory>> stacks_;
  std::vector<std::unique_ptr<sink::PathTemplate>> templates_;  // per file sink
  std::vector<std::size_t> template_fields_;  // per file sink: its first pointer in fields_
  std::string host_;                          // for {host}
  std::string path_scratch_;
  std::unordered_map<std::string, RollupAgg> rollups_;
  std::string rollup_key_;
};

}  // namespace sqtail::app
